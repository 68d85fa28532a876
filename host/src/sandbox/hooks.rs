//! What only tests and benchmarks may change about a guest call: a monotonic clock that moves,
//! and the guest's stderr handed back after a call that succeeded. The thumbnail benchmark uses
//! both to read, from the guest itself, where a render's time goes inside the sandbox.
//!
//! Security: this module, the [`TestHooks`] type and [`Sandbox::set_test_hooks`] exist only
//! when attachd is built with its `test-hooks` cargo feature. Nothing turns that feature on but
//! the crate's dev-dependency on itself, which cargo applies to its tests and benchmarks only
//! (resolver 2 keeps dev-dependency features out of `cargo build` and `cargo install`), so the
//! release binary cannot give a guest a moving clock: its guests keep the frozen one, and with
//! it nothing to time a side channel with.
//!
//! [`Sandbox::set_test_hooks`]: super::Sandbox::set_test_hooks

use std::sync::Arc;
use std::time::Instant;

/// Called with the guest's name and what it wrote to stderr (up to the capture cap), after
/// each call that returned; not called when the guest wrote nothing.
pub type StderrSink = Arc<dyn Fn(&'static str, &[u8]) + Send + Sync>;

/// Test-only changes to every call a sandbox makes. The default changes nothing.
#[derive(Clone, Default)]
pub struct TestHooks {
    /// Guests read the host's monotonic clock instead of one frozen at zero.
    pub real_monotonic_clock: bool,
    /// Receives each guest's stderr after a successful call.
    pub stderr: Option<StderrSink>,
}

impl std::fmt::Debug for TestHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestHooks")
            .field("real_monotonic_clock", &self.real_monotonic_clock)
            .field("stderr", &self.stderr.is_some())
            .finish()
    }
}

/// A monotonic clock that moves: nanoseconds since the store was made.
pub(super) struct RealMonotonicClock(pub(super) Instant);

impl wasmtime_wasi::HostMonotonicClock for RealMonotonicClock {
    fn resolution(&self) -> u64 {
        1
    }
    fn now(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}
