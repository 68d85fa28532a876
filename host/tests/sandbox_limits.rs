//! The sandbox's limits and its checks on guest output hold against a guest that misbehaves
//! on purpose (tests/hostile-guest), each with its own error code, and the host carries on
//! afterwards.

mod common;

use attachd::config::{FuelBudget, GuestPaths, SandboxLimits};
use attachd::error::{Class, ErrorCode};
use attachd::sandbox::{
    Fit, Format, MediaError, Sandbox, SandboxError, VariantSpec, GUEST_STRING_MAX,
};
use common::{guest_dir_with, with_all_cores_busy};
use std::path::Path;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const HOSTILE_DEADLINE: Duration = Duration::from_millis(500);
const HOSTILE_MEMORY: u64 = 64 * 1024 * 1024;
/// What the hostile tests' sandbox gives a call on a tiny input: enough for the honest mode,
/// little enough that `spin` ends in a fraction of a second.
const HOSTILE_FUEL_BASE: u64 = 20_000_000;

fn spec(name: &str) -> VariantSpec {
    VariantSpec {
        name: name.into(),
        max_width: 64,
        max_height: 64,
        fit: Fit::Contain,
        format: Format::Auto,
        quality: 80,
    }
}

fn hostile_limits() -> SandboxLimits {
    SandboxLimits {
        memory_bytes: HOSTILE_MEMORY,
        deadline: HOSTILE_DEADLINE,
        fuel: FuelBudget {
            base: HOSTILE_FUEL_BASE,
            ..FuelBudget::default()
        },
        ..SandboxLimits::default()
    }
}

fn load(dir: &Path, limits: SandboxLimits) -> Sandbox {
    let paths = GuestPaths {
        dir: dir.to_path_buf(),
        cache_dir: Some(common::cache_dir()),
        trust: common::test_guest_trust(),
    };
    Sandbox::load(&paths, limits).expect("load the guests")
}

/// The hostile component in place of the thumbnail guest, in a sandbox of its own with these
/// limits (the directory must outlive the test's calls).
fn hostile_sandbox_with(limits: SandboxLimits) -> (tempfile::TempDir, Sandbox) {
    let dir = guest_dir_with(&["thumbnail"]);
    let sandbox = load(dir.path(), limits);
    (dir, sandbox)
}

/// The hostile component in place of the thumbnail guest; the real probe reads its output.
fn hostile_sandbox() -> &'static Sandbox {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    let dir = DIR.get_or_init(|| guest_dir_with(&["thumbnail"]));
    SANDBOX.get_or_init(|| load(dir.path(), hostile_limits()))
}

fn render(input: &[u8]) -> Result<Result<Vec<String>, MediaError>, SandboxError> {
    hostile_sandbox()
        .thumbnail(input, &[spec("thumb")], common::roomy_limits(), 0)
        .map(|(r, _)| r.map(|t| t.variants.into_iter().map(|v| v.name).collect()))
}

fn hostile(input: &[u8]) -> SandboxError {
    match render(input) {
        Ok(r) => panic!(
            "{:?} should have been stopped, got {r:?}",
            String::from_utf8_lossy(input)
        ),
        Err(e) => e,
    }
}

fn assert_honest_call_still_works() {
    let names = render(b"hello")
        .expect("a well-behaved call after a hostile one succeeds")
        .expect("the honest mode renders");
    assert_eq!(names, ["thumb"]);
}

#[test]
fn endless_loop_runs_out_of_fuel_with_the_permanent_guest_fuel_exhausted() {
    hostile_sandbox(); // loaded (and compiled) before the clock starts
    let t = Instant::now();
    let e = hostile(b"spin");
    assert_eq!(e.code(), "guest-fuel-exhausted", "{e}");
    assert_eq!(e.class(), Class::Permanent);
    assert!(
        t.elapsed() < HOSTILE_DEADLINE,
        "fuel, not the deadline: {:?}",
        t.elapsed()
    );
    assert_honest_call_still_works();
}

#[test]
fn time_spent_in_the_host_is_paid_in_fuel_so_host_call_loops_end_fuel_exhausted() {
    // Both loops cost the host far more than the few instructions fuel would count: a bulk
    // memory.fill of 32 MiB per round, and a WASI call per round. Without a charge for the
    // host's time they would run to the wall-clock deadline and end retryable.
    hostile_sandbox();
    for mode in ["fill", "random"] {
        let t = Instant::now();
        let e = hostile(mode.as_bytes());
        assert_eq!(e.code(), "guest-fuel-exhausted", "{mode}: {e}");
        assert!(
            t.elapsed() < HOSTILE_DEADLINE,
            "{mode}: took {:?}",
            t.elapsed()
        );
    }
    assert_honest_call_still_works();
}

#[test]
fn same_work_ends_the_same_on_an_idle_and_on_a_saturated_machine() {
    // Work just under and just over the budget: fuel counts instructions, so the answer
    // cannot depend on how busy the cores are. A deadline could not promise that.
    let under = b"burn:1000000".as_slice();
    let over = b"burn:100000000".as_slice();
    let outcome = |input: &[u8]| {
        hostile_sandbox()
            .thumbnail(input, &[spec("thumb")], common::roomy_limits(), 0)
            .map(|(r, stats)| (r.is_ok(), stats.fuel_used))
            .map_err(|e| e.code())
    };
    let idle = (outcome(under), outcome(over));
    let busy = with_all_cores_busy(|| (outcome(under), outcome(over)));
    assert!(matches!(idle.0, Ok((true, _))), "{idle:?}");
    assert_eq!(idle.1, Err("guest-fuel-exhausted"));
    assert_eq!(idle, busy, "the same fuel used and the same outcome");
}

/// How far a real guest's fuel may differ between an idle and a saturated machine, as a
/// fraction of it: under 1/200 (measured here: up to about 1/1800 for this photo).
const HOST_TIME_SHARE_BOUND: u64 = 200;

#[test]
fn a_real_photo_burns_the_same_fuel_idle_and_saturated_and_a_small_budget_fails_it_alike() {
    let (w, h) = (3000u32, 2000u32);
    let png = attach_fixtures::png_rgb(&attach_fixtures::photo(w, h, 3));
    let specs = [spec("thumb")];
    let sandbox = common::sandbox();
    let run = |s: &Sandbox| {
        s.thumbnail(&png, &specs, common::roomy_limits(), u64::from(w * h))
            .map(|(r, stats)| (r.is_ok(), stats.fuel_used))
            .map_err(|e| e.code())
    };
    let idle = run(&sandbox);
    let busy = with_all_cores_busy(|| run(&sandbox));
    let (Ok((true, idle_fuel)), Ok((true, busy_fuel))) = (idle, busy) else {
        panic!("the photo renders idle and busy: {idle:?} {busy:?}");
    };
    // Guest instructions are counted exactly; the charge for CPU time in the host is not: this
    // guest's 14 entries into the host (memory growth and bulk copies of its own buffers, 4 to
    // 90 µs each here) take time that depends on the machine. That part is tiny next to the
    // count, so it cannot decide an outcome: the budgets leave a legitimate call at least 3x
    // headroom (`make bench-fuel`).
    assert!(
        idle_fuel.abs_diff(busy_fuel) < idle_fuel / HOST_TIME_SHARE_BOUND,
        "idle {idle_fuel}, busy {busy_fuel}"
    );

    let stingy = Sandbox::load(
        &common::paths(),
        SandboxLimits {
            fuel: FuelBudget {
                base: 1_000_000,
                per_byte: 1,
                per_pixel: 1,
                heif_per_pixel: 1,
                per_output_pixel: 1,
                max_per_call: u64::MAX,
            },
            ..SandboxLimits::default()
        },
    )
    .unwrap();
    let idle = run(&stingy);
    let busy = with_all_cores_busy(|| run(&stingy));
    assert_eq!(idle, Err("guest-fuel-exhausted"));
    assert_eq!(idle, busy);
}

#[test]
fn a_guest_that_sleeps_is_stopped_at_once_with_guest_forbidden_call() {
    hostile_sandbox();
    let t = Instant::now();
    let e = hostile(b"sleep");
    assert_eq!(e.code(), "guest-forbidden-call", "{e}");
    assert_eq!(e.class(), Class::Permanent);
    assert!(t.elapsed() < HOSTILE_DEADLINE, "took {:?}", t.elapsed());
    assert_honest_call_still_works();
}

#[test]
fn a_guest_that_polls_a_timer_is_stopped_at_once_with_guest_forbidden_call() {
    hostile_sandbox();
    let t = Instant::now();
    let e = hostile(b"poll");
    assert_eq!(e.code(), "guest-forbidden-call", "{e}");
    assert!(t.elapsed() < HOSTILE_DEADLINE, "took {:?}", t.elapsed());
    assert_honest_call_still_works();
}

#[test]
fn a_guest_asking_the_host_for_more_random_bytes_than_the_cap_is_stopped() {
    // wasmtime-wasi would allocate up to 64 MiB per call for a guest by default.
    let e = hostile(b"random-big");
    assert_eq!(e.code(), "guest-trap", "{e}");
    assert!(e.to_string().contains("exceeds limit 64"), "{e}");
    assert_honest_call_still_works();
}

#[test]
fn unbounded_allocation_is_stopped_with_guest_memory_limit() {
    // Filling memory burns fuel too: give this guest enough fuel to reach the memory cap.
    let (_dir, roomy) = hostile_sandbox_with(SandboxLimits {
        fuel: FuelBudget {
            base: 100 * HOSTILE_MEMORY,
            ..FuelBudget::default()
        },
        deadline: HOSTILE_DEADLINE * 20,
        ..hostile_limits()
    });
    let e = roomy
        .thumbnail(b"alloc", &[spec("thumb")], common::roomy_limits(), 0)
        .expect_err("stopped");
    assert_eq!(e.code(), "guest-memory-limit", "{e}");
    assert_honest_call_still_works();
}

#[test]
fn unbounded_recursion_is_stopped_with_guest_stack_overflow() {
    let e = hostile(b"recurse");
    assert_eq!(e.code(), "guest-stack-overflow", "{e}");
    assert_honest_call_still_works();
}

#[test]
fn oversized_output_is_refused_before_it_is_copied() {
    let e = hostile(format!("big-output:{}", 4 * 1024 * 1024).as_bytes());
    assert_eq!(e.code(), "output-too-large", "{e}");
    assert!(e.to_string().contains("before copying"), "{e}");
    assert_honest_call_still_works();
}

#[test]
fn a_guest_exiting_with_a_failing_status_is_malformed_input_with_its_stderr_cut_to_the_cap() {
    // Writing 64 KiB to stderr is a host call whose CPU time is charged as fuel (10,000 a
    // microsecond): the hostile budget (2 ms of host time) ran out on a loaded machine. What is
    // tested here is the exit and the stderr cap, so this call gets room to spare.
    let (_dir, roomy) = hostile_sandbox_with(SandboxLimits {
        fuel: FuelBudget {
            base: 100 * HOSTILE_FUEL_BASE,
            ..FuelBudget::default()
        },
        deadline: HOSTILE_DEADLINE * 20,
        ..hostile_limits()
    });
    let e = roomy
        .thumbnail(b"give-up", &[spec("thumb")], common::roomy_limits(), 0)
        .expect_err("a failing exit is an error");
    assert_eq!(e.code(), "malformed-input", "{e}");
    assert_eq!(e.class(), Class::Permanent);
    let message = e.to_string();
    assert!(
        message.contains("gave up") && message.contains("xxxx"),
        "{e}"
    );
    // 64 KiB written; the host keeps 4 KiB of stderr and repeats at most its string cap.
    assert!(
        message.len() < GUEST_STRING_MAX + 200,
        "{} bytes of guest text in the error",
        message.len()
    );
    assert_honest_call_still_works();
}

#[test]
fn guest_panic_is_a_guest_trap_with_its_message() {
    let e = hostile(b"panic");
    assert_eq!(e.code(), "guest-trap", "{e}");
    assert!(
        e.to_string().contains("hostile guest panics on purpose"),
        "{e}"
    );
    assert_honest_call_still_works();
}

#[test]
fn every_lie_about_the_variants_is_refused_before_anything_is_published() {
    for lie in [
        "lie:name",
        "lie:duplicate",
        "lie:many",
        "lie:dims",
        "lie:html",
        "lie:readback",
        "lie:polyglot",
        "lie:eicar",
        "lie:chunk",
        "lie:placeholder",
    ] {
        let e = hostile(lie.as_bytes());
        assert_eq!(e.code(), "guest-output-invalid", "{lie}: {e}");
        assert_eq!(e.class(), Class::Permanent, "{lie}");
    }
    assert_honest_call_still_works();
}

#[test]
fn a_long_guest_error_message_is_cut_to_the_string_limit() {
    match render(b"error:100000").unwrap() {
        Err(MediaError::Malformed(m)) => assert!(m.len() <= GUEST_STRING_MAX, "{}", m.len()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_huge_guest_error_message_is_refused_before_it_is_copied() {
    let e = hostile(format!("error:{}", 8 * 1024 * 1024).as_bytes());
    assert_eq!(e.code(), "output-too-large", "{e}");
}

#[test]
fn a_probe_that_lies_about_the_mime_type_or_orientation_is_refused() {
    let dir = guest_dir_with(&["probe"]);
    let sandbox = load(dir.path(), hostile_limits());
    for lie in ["lie:mime", "lie:orientation"] {
        let e = sandbox
            .probe(lie.as_bytes(), common::roomy_limits())
            .err()
            .unwrap_or_else(|| panic!("{lie} accepted"));
        assert_eq!(e.code(), "guest-output-invalid", "{lie}: {e}");
    }
    // A probe's whole answer is capped at 1 MiB before the host copies any of it.
    let e = sandbox
        .probe(b"lie:huge-mime", common::roomy_limits())
        .expect_err("a 2 MiB MIME type is refused");
    assert_eq!(e.code(), "output-too-large", "{e}");
    let (info, _) = sandbox.probe(b"honest", common::roomy_limits()).unwrap();
    assert_eq!(info.unwrap().mime, "image/png");
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
    let dir = guest_dir_with(&[]);
    let mut wasm = std::fs::read(dir.path().join("probe.wasm")).unwrap();
    let last = wasm.len() - 1;
    wasm[last] ^= 0xFF;
    std::fs::write(dir.path().join("probe.wasm"), wasm).unwrap();
    let paths = GuestPaths {
        dir: dir.path().to_path_buf(),
        cache_dir: None,
        trust: common::test_guest_trust(),
    };
    let e = Sandbox::load(&paths, SandboxLimits::default())
        .err()
        .expect("tampered guest refused");
    assert_eq!(e.code(), "guest-digest-mismatch");
    assert!(e.to_string().contains("sha256"), "{e}");
}

#[test]
fn guest_implementing_another_world_is_refused() {
    let dir = guest_dir_with(&[]);
    let real = common::guest_dir();
    // The scan component, presented as the probe: its manifest must be rewritten to get past
    // the world check, and then its exports do not fit the probe bindings.
    std::fs::copy(real.join("scan.wasm"), dir.path().join("probe.wasm")).unwrap();
    let manifest = std::fs::read_to_string(real.join("scan.json"))
        .unwrap()
        .replace("\"scan\"", "\"probe\"")
        .replace("scan.wasm", "probe.wasm")
        .replace("scanner", "prober");
    std::fs::write(dir.path().join("probe.json"), manifest).unwrap();
    // Signed by a trusted key, so only the component itself can give it away.
    let (_keys, key, trust) = common::release_key();
    attachd::release::sign_dir(dir.path(), &key).unwrap();
    let paths = GuestPaths {
        dir: dir.path().to_path_buf(),
        cache_dir: None,
        trust,
    };
    let e = Sandbox::load(&paths, SandboxLimits::default())
        .err()
        .expect("wrong world refused");
    assert_eq!(e.code(), "guest-unavailable", "{e}");
    assert!(e.to_string().contains("attach:media/prober@0.1.x"), "{e}");
}

#[test]
fn a_guest_that_imports_the_network_is_refused_at_load() {
    let dir = guest_dir_with(&[]);
    let sockets = common::guest_dir().join("test/hostile-sockets");
    for f in ["thumbnail.json", "thumbnail.json.minisig", "thumbnail.wasm"] {
        std::fs::copy(sockets.join(f), dir.path().join(f)).unwrap();
    }
    let paths = GuestPaths {
        dir: dir.path().to_path_buf(),
        cache_dir: None,
        trust: common::test_guest_trust(),
    };
    let e = Sandbox::load(&paths, SandboxLimits::default())
        .err()
        .expect("a guest importing sockets is refused");
    assert_eq!(e.code(), "guest-unavailable", "{e}");
    assert!(e.to_string().contains("wasi:sockets"), "{e}");
}

mod compile_cache {
    use super::*;
    use attachd::sandbox::CacheOrigin;
    use std::os::unix::fs::PermissionsExt;

    fn load_with_cache(guests: &Path, cache: &Path) -> Sandbox {
        let paths = GuestPaths {
            dir: guests.to_path_buf(),
            cache_dir: Some(cache.to_path_buf()),
            trust: common::test_guest_trust(),
        };
        Sandbox::load(&paths, SandboxLimits::default()).expect("load")
    }

    fn origin(s: &Sandbox, guest: &str) -> CacheOrigin {
        s.origins()
            .iter()
            .find(|(g, _)| *g == guest)
            .map(|(_, o)| o.clone())
            .unwrap()
    }

    /// The probe guest still answers as the probe guest: whatever was in the cache, the code
    /// that runs is the verified component's.
    fn assert_probe_is_the_real_probe(s: &Sandbox) {
        let png = attach_fixtures::png_rgb(&attach_fixtures::photo(4, 3, 1));
        let (info, _) = s.probe(&png, common::roomy_limits()).expect("probe runs");
        let info = info.expect("reads the PNG");
        assert_eq!((info.width, info.height), (4, 3));
    }

    /// A warm cache in a fresh directory, and the probe's and scan's artifacts in it.
    fn warm() -> (
        tempfile::TempDir,
        tempfile::TempDir,
        Vec<std::path::PathBuf>,
    ) {
        let guests = guest_dir_with(&[]);
        let cache = tempfile::tempdir().unwrap();
        let cache_dir = cache.path().join("attachd");
        let first = load_with_cache(guests.path(), &cache_dir);
        assert!(matches!(
            origin(&first, "probe"),
            CacheOrigin::Compiled { .. }
        ));
        let second = load_with_cache(guests.path(), &cache_dir);
        assert_eq!(
            origin(&second, "probe"),
            CacheOrigin::Cache,
            "a clean cache is used"
        );
        let artifacts: Vec<_> = std::fs::read_dir(&cache_dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "cwasm"))
            .collect();
        assert_eq!(
            artifacts.len(),
            attachd::release::GUESTS.len(),
            "{artifacts:?}"
        );
        (guests, cache, artifacts)
    }

    fn artifact_of(
        guests: &Path,
        artifacts: &[std::path::PathBuf],
        name: &str,
    ) -> std::path::PathBuf {
        let manifest = std::fs::read_to_string(guests.join(format!("{name}.json"))).unwrap();
        let digest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
        let digest = digest["sha256"].as_str().unwrap().to_string();
        artifacts
            .iter()
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(&digest)
            })
            .unwrap()
            .clone()
    }

    fn refused_and_recompiled(guests: &Path, cache: &Path, why: &str) {
        let s = load_with_cache(guests, &cache.join("attachd"));
        match origin(&s, "probe") {
            CacheOrigin::Compiled { reason } => assert!(reason.contains(why), "{reason}"),
            other => panic!("the cache was used: {other:?}"),
        }
        assert_probe_is_the_real_probe(&s);
    }

    #[test]
    fn another_guests_artifact_swapped_in_is_refused_and_recompiled() {
        let (guests, cache, artifacts) = warm();
        let probe = artifact_of(guests.path(), &artifacts, "probe");
        let scan = artifact_of(guests.path(), &artifacts, "scan");
        std::fs::copy(&scan, &probe).unwrap();
        refused_and_recompiled(guests.path(), cache.path(), "sha256");
        // The cache was rewritten with the real artifact: the next load uses it again.
        let again = load_with_cache(guests.path(), &cache.path().join("attachd"));
        assert_eq!(origin(&again, "probe"), CacheOrigin::Cache);
    }

    #[test]
    fn a_truncated_artifact_is_refused_and_recompiled() {
        let (guests, cache, artifacts) = warm();
        let probe = artifact_of(guests.path(), &artifacts, "probe");
        let bytes = std::fs::read(&probe).unwrap();
        std::fs::write(&probe, &bytes[..bytes.len() / 2]).unwrap();
        refused_and_recompiled(guests.path(), cache.path(), "sha256");
    }

    #[test]
    fn an_artifact_owned_by_another_user_is_refused_and_recompiled() {
        assert!(
            rustix::process::geteuid().is_root(),
            "this test makes a file owned by another user: run the suite as root (CI does)"
        );
        let (guests, cache, artifacts) = warm();
        let probe = artifact_of(guests.path(), &artifacts, "probe");
        std::os::unix::fs::chown(&probe, Some(65534), Some(65534)).unwrap();
        refused_and_recompiled(guests.path(), cache.path(), "owned by uid 65534");
    }

    #[test]
    fn a_symlinked_artifact_is_not_followed() {
        let (guests, cache, artifacts) = warm();
        let probe = artifact_of(guests.path(), &artifacts, "probe");
        let elsewhere = cache.path().join("elsewhere.cwasm");
        std::fs::rename(&probe, &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &probe).unwrap();
        refused_and_recompiled(guests.path(), cache.path(), "cached artifact");
    }

    #[test]
    fn a_cache_directory_that_is_a_symlink_is_not_used() {
        let (guests, cache, _) = warm();
        // The same artifacts and digests, reached through a link: whoever controls the link
        // chooses what the worker would run.
        let dir = cache.path().join("attachd");
        let real = cache.path().join("elsewhere");
        std::fs::rename(&dir, &real).unwrap();
        std::os::unix::fs::symlink(&real, &dir).unwrap();
        refused_and_recompiled(guests.path(), cache.path(), "not a directory");
    }

    #[test]
    fn a_cache_directory_others_can_write_is_not_used() {
        let (guests, cache, _) = warm();
        let dir = cache.path().join("attachd");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        refused_and_recompiled(guests.path(), cache.path(), "writable by group or others");
    }
}
