//! The guests' clock: frozen in the sandbox as attachd runs it, so the thumbnail guest times
//! nothing and writes nothing; moving only when a test or benchmark build turns on the
//! `test-hooks` clock, and then the guest reports its steps on stderr, which the hook hands back.

mod common;

use attach_fixtures as fx;
use attachd::config::SandboxLimits;
use attachd::sandbox::{Sandbox, TestHooks};
use attachd::variant;
use std::sync::{Arc, Mutex};

/// What each guest call wrote to stderr, as (guest, text).
type Said = Arc<Mutex<Vec<(String, String)>>>;

/// A sandbox on the real guests whose every non-empty guest stderr lands in the returned list,
/// with the monotonic clock real or frozen.
fn sandbox_keeping_stderr(real_clock: bool) -> (Sandbox, Said) {
    let said: Said = Arc::default();
    let mut sandbox =
        Sandbox::load(&common::paths(), SandboxLimits::default()).expect("load guests");
    let sink = said.clone();
    sandbox.set_test_hooks(TestHooks {
        real_monotonic_clock: real_clock,
        stderr: Some(Arc::new(move |guest: &'static str, bytes: &[u8]| {
            sink.lock().unwrap().push((
                guest.to_string(),
                String::from_utf8_lossy(bytes).into_owned(),
            ));
        })),
    });
    (sandbox, said)
}

/// Renders the default variants of a 2 MP photo: enough decoding for a moving clock to show.
fn render_defaults(sandbox: &Sandbox) {
    let jpeg = fx::jpeg(&fx::photo(1600, 1200, 7), 90);
    let (thumbs, _) = sandbox
        .thumbnail(
            &jpeg,
            &variant::defaults(),
            common::roomy_limits(),
            1600 * 1200,
        )
        .expect("the call succeeds");
    assert_eq!(thumbs.expect("the photo renders").variants.len(), 2);
}

#[test]
fn with_the_frozen_clock_of_production_the_thumbnail_guest_writes_no_steps() {
    let (sandbox, said) = sandbox_keeping_stderr(false);
    render_defaults(&sandbox);
    let said = said.lock().unwrap();
    assert!(
        !said.iter().any(|(_, text)| text.contains("steps:")),
        "a guest saw its clock move: {said:?}"
    );
}

#[test]
fn with_the_test_hooks_clock_the_thumbnail_guest_reports_its_steps_on_stderr() {
    let (sandbox, said) = sandbox_keeping_stderr(true);
    render_defaults(&sandbox);
    let said = said.lock().unwrap();
    let lines: Vec<&str> = said
        .iter()
        .filter(|(guest, _)| guest == "thumbnail")
        .flat_map(|(_, text)| text.lines())
        .filter(|l| l.starts_with("steps: "))
        .collect();
    assert_eq!(lines.len(), 1, "one steps line per render: {said:?}");
    // Decoding 2 MP takes milliseconds: a clock that moved shows it.
    let decode = lines[0]
        .split_whitespace()
        .find_map(|p| p.strip_prefix("decode="))
        .and_then(|v| v.strip_suffix("ms"))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no decode time in {:?}", lines[0]));
    assert!(decode > 0.0, "{:?}", lines[0]);
}
