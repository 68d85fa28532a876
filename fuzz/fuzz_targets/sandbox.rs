#![no_main]
// The body and its invariants live in tests/fuzz (attach_fuzz::sandbox::pipeline), replayed on stable.
libfuzzer_sys::fuzz_target!(|data: &[u8]| attach_fuzz::sandbox::pipeline(data));
