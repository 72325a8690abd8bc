// PLACEHOLDER: replaced by the mmu analysis.
