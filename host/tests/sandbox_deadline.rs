//! What a wall-clock deadline hit means. Fuel counts instructions, not their cost: a guest
//! whose every load misses the cache burns fuel some twenty times slower than one that
//! computes, and can reach the deadline inside its budget. Such a call had the CPU all along,
//! so its hit is the permanent `guest-cpu-exhausted`; only a call the machine starved of CPU
//! ends with the retryable `guest-timeout`.
//!
//! One test in its own binary, so that no other test of the suite competes for the CPU while
//! the idle case runs.

mod common;

use attachd::config::{FuelBudget, GuestPaths, SandboxLimits};
use attachd::error::{Class, ErrorCode};
use attachd::sandbox::{Fit, Format, Sandbox, VariantSpec};
use std::time::Duration;

const DEADLINE: Duration = Duration::from_millis(1500);

fn hostile_sandbox(fuel: FuelBudget) -> (tempfile::TempDir, Sandbox) {
    let dir = common::guest_dir_with(&["thumbnail"]);
    let paths = GuestPaths {
        dir: dir.path().to_path_buf(),
        cache_dir: Some(common::cache_dir()),
        trust: common::test_guest_trust(),
    };
    let limits = SandboxLimits {
        deadline: DEADLINE,
        fuel,
        ..SandboxLimits::default()
    };
    let sandbox = Sandbox::load(&paths, limits).expect("load");
    (dir, sandbox)
}

/// Runs `f` on a thread at the lowest priority while every core is kept busy at normal
/// priority: the call gets almost none of the CPU.
fn starved<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    common::with_all_cores_busy(|| {
        std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: plain system calls on this thread's own id.
                unsafe {
                    let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                    assert_eq!(libc::setpriority(libc::PRIO_PROCESS, tid, 19), 0);
                }
                f()
            })
            .join()
            .unwrap()
        })
    })
}

#[test]
fn a_deadline_hit_is_permanent_when_the_guest_had_the_cpu_and_retryable_when_it_was_starved() {
    let thumb = VariantSpec {
        name: "thumb".into(),
        max_width: 256,
        max_height: 256,
        fit: Fit::Contain,
        format: Format::Webp,
        quality: 80,
    };
    // The attack: a tiny input whose probe claims 1280×1280, with the default budget, which
    // pointer-chasing cannot burn within the deadline.
    let (_dir, sandbox) = hostile_sandbox(FuelBudget::default());
    let t = std::time::Instant::now();
    let e = sandbox
        .thumbnail(
            b"chase:64",
            std::slice::from_ref(&thumb),
            common::roomy_limits(),
            1280 * 1280,
        )
        .expect_err("stopped");
    assert_eq!(e.code(), "guest-cpu-exhausted", "{e}");
    assert_eq!(e.class(), Class::Permanent);
    // Stopped at the deadline, not long after it (generous bound: a loaded CI machine).
    assert!(t.elapsed() < DEADLINE * 10, "took {:?}", t.elapsed());

    // The same deadline on a machine that leaves the call no CPU: the input was never judged.
    let unlimited = FuelBudget {
        base: u64::MAX / 2,
        max_per_call: u64::MAX,
        ..FuelBudget::default()
    };
    let (_dir, sandbox) = hostile_sandbox(unlimited);
    let e = starved(|| {
        sandbox
            .thumbnail(
                b"spin",
                std::slice::from_ref(&thumb),
                common::roomy_limits(),
                0,
            )
            .expect_err("stopped")
    });
    assert_eq!(e.code(), "guest-timeout", "{e}");
    assert_eq!(e.class(), Class::Retryable);
}
