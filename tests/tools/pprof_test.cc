// PLACEHOLDER: replaced by the pprof tests.
