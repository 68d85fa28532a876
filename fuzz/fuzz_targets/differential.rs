#![no_main]
// The body and its invariants live in tests/fuzz (attach_fuzz::sandbox::differential), replayed on stable.
// The guests load before the first input, outside its time limit.
libfuzzer_sys::fuzz_target!(init: attach_fuzz::sandbox::warm_up(), |data: &[u8]| {
    attach_fuzz::sandbox::differential(data)
});
