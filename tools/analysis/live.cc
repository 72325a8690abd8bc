// PLACEHOLDER: replaced by the live analysis.
