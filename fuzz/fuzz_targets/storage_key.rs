#![no_main]
// The body and its invariants live in tests/fuzz (attach_fuzz::host::storage_key), replayed on stable.
libfuzzer_sys::fuzz_target!(|data: &[u8]| attach_fuzz::host::storage_key(data));
