//! The guests' clock: the released thumbnail guest times nothing, even given a moving clock
//! (every clock read would be a host call whose fuel depends on the machine); the benchmark's
//! build of it (feature `steps`, among the test guests) reports its steps on stderr when the
//! `test-hooks` clock moves, which the hook hands back, and nothing under the frozen clock.

mod common;

use attach_fixtures as fx;
use attachd::config::{GuestPaths, SandboxLimits};
use attachd::sandbox::{Sandbox, TestHooks};
use attachd::variant;
use std::sync::{Arc, Mutex};

/// What each guest call wrote to stderr, as (guest, text).
type Said = Arc<Mutex<Vec<(String, String)>>>;

/// The released guests, or the benchmark's set (its thumbnail built with the `steps` feature).
enum Guests {
    Released,
    Steps,
}

/// A sandbox on `guests` whose every non-empty guest stderr lands in the returned list, with
/// the monotonic clock real or frozen.
fn sandbox_keeping_stderr(guests: Guests, real_clock: bool) -> (Sandbox, Said) {
    let said: Said = Arc::default();
    let paths = match guests {
        Guests::Released => common::paths(),
        Guests::Steps => GuestPaths {
            trust: common::test_guest_trust(),
            ..common::paths_in(common::guest_dir().join("test/steps"))
        },
    };
    let mut sandbox = Sandbox::load(&paths, SandboxLimits::default()).expect("load guests");
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

fn steps_lines(said: &Said) -> Vec<String> {
    said.lock()
        .unwrap()
        .iter()
        .filter(|(guest, _)| guest == "thumbnail")
        .flat_map(|(_, text)| text.lines().map(str::to_string).collect::<Vec<_>>())
        .filter(|l| l.starts_with("steps: "))
        .collect()
}

#[test]
fn the_released_thumbnail_guest_times_nothing_even_with_a_moving_clock() {
    let (sandbox, said) = sandbox_keeping_stderr(Guests::Released, true);
    render_defaults(&sandbox);
    assert!(steps_lines(&said).is_empty(), "{:?}", said.lock().unwrap());
}

#[test]
fn under_the_frozen_clock_of_production_even_the_steps_build_writes_nothing() {
    let (sandbox, said) = sandbox_keeping_stderr(Guests::Steps, false);
    render_defaults(&sandbox);
    assert!(steps_lines(&said).is_empty(), "{:?}", said.lock().unwrap());
}

#[test]
fn with_the_test_hooks_clock_the_steps_build_reports_its_steps_on_stderr() {
    let (sandbox, said) = sandbox_keeping_stderr(Guests::Steps, true);
    render_defaults(&sandbox);
    let lines = steps_lines(&said);
    assert_eq!(lines.len(), 1, "one steps line per render: {lines:?}");
    // Decoding 2 MP takes milliseconds: a clock that moved shows it.
    let decode = lines[0]
        .split_whitespace()
        .find_map(|p| p.strip_prefix("decode="))
        .and_then(|v| v.strip_suffix("ms"))
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no decode time in {:?}", lines[0]));
    assert!(decode > 0.0, "{:?}", lines[0]);
}
