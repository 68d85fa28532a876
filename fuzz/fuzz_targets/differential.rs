#![no_main]
// The body and its invariants live in tests/fuzz (attach_fuzz::sandbox::differential), replayed on stable.
libfuzzer_sys::fuzz_target!(|data: &[u8]| attach_fuzz::sandbox::differential(data));
