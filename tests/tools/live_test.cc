// PLACEHOLDER: replaced by the live tests.
