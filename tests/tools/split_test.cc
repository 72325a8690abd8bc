// PLACEHOLDER: replaced by the split tests.
