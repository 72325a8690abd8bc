// PLACEHOLDER: replaced by the split analysis.
