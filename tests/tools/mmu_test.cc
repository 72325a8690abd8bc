// PLACEHOLDER: replaced by the mmu tests.
