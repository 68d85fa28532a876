//! The sandbox's limits hold against a guest that misbehaves on purpose
//! (tests/hostile-guest), each with its own error code, and the host carries on afterwards.

mod common;

use attachd::config::{GuestPaths, SandboxLimits};
use attachd::error::{Class, ErrorCode};
use attachd::sandbox::{Limits, Sandbox, SandboxError};
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const HOSTILE_DEADLINE: Duration = Duration::from_millis(500);
const HOSTILE_MEMORY: u64 = 64 * 1024 * 1024;

fn limits() -> Limits {
    Limits {
        max_pixels: 50_000_000,
        max_frames: 1000,
        max_total_frame_area: 200_000_000,
        max_output_bytes: 1024 * 1024,
    }
}

/// A guest directory holding the real probe and scan guests and the hostile guest in place
/// of the thumbnail guest.
fn hostile_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let real = common::guest_dir();
        for f in ["probe.json", "probe.wasm", "scan.json", "scan.wasm"] {
            std::fs::copy(real.join(f), dir.path().join(f)).unwrap();
        }
        for f in ["thumbnail.json", "thumbnail.wasm"] {
            std::fs::copy(real.join("test/hostile").join(f), dir.path().join(f)).unwrap();
        }
        dir
    })
    .path()
}

fn hostile_sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| {
        let paths = GuestPaths {
            dir: hostile_dir().to_path_buf(),
            cache_dir: Some(common::cache_dir()),
        };
        let limits = SandboxLimits {
            memory_bytes: HOSTILE_MEMORY,
            deadline: HOSTILE_DEADLINE,
            ..SandboxLimits::default()
        };
        Sandbox::load(&paths, limits).expect("load the hostile guest")
    })
}

fn hostile(input: &[u8]) -> SandboxError {
    match hostile_sandbox().thumbnail(input, &[], limits()) {
        Ok(_) => panic!(
            "{:?} should have been stopped",
            String::from_utf8_lossy(input)
        ),
        Err(e) => e,
    }
}

fn assert_echo_still_works() {
    let (out, _) = hostile_sandbox()
        .thumbnail(b"hello", &[], limits())
        .expect("a well-behaved call after a hostile one succeeds");
    assert_eq!(out.unwrap().variants[0].data, b"hello");
}

#[test]
fn endless_loop_is_stopped_at_the_deadline_with_guest_timeout() {
    let t = Instant::now();
    let e = hostile(b"spin");
    assert_eq!(e.code(), "guest-timeout", "{e}");
    assert_eq!(e.class(), Class::Permanent);
    // Stopped near the deadline, not long after it (generous bound: a loaded CI machine).
    assert!(
        t.elapsed() < HOSTILE_DEADLINE * 10,
        "took {:?}",
        t.elapsed()
    );
    assert_echo_still_works();
}

#[test]
fn unbounded_allocation_is_stopped_with_guest_memory_limit() {
    let e = hostile(b"alloc");
    assert_eq!(e.code(), "guest-memory-limit", "{e}");
    assert_echo_still_works();
}

#[test]
fn unbounded_recursion_is_stopped_with_guest_stack_overflow() {
    let e = hostile(b"recurse");
    assert_eq!(e.code(), "guest-stack-overflow", "{e}");
    assert_echo_still_works();
}

#[test]
fn oversized_output_is_refused_with_output_too_large() {
    let e = hostile(format!("big-output:{}", 4 * 1024 * 1024).as_bytes());
    assert_eq!(e.code(), "output-too-large", "{e}");
    assert_echo_still_works();
}

#[test]
fn guest_panic_is_a_guest_trap_with_its_message() {
    let e = hostile(b"panic");
    assert_eq!(e.code(), "guest-trap", "{e}");
    assert!(
        e.to_string().contains("hostile guest panics on purpose"),
        "{e}"
    );
    assert_echo_still_works();
}

#[test]
fn real_pipeline_works_after_hostile_calls_in_the_same_process() {
    let _ = hostile(b"spin");
    let _ = hostile(b"alloc");
    let jpeg = attach_fixtures::jpeg(&attach_fixtures::photo(320, 240, 7), 85);
    let outcome = common::pipeline().run(&jpeg, "image/jpeg", &attachd::variant::defaults());
    let thumbs = outcome.result.expect("a real upload is processed normally");
    assert_eq!(thumbs.variants.len(), 2);
}

#[test]
fn guest_whose_digest_does_not_match_its_manifest_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let real = common::guest_dir();
    for f in [
        "probe.json",
        "scan.json",
        "scan.wasm",
        "thumbnail.json",
        "thumbnail.wasm",
    ] {
        std::fs::copy(real.join(f), dir.path().join(f)).unwrap();
    }
    let mut wasm = std::fs::read(real.join("probe.wasm")).unwrap();
    let last = wasm.len() - 1;
    wasm[last] ^= 0xFF;
    std::fs::write(dir.path().join("probe.wasm"), wasm).unwrap();
    let paths = GuestPaths {
        dir: dir.path().to_path_buf(),
        cache_dir: None,
    };
    let e = Sandbox::load(&paths, SandboxLimits::default())
        .err()
        .expect("tampered guest refused");
    assert_eq!(e.code(), "guest-unavailable");
    assert!(e.to_string().contains("sha256"), "{e}");
}

#[test]
fn guest_implementing_another_world_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let real = common::guest_dir();
    for f in ["scan.json", "scan.wasm", "thumbnail.json", "thumbnail.wasm"] {
        std::fs::copy(real.join(f), dir.path().join(f)).unwrap();
    }
    // The scan component, presented as the probe: its manifest must be rewritten to get past
    // the world check, and then its exports do not fit the probe bindings.
    std::fs::copy(real.join("scan.wasm"), dir.path().join("probe.wasm")).unwrap();
    let manifest = std::fs::read_to_string(real.join("scan.json"))
        .unwrap()
        .replace("\"scan\"", "\"probe\"")
        .replace("scan.wasm", "probe.wasm")
        .replace("scanner", "prober");
    std::fs::write(dir.path().join("probe.json"), manifest).unwrap();
    let paths = GuestPaths {
        dir: dir.path().to_path_buf(),
        cache_dir: None,
    };
    let e = Sandbox::load(&paths, SandboxLimits::default())
        .err()
        .expect("wrong world refused");
    assert_eq!(e.code(), "guest-unavailable", "{e}");
}
