//! The WebAssembly sandbox: every step that parses an upload's bytes runs here, in a fresh
//! component instance with its own fuel, memory cap, wall-clock backstop and stack cap.
//!
//! | knob                 | default            | env                          | enforced by                  | on a hit (code, class)            |
//! |----------------------|--------------------|------------------------------|------------------------------|-----------------------------------|
//! | CPU                  | see [`FuelBudget`](crate::config::FuelBudget) | `ATTACH_GUEST_FUEL_*`        | wasmtime fuel                | `guest-fuel-exhausted`, permanent |
//! | wall-clock backstop  | 30 s               | `ATTACH_GUEST_TIMEOUT_MS`    | epoch interruption           | `guest-cpu-exhausted`, permanent, if the call had the CPU; else `guest-timeout`, retryable |
//! | linear memory        | 1 GiB              | `ATTACH_GUEST_MEMORY`        | [`CallLimiter`]              | `guest-memory-limit`, permanent   |
//! | wasm stack           | 1 MiB              | `ATTACH_GUEST_STACK`         | `Config::max_wasm_stack`     | `guest-stack-overflow`, permanent |
//! | bytes copied out     | output cap + 1 MiB | `ATTACH_MAX_OUTPUT_BYTES`    | hostcall fuel, before copying| `output-too-large`, permanent     |
//! | blocking WASI calls  | denied             | -                            | trapping host functions      | `guest-forbidden-call`, permanent |
//! | instance slots       | 32                 | -                            | pooling allocator            | `sandbox-unavailable`, retryable  |
//!
//! Why a fresh instance per call: nothing one upload does to a guest's memory (a corrupted
//! heap, a planted value) can reach the next upload, and the pooling allocator makes a fresh
//! instance cost microseconds.
//!
//! Why fuel *and* an epoch: fuel counts the guest's own instructions, so a budget derived from
//! the input's size gives the same answer for the same bytes on an idle and on a saturated
//! worker; that is what makes a hit permanent. Entries into the host are charged fuel too (see
//! [`HOST_CALL_FUEL`]). The epoch deadline is wall-clock time: it catches what fuel cannot
//! price (instructions that miss the cache) and a machine so overloaded that a legitimate call
//! crawls; the call thread's own CPU time tells the two apart (see
//! [`CPU_SHARE_FOR_PERMANENT`]).
//!
//! Guests get WASI with no preopened directories, no network, no environment, no arguments,
//! clocks frozen at zero (they need none, and a frozen clock gives a guest nothing to time side
//! channels with; only a `test-hooks` build can unfreeze one, see `hooks.rs`), and none of the calls that block the host thread (`poll`, `pollable.block`,
//! clock subscriptions: epoch checks never run inside the host, so a guest blocked there would
//! outlive its deadline). A component importing anything beyond the WASI interfaces a Rust
//! guest's standard library needs is refused at load.

mod bindings;
mod error;
mod guests;
#[cfg(feature = "test-hooks")]
mod hooks;
mod limiter;
mod untrusted;
mod wasi;

pub use crate::release::ReleaseError;
pub use bindings::{
    Finding, Fit, Format, Kind, Limit, LimitHit, Limits, MediaError, ProbeInfo, Rendered, Report,
    Thumbnails, VariantSpec, Verdict,
};
pub use error::SandboxError;
pub use guests::{hex, CacheOrigin, GuestRef, WIT_VERSION};
#[cfg(feature = "test-hooks")]
pub use hooks::{StderrSink, TestHooks};
pub use untrusted::{truncate as truncate_guest_string, GUEST_STRING_MAX};

use crate::config::{GuestPaths, SandboxLimits};
use crate::release::layout::Fingerprint;
use crate::release::GUESTS;
use bindings::prober::ProberPre;
use bindings::scanner::ScannerPre;
use bindings::thumbnailer::ThumbnailerPre;
use limiter::CallLimiter;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{
    CallHook, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap,
};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{I32Exit, WasiCtx, WasiCtxView, WasiView};

/// How often the epoch advances. 10 ms keeps the deadline precise to a hundredth of a second
/// while the ticker thread's cost stays negligible.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);
/// A guest's stderr is kept (up to this much) to explain a trap: a Rust guest prints its
/// panic message there before it aborts.
const STDERR_CAPTURE_BYTES: usize = 4096;
/// Core instances, memories and tables one component may need from the pool: a Rust
/// wasip2 component is one main module plus a few small shim modules.
const POOL_CORE_INSTANCES_PER_COMPONENT: u32 = 16;
const POOL_MEMORIES_PER_COMPONENT: u32 = 2;
const POOL_TABLES_PER_COMPONENT: u32 = 16;
/// What probe and scan may copy out to the host per call (wasmtime's "hostcall fuel", counted
/// in bytes before anything is copied): their reports are a few KiB; 1 MiB is far above any
/// real one and far below what a lying guest could otherwise make the host allocate.
pub const REPORT_COPY_BYTES: usize = 1024 * 1024;
/// On top of the output cap, what the thumbnail guest may copy out for the records, names and
/// placeholder around the variants' bytes.
pub const RECORD_COPY_BYTES: usize = 1024 * 1024;
/// A call stopped by the wall-clock deadline that had the CPU for at least this share of it
/// was not starved by a loaded machine: it is the input's own cost (fuel counts instructions,
/// and an instruction that misses the cache costs a hundred times one that hits it), and its
/// hit is permanent (`guest-cpu-exhausted`). Below this share the machine was too busy to
/// judge the input, and the hit stays the retryable `guest-timeout`.
pub const CPU_SHARE_FOR_PERMANENT: f64 = 0.5;

/// Fuel every entry into the host costs at least (a WASI call, or one of wasmtime's runtime
/// calls such as `memory.grow` or a bulk `memory.fill`/`memory.copy`): fuel counts guest
/// instructions, and a call into the host is one instruction that can cost the host a
/// microsecond, or far more. Without a charge, a guest calling a cheap WASI function in a loop
/// would spend minutes of host time on a budget of fuel meant for seconds. The charge covers
/// the round trip the timed part below does not see (trampolines, this hook): a loop of the
/// cheapest runtime call (a 1-byte `memory.fill`) burned fuel at 5,000 per µs with a charge
/// of 10,000, against 13,000 per µs for real guest work, so it is 50,000. The real guests
/// enter the host under 20 times per call (`make bench-fuel`), so this costs them nothing.
pub const HOST_CALL_FUEL: u64 = 50_000;
/// Fuel charged per microsecond of this thread's CPU time spent in the host, when a call into
/// the host takes longer than [`HOST_CALL_FUEL`] covers. CPU time, not wall-clock time: on a
/// busy machine a host call can wait milliseconds for a core, and charging that wait would
/// fail small uploads with a permanent `guest-fuel-exhausted` whenever the worker is loaded.
/// The rate is about the rate the guests burn fuel here (a 24 MP JPEG
/// thumbnail burns 2.6 × 10⁹ in some 0.2 s, 13,000 per µs). A bulk operation on a large
/// region (one `memory.fill` of a GiB takes tens of milliseconds) is then paid like the guest
/// work it replaces; this part depends on the machine, but only a guest that spends long in
/// the host meets it, and such a guest runs out of fuel on any machine.
pub const HOST_FUEL_PER_MICROSECOND: u64 = 10_000;
/// The most random bytes a guest may ask the host for in one call (wasmtime-wasi's default is
/// 64 MiB, allocated by the host): a Rust guest asks for 16-byte hash seeds, and a small cap
/// keeps each call as cheap as [`HOST_CALL_FUEL`] assumes.
const MAX_RANDOM_BYTES: u64 = 64;

/// Per-store state: WASI (all of it denied but stdio sinks) and the limiter.
struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: CallLimiter,
    stderr: MemoryOutputPipe,
    /// Times the guest entered the host (WASI calls and wasmtime's own runtime calls).
    host_calls: u64,
    /// This thread's CPU time when the call began.
    cpu_start: Duration,
}

/// A call into the host ran out of fuel: the same cause as an exhausted guest.
#[derive(Debug)]
struct HostCallFuelExhausted;

impl std::fmt::Display for HostCallFuelExhausted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no fuel left for a call into the host")
    }
}

impl std::error::Error for HostCallFuelExhausted {}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

struct FrozenClock;
impl wasmtime_wasi::HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}
impl wasmtime_wasi::HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// Per-call facts, for logs, metrics and benchmarks.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallStats {
    pub instantiate: Duration,
    pub call: Duration,
    pub peak_memory: usize,
    /// The call's fuel budget, and what instantiation and the call burned of it.
    pub fuel_budget: u64,
    pub fuel_used: u64,
    /// Entries into the host during the call (each charged [`HOST_CALL_FUEL`]).
    pub host_calls: u64,
}

/// One engine and the guests it runs. Cheap to share (`Arc`), safe to call from many threads
/// at once: each call gets its own store and instance.
///
/// The guests are one [`Guests`] set at a time, replaced whole by [`Sandbox::reload`]. A job
/// takes the set once ([`Sandbox::session`]) and runs every step on it, so a job in flight
/// finishes on the releases it started with; the old set's compiled code is dropped when the
/// last job holding it ends.
pub struct Sandbox {
    engine: Engine,
    linker: Linker<CallState>,
    limits: SandboxLimits,
    paths: GuestPaths,
    deadline_ticks: u64,
    current: RwLock<Arc<Guests>>,
    /// One reload at a time (a SIGHUP and the directory watch may ask together).
    reloading: Mutex<()>,
    ticker_stop: Arc<AtomicBool>,
    metered: bool,
    /// Test and benchmark builds only (see `hooks.rs` for why a release cannot have them).
    #[cfg(feature = "test-hooks")]
    hooks: TestHooks,
}

/// One set of verified, compiled and pre-linked guest releases.
pub struct Guests {
    probe: ProberPre<CallState>,
    scan: ScannerPre<CallState>,
    thumbnail: ThumbnailerPre<CallState>,
    /// The same world as `thumbnail`, released on its own: HEIC and AVIF decoding.
    heif: ThumbnailerPre<CallState>,
    loaded: Vec<LoadedGuest>,
    release: PathBuf,
    /// The guest directory as it was just before this set was read from it.
    fingerprint: Fingerprint,
    since: SystemTime,
}

/// What is known about one loaded guest release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedGuest {
    pub guest: GuestRef,
    /// The world its manifest declares (`attach:media/prober@0.1.0`).
    pub world: String,
    /// The id of the key that signed it; `None`: loaded unsigned (development switch).
    pub key_id: Option<String>,
    pub origin: CacheOrigin,
}

impl Guests {
    /// The releases in this set: what an upload processed on it records.
    pub fn refs(&self) -> Vec<GuestRef> {
        self.loaded.iter().map(|g| g.guest.clone()).collect()
    }

    pub fn loaded(&self) -> &[LoadedGuest] {
        &self.loaded
    }

    /// The release directory the set was read from.
    pub fn release(&self) -> &std::path::Path {
        &self.release
    }

    /// When this set started serving.
    pub fn since(&self) -> SystemTime {
        self.since
    }

    /// The guest directory as it was just before this set was read: the watcher's starting
    /// point, so a release that appears while a worker starts is still noticed.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }
}

/// What a [`Sandbox::reload`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reload {
    /// The directory holds the releases already running.
    Unchanged,
    /// A new set serves the next jobs.
    Swapped {
        from: Vec<GuestRef>,
        to: Vec<GuestRef>,
    },
}

/// The guests one job runs on: the set that was current when the job began.
pub struct Session<'a> {
    sandbox: &'a Sandbox,
    guests: Arc<Guests>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

impl Sandbox {
    /// Builds the engine, loads and verifies the guests in `paths.dir`, and pre-links them.
    pub fn load(paths: &GuestPaths, limits: SandboxLimits) -> Result<Sandbox, SandboxError> {
        Self::load_with(paths, limits, true)
    }

    /// [`Sandbox::load`] without fuel metering, for the thumbnail benchmark's side-by-side
    /// measure of what metering costs. Never used by attachd itself: no setting reaches it.
    #[doc(hidden)]
    pub fn load_unmetered_for_benchmarks(
        paths: &GuestPaths,
        limits: SandboxLimits,
    ) -> Result<Sandbox, SandboxError> {
        Self::load_with(paths, limits, false)
    }

    fn load_with(
        paths: &GuestPaths,
        limits: SandboxLimits,
        metered: bool,
    ) -> Result<Sandbox, SandboxError> {
        let engine = engine(&limits, metered).map_err(|e| SandboxError::Load {
            guest: "engine",
            message: format!("{e:#}"),
        })?;
        let mut linker = Linker::<CallState>::new(&engine);
        wasi::add_to_linker(&mut linker).map_err(|e| SandboxError::Load {
            guest: "wasi",
            message: format!("{e:#}"),
        })?;
        let guests = load_guests(&engine, &linker, paths, verify_guests(paths)?)?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_ticker(engine.clone(), ticker_stop.clone()).map_err(|e| SandboxError::Load {
            guest: "engine",
            message: format!("cannot start the epoch ticker: {e}"),
        })?;
        let deadline_ticks = (limits.deadline.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        Ok(Sandbox {
            engine,
            linker,
            limits,
            paths: paths.clone(),
            deadline_ticks,
            current: RwLock::new(Arc::new(guests)),
            reloading: Mutex::new(()),
            ticker_stop,
            metered,
            #[cfg(feature = "test-hooks")]
            hooks: TestHooks::default(),
        })
        .and_then(|sandbox| {
            sandbox.check_instantiates(&sandbox.guests())?;
            Ok(sandbox)
        })
    }

    /// Instantiates each guest of `guests` once, in a store of its own. wasmtime checks the
    /// types of a guest's exports when an instance is made, not when it is linked, so a guest
    /// that claims this host's series but changed a record the host reads is refused here,
    /// at load or reload, rather than by every job after a swap.
    fn check_instantiates(&self, guests: &Guests) -> Result<(), SandboxError> {
        let fail = |guest: &'static str, world: &str| {
            let needs = needs(world);
            move |e: wasmtime::Error| SandboxError::Load {
                guest,
                message: format!(
                    "its exports do not have the types this host calls them with (it needs \
                     {needs}): {e:#}"
                ),
            }
        };
        let store = || self.store(self.limits.fuel.base, REPORT_COPY_BYTES);
        let [(p, pw), (s, sw), (t, tw), (h, hw)] = GUESTS;
        guests
            .probe
            .instantiate(&mut store())
            .map_err(fail(p, pw))?;
        guests.scan.instantiate(&mut store()).map_err(fail(s, sw))?;
        guests
            .thumbnail
            .instantiate(&mut store())
            .map_err(fail(t, tw))?;
        guests.heif.instantiate(&mut store()).map_err(fail(h, hw))?;
        Ok(())
    }

    /// The guests serving now. A job holds the returned set for its whole run.
    pub fn guests(&self) -> Arc<Guests> {
        // A poisoned lock means a thread panicked while swapping an `Arc`: the value is
        // still a whole set.
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The guests one job runs on: the current set, held until the session is dropped.
    pub fn session(&self) -> Session<'_> {
        Session {
            sandbox: self,
            guests: self.guests(),
        }
    }

    /// Reads, verifies and compiles the releases in the guest directory again, and if they
    /// differ from the running set, makes them current for the jobs that start from now on.
    /// Blocking (it may compile for seconds): run it off the async threads. On an error
    /// nothing changes: the running set keeps serving.
    pub fn reload(&self) -> Result<Reload, SandboxError> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        // The trusted keys as their files say now: a key dropped from its file is no longer
        // trusted from this reload on.
        let trust = self
            .paths
            .trust
            .reread()
            .map_err(|error| SandboxError::Release {
                guest: "trusted keys",
                error,
            })?;
        let paths = GuestPaths {
            trust,
            ..self.paths.clone()
        };
        let verified = verify_guests(&paths)?;
        let from = self.guests().refs();
        let to = verified.refs();
        // The same releases: nothing to compile (a touched file, a re-signed manifest).
        if from == to {
            return Ok(Reload::Unchanged);
        }
        let next = load_guests(&self.engine, &self.linker, &self.paths, verified)?;
        self.check_instantiates(&next)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
        Ok(Reload::Swapped { from, to })
    }

    /// Where the guests are read from, and whom they must be signed by.
    pub fn paths(&self) -> &GuestPaths {
        &self.paths
    }

    /// Where each guest's compiled code came from at load: the verified cache, or a fresh
    /// compile (and why the cache was not used).
    pub fn origins(&self) -> Vec<(String, CacheOrigin)> {
        self.guests()
            .loaded
            .iter()
            .map(|g| (g.guest.name.clone(), g.origin.clone()))
            .collect()
    }

    /// The guest releases serving now.
    pub fn loaded(&self) -> Vec<GuestRef> {
        self.guests().refs()
    }

    pub fn limits(&self) -> &SandboxLimits {
        &self.limits
    }

    /// [`Session::probe`] on the current guests.
    pub fn probe(
        &self,
        data: &[u8],
        limits: Limits,
    ) -> Result<(Result<ProbeInfo, MediaError>, CallStats), SandboxError> {
        self.session().probe(data, limits)
    }

    /// [`Session::scan`] on the current guests.
    pub fn scan(
        &self,
        data: &[u8],
        declared_mime: &str,
        limits: Limits,
    ) -> Result<(Result<Report, MediaError>, CallStats), SandboxError> {
        self.session().scan(data, declared_mime, limits)
    }

    /// [`Session::thumbnail`] on the current guests.
    pub fn thumbnail(
        &self,
        data: &[u8],
        specs: &[VariantSpec],
        limits: Limits,
        source_pixels: u64,
    ) -> Result<(Result<Thumbnails, MediaError>, CallStats), SandboxError> {
        self.session().thumbnail(data, specs, limits, source_pixels)
    }

    /// [`Session::heif`] on the current guests.
    pub fn heif(
        &self,
        data: &[u8],
        specs: &[VariantSpec],
        limits: Limits,
        source_pixels: u64,
    ) -> Result<(Result<Thumbnails, MediaError>, CallStats), SandboxError> {
        self.session().heif(data, specs, limits, source_pixels)
    }
}

/// What a guest implementing `world` must be, as people write it: `attach:media/prober@0.1.x`.
fn needs(world: &str) -> String {
    format!(
        "{}/{world}@{}",
        crate::release::PACKAGE,
        crate::release::host_version().series()
    )
}

/// One set of guest releases, read and verified but not compiled yet.
struct Verified {
    release: PathBuf,
    fingerprint: Fingerprint,
    guests: Vec<(&'static str, crate::release::Verified)>,
}

impl Verified {
    fn refs(&self) -> Vec<GuestRef> {
        self.guests
            .iter()
            .map(|(name, v)| GuestRef {
                name: name.to_string(),
                version: v.manifest.version_or_unversioned(),
                sha256: v.sha256.clone(),
            })
            .collect()
    }
}

/// Reads and verifies the guests of the release `paths` names (see [`crate::release`]).
/// The fingerprint is taken first: a change after it is seen by the next look.
fn verify_guests(paths: &GuestPaths) -> Result<Verified, SandboxError> {
    let fingerprint = crate::release::layout::fingerprint(&paths.dir);
    let release =
        crate::release::layout::release_dir(&paths.dir).map_err(|error| SandboxError::Release {
            guest: "current",
            error,
        })?;
    let guests = GUESTS
        .iter()
        .map(|&(name, world)| {
            crate::release::verify(&release, name, world, &paths.trust)
                .map(|v| (name, v))
                .map_err(|error| SandboxError::Release { guest: name, error })
        })
        .collect::<Result<_, _>>()?;
    Ok(Verified {
        release,
        fingerprint,
        guests,
    })
}

/// Compiles and pre-links a verified set of guests.
fn load_guests(
    engine: &Engine,
    linker: &Linker<CallState>,
    paths: &GuestPaths,
    verified: Verified,
) -> Result<Guests, SandboxError> {
    let cache = paths.cache_dir.as_deref();
    let mut loaded = Vec::new();
    let mut pres = Vec::new();
    for ((name, v), guest) in verified.guests.iter().zip(verified.refs()) {
        let (component, origin) = guests::compile(engine, cache, name, v)?;
        wasi::check_imports(engine, &component).map_err(|message| SandboxError::Load {
            guest: name,
            message,
        })?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| SandboxError::Load {
                guest: name,
                message: format!("does not link: {e:#}"),
            })?;
        loaded.push(LoadedGuest {
            guest,
            world: v.manifest.world.clone(),
            key_id: v.key_id.clone(),
            origin,
        });
        pres.push(pre);
    }
    // The bindings look each export up by this host's version; wasmtime matches any
    // semver-compatible one (a 0.1.1 guest's `probe@0.1.1` for `probe@0.1.0`). Their types
    // are checked when an instance is made (`Sandbox::check_instantiates`).
    let incompatible = |name: &'static str, world: &str| {
        let needs = needs(world);
        move |e: wasmtime::Error| SandboxError::Load {
            guest: name,
            message: format!(
                "its exports do not serve this host, which needs {needs} with every function \
                 it calls: {e:#}"
            ),
        }
    };
    let [(p, pw), (s, sw), (t, tw), (h, hw)] = GUESTS;
    let mut pres = pres.into_iter();
    let mut next = || pres.next().expect("one pre-linked component per guest");
    let probe = ProberPre::new(next()).map_err(incompatible(p, pw))?;
    let scan = ScannerPre::new(next()).map_err(incompatible(s, sw))?;
    let thumbnail = ThumbnailerPre::new(next()).map_err(incompatible(t, tw))?;
    let heif = ThumbnailerPre::new(next()).map_err(incompatible(h, hw))?;
    Ok(Guests {
        probe,
        scan,
        thumbnail,
        heif,
        loaded,
        release: verified.release,
        fingerprint: verified.fingerprint,
        since: SystemTime::now(),
    })
}

impl Session<'_> {
    /// The releases this session runs on.
    pub fn guests(&self) -> &Guests {
        &self.guests
    }

    /// Reads the headers of `data` in the probe guest.
    pub fn probe(
        &self,
        data: &[u8],
        limits: Limits,
    ) -> Result<(Result<ProbeInfo, MediaError>, CallStats), SandboxError> {
        let budget = self.sandbox.limits.fuel.for_call(data.len() as u64, 0, 0);
        let (info, stats) = self.sandbox.call(
            "probe",
            budget,
            REPORT_COPY_BYTES,
            |store| self.guests.probe.instantiate(store),
            |store, guest| guest.attach_media_probe().call_probe(store, data, limits),
        )?;
        Ok((untrusted::probe(info)?, stats))
    }

    /// Runs the heuristic scan of `data` in the scan guest.
    pub fn scan(
        &self,
        data: &[u8],
        declared_mime: &str,
        limits: Limits,
    ) -> Result<(Result<Report, MediaError>, CallStats), SandboxError> {
        let budget = self.sandbox.limits.fuel.for_call(data.len() as u64, 0, 0);
        let (report, stats) = self.sandbox.call(
            "scan",
            budget,
            REPORT_COPY_BYTES,
            |store| self.guests.scan.instantiate(store),
            |store, guest| {
                guest
                    .attach_media_scan()
                    .call_scan(store, data, declared_mime, limits)
            },
        )?;
        Ok((untrusted::scan(report)?, stats))
    }

    /// Renders `specs` from `data` in the thumbnail guest (JPEG, PNG, GIF, WebP). `source_pixels`
    /// is what the probe read (`max(width × height, total frame area)`): with the input's size
    /// and the specs' boxes it sets the call's fuel budget.
    pub fn thumbnail(
        &self,
        data: &[u8],
        specs: &[VariantSpec],
        limits: Limits,
        source_pixels: u64,
    ) -> Result<(Result<Thumbnails, MediaError>, CallStats), SandboxError> {
        let per_pixel = self.sandbox.limits.fuel.per_pixel;
        let guest = &self.guests.thumbnail;
        self.render(
            "thumbnail",
            guest,
            per_pixel,
            data,
            specs,
            limits,
            source_pixels,
        )
    }

    /// [`Session::thumbnail`] in the heif guest (HEIC and AVIF), whose decode costs more fuel
    /// per pixel (see [`crate::config::FuelBudget::heif_per_pixel`]).
    pub fn heif(
        &self,
        data: &[u8],
        specs: &[VariantSpec],
        limits: Limits,
        source_pixels: u64,
    ) -> Result<(Result<Thumbnails, MediaError>, CallStats), SandboxError> {
        let per_pixel = self.sandbox.limits.fuel.heif_per_pixel;
        let guest = &self.guests.heif;
        self.render("heif", guest, per_pixel, data, specs, limits, source_pixels)
    }

    /// Renders in `guest` (a `thumbnailer`, given `per_pixel` fuel per source pixel), then
    /// checks every variant it returns: the specs' names, formats and boxes, the output size,
    /// and a re-probe and re-scan of each variant in fresh instances of the other guests.
    #[allow(clippy::too_many_arguments)]
    fn render(
        &self,
        name: &'static str,
        guest: &ThumbnailerPre<CallState>,
        per_pixel: u64,
        data: &[u8],
        specs: &[VariantSpec],
        limits: Limits,
        source_pixels: u64,
    ) -> Result<(Result<Thumbnails, MediaError>, CallStats), SandboxError> {
        let max_output = limits.max_output_bytes;
        // Nothing is upscaled: a variant has at most the source's pixels, and at most its box's.
        let output_pixels = specs
            .iter()
            .map(|s| source_pixels.min(u64::from(s.max_width) * u64::from(s.max_height)))
            .fold(0u64, u64::saturating_add);
        let budget = self.sandbox.limits.fuel.at_per_pixel(
            per_pixel,
            data.len() as u64,
            source_pixels,
            output_pixels,
        );
        let copy_cap = usize::try_from(max_output)
            .unwrap_or(usize::MAX)
            .saturating_add(RECORD_COPY_BYTES);
        let (thumbs, stats) = self.sandbox.call(
            name,
            budget,
            copy_cap,
            |store| guest.instantiate(store),
            |store, guest| {
                guest
                    .attach_media_thumbnail()
                    .call_render(store, data, specs, limits)
            },
        )?;
        let thumbs = match untrusted::thumbnails(thumbs) {
            Ok(t) => t,
            Err(e) => return Ok((Err(e), stats)),
        };
        let size = thumbs
            .variants
            .iter()
            .map(|v| v.data.len() as u64)
            .sum::<u64>()
            + thumbs.placeholder.len() as u64;
        check_output(name, size, max_output)?;
        let thumbs = untrusted::check_variants(name, specs, thumbs)?;
        // The host reads each encoded variant back with the probe and scan guests, each in
        // its own fresh instance: a thumbnail guest that lies about what it wrote is caught
        // by guests that never saw the upload.
        for v in &thumbs.variants {
            let (read, _) = self.probe(&v.data, limits)?;
            let read = read.map_err(|e| SandboxError::InvalidOutput {
                guest: name,
                reason: untrusted::truncate(format!(
                    "variant {:?} does not read back: {e:?}",
                    v.name
                )),
            })?;
            untrusted::check_reprobe(name, v, &read)?;
            // And the scan guest, also fresh, must find nothing in it: a valid image header
            // followed by a page of HTML, or a signature in a private chunk, is not a variant.
            let (report, _) = self.scan(&v.data, untrusted::mime_of(read.kind), limits)?;
            let report = report.map_err(|e| SandboxError::InvalidOutput {
                guest: name,
                reason: untrusted::truncate(format!("variant {:?} does not scan: {e:?}", v.name)),
            })?;
            untrusted::check_rescan(name, v, &report)?;
        }
        Ok((Ok(thumbs), stats))
    }
}

impl Sandbox {
    /// Applies `hooks` to every call from now on. Only in builds with the `test-hooks`
    /// feature: the release binary has no way to give a guest a moving clock.
    #[cfg(feature = "test-hooks")]
    pub fn set_test_hooks(&mut self, hooks: TestHooks) {
        self.hooks = hooks;
    }

    /// Instantiates the thumbnail guest and drops it: what a fresh instance per call costs.
    pub fn instantiate_thumbnail_only(&self) -> Result<Duration, SandboxError> {
        let mut store = self.store(self.limits.fuel.base, REPORT_COPY_BYTES);
        let t = Instant::now();
        self.guests()
            .thumbnail
            .instantiate(&mut store)
            .map_err(|e| SandboxError::Instantiate {
                guest: "thumbnail",
                message: format!("{e:#}"),
            })?;
        Ok(t.elapsed())
    }

    fn store(&self, fuel: u64, copy_cap: usize) -> Store<CallState> {
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE_BYTES);
        let mut wasi = WasiCtx::builder();
        wasi.stderr(stderr.clone())
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .max_random_size(MAX_RANDOM_BYTES)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        #[cfg(feature = "test-hooks")]
        if self.hooks.real_monotonic_clock {
            wasi.monotonic_clock(hooks::RealMonotonicClock(Instant::now()));
        }
        let wasi = wasi.build();
        let mut store = Store::new(
            &self.engine,
            CallState {
                wasi,
                table: ResourceTable::new(),
                limiter: CallLimiter::new(self.limits.memory_bytes),
                stderr,
                host_calls: 0,
                cpu_start: Duration::ZERO,
            },
        );
        store.limiter(|s| &mut s.limiter);
        if self.metered {
            // The engine meters fuel, so setting it cannot fail.
            store
                .set_fuel(fuel)
                .expect("the engine is configured to consume fuel");
        }
        let metered = self.metered;
        let mut entered: Option<Duration> = None;
        store.call_hook(move |mut ctx, hook| {
            let cost = match hook {
                CallHook::CallingHost => {
                    ctx.data_mut().host_calls += 1;
                    entered = Some(thread_cpu_time());
                    HOST_CALL_FUEL
                }
                CallHook::ReturningFromHost => {
                    let spent = entered.take().map_or(0, |t| {
                        thread_cpu_time().saturating_sub(t).as_micros() as u64
                    });
                    // The first microsecond is in the entry charge.
                    HOST_FUEL_PER_MICROSECOND.saturating_mul(spent.saturating_sub(1))
                }
                _ => return Ok(()),
            };
            if metered && cost > 0 {
                let left = ctx.get_fuel()?;
                if left < cost {
                    ctx.set_fuel(0)?;
                    return Err(HostCallFuelExhausted.into());
                }
                ctx.set_fuel(left - cost)?;
            }
            Ok(())
        });
        // Bounds what lifting a guest's result (or a guest's call into WASI) may copy into the
        // host, checked against the lengths in guest memory before any copy is made.
        store.set_hostcall_fuel(copy_cap);
        store.set_epoch_deadline(self.deadline_ticks);
        store.epoch_deadline_trap();
        store
    }

    /// One guest call in a fresh store: instantiate, call, and turn whatever stopped the guest
    /// into a typed [`SandboxError`].
    fn call<G, R>(
        &self,
        guest_name: &'static str,
        fuel: u64,
        copy_cap: usize,
        instantiate: impl FnOnce(&mut Store<CallState>) -> wasmtime::Result<G>,
        call: impl FnOnce(&mut Store<CallState>, &G) -> wasmtime::Result<R>,
    ) -> Result<(R, CallStats), SandboxError> {
        let mut store = self.store(fuel, copy_cap);
        // The whole call (instantiation included) runs on this thread: its CPU time is the
        // guest's, whatever else the machine is doing.
        store.data_mut().cpu_start = thread_cpu_time();
        let t = Instant::now();
        // Instantiation runs the guest's start code, so it can trap or hit a limit like a
        // call; anything else (an exhausted pool) is the host's problem, not the input's.
        let guest = instantiate(&mut store).map_err(|e| {
            if store.data().limiter.memory_denied
                || e.downcast_ref::<Trap>().is_some()
                || e.downcast_ref::<wasi::Denied>().is_some()
                || e.downcast_ref::<HostCallFuelExhausted>().is_some()
            {
                self.classify(guest_name, e, &store, fuel)
            } else {
                SandboxError::Instantiate {
                    guest: guest_name,
                    message: format!("{e:#}"),
                }
            }
        })?;
        let instantiate_time = t.elapsed();
        let t = Instant::now();
        let result =
            call(&mut store, &guest).map_err(|e| self.classify(guest_name, e, &store, fuel))?;
        let stats = CallStats {
            instantiate: instantiate_time,
            call: t.elapsed(),
            peak_memory: store.data().limiter.peak_memory,
            fuel_budget: fuel,
            fuel_used: store.get_fuel().map_or(0, |left| fuel.saturating_sub(left)),
            host_calls: store.data().host_calls,
        };
        #[cfg(feature = "test-hooks")]
        if let Some(sink) = &self.hooks.stderr {
            let said = store.data().stderr.contents();
            if !said.is_empty() {
                sink(guest_name, &said);
            }
        }
        tracing::debug!(
            guest = guest_name,
            instantiate_us = stats.instantiate.as_micros() as u64,
            call_ms = stats.call.as_millis() as u64,
            peak_memory = stats.peak_memory,
            fuel_used = stats.fuel_used,
            fuel_budget = stats.fuel_budget,
            "guest call"
        );
        Ok((result, stats))
    }

    fn classify(
        &self,
        guest: &'static str,
        e: wasmtime::Error,
        store: &Store<CallState>,
        fuel: u64,
    ) -> SandboxError {
        if let Some(denied) = e.downcast_ref::<wasi::Denied>() {
            return SandboxError::ForbiddenCall {
                guest,
                call: denied.0,
            };
        }
        if is_copy_limit(&e) {
            return SandboxError::CopyLimit {
                guest,
                max: u64::try_from(store.hostcall_fuel()).unwrap_or(u64::MAX),
            };
        }
        if e.downcast_ref::<HostCallFuelExhausted>().is_some() {
            return SandboxError::FuelExhausted {
                guest,
                budget: fuel,
            };
        }
        match e.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => SandboxError::FuelExhausted {
                guest,
                budget: fuel,
            },
            Some(Trap::Interrupt) => {
                let cpu = thread_cpu_time().saturating_sub(store.data().cpu_start);
                deadline_error(guest, self.limits.deadline, cpu)
            }
            Some(Trap::StackOverflow) => SandboxError::StackOverflow {
                guest,
                limit_bytes: self.limits.stack_bytes,
            },
            // Rust's allocator aborts (an `unreachable` trap) when memory cannot grow; the
            // limiter saw the refusal, so name the real cause.
            _ if store.data().limiter.memory_denied => SandboxError::MemoryLimit {
                guest,
                limit_bytes: self.limits.memory_bytes,
            },
            // A guest giving up (see `SandboxError::GaveUp`); an exit with success status
            // returns no result, so it stays a trap below.
            _ if e.downcast_ref::<I32Exit>().is_some_and(|exit| exit.0 != 0) => {
                let said = store.data().stderr.contents();
                let said = String::from_utf8_lossy(&said);
                let said = said.trim();
                // The guest's own prefix repeats the code the host reports.
                let reason = said.strip_prefix("malformed-input: ").unwrap_or(said);
                SandboxError::GaveUp {
                    guest,
                    reason: if reason.is_empty() {
                        "exited with a failing status and said nothing".into()
                    } else {
                        untrusted::truncate(reason.to_string())
                    },
                }
            }
            _ => {
                let said = store.data().stderr.contents();
                let said = String::from_utf8_lossy(&said);
                let said = said.trim();
                SandboxError::Trap {
                    guest,
                    // With the cause chain: a host function's refusal (a WASI limit) is the
                    // cause, under wasmtime's "error while executing" context.
                    message: if said.is_empty() {
                        format!("{e:#}")
                    } else {
                        format!("{e:#}; guest stderr: {said}")
                    },
                }
            }
        }
    }
}

/// This thread's CPU time so far.
fn thread_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// What a wall-clock deadline hit means, from how much of it the call had the CPU.
fn deadline_error(guest: &'static str, deadline: Duration, cpu: Duration) -> SandboxError {
    if cpu.as_secs_f64() >= deadline.as_secs_f64() * CPU_SHARE_FOR_PERMANENT {
        SandboxError::CpuExhausted {
            guest,
            deadline_ms: deadline.as_millis(),
            cpu_ms: cpu.as_millis(),
        }
    } else {
        SandboxError::Timeout {
            guest,
            deadline_ms: deadline.as_millis(),
        }
    }
}

/// wasmtime refuses a lift whose lengths exceed the store's hostcall fuel with an error of a
/// private type; its message is the only handle on it. The hostile guest's oversized-output
/// test (`oversized_output_is_refused_before_it_is_copied`) fails if wasmtime ever rewords it.
fn is_copy_limit(e: &wasmtime::Error) -> bool {
    e.chain()
        .any(|c| c.to_string().contains("fuel allocated for hostcalls"))
}

fn check_output(guest: &'static str, actual: u64, max: u64) -> Result<(), SandboxError> {
    if actual > max {
        return Err(SandboxError::OutputTooLarge { guest, actual, max });
    }
    Ok(())
}

fn engine(limits: &SandboxLimits, metered: bool) -> wasmtime::Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    let n = limits.pool_instances;
    pool.total_component_instances(n)
        .total_core_instances(n * POOL_CORE_INSTANCES_PER_COMPONENT)
        .total_memories(n * POOL_MEMORIES_PER_COMPONENT)
        .total_tables(n * POOL_TABLES_PER_COMPONENT)
        .max_memories_per_component(POOL_MEMORIES_PER_COMPONENT)
        .max_tables_per_component(POOL_TABLES_PER_COMPONENT)
        .max_core_instances_per_component(POOL_CORE_INSTANCES_PER_COMPONENT)
        .max_memory_size(usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX));
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .consume_fuel(metered)
        .epoch_interruption(true)
        .max_wasm_stack(limits.stack_bytes)
        .cranelift_opt_level(wasmtime::OptLevel::Speed)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config)
}

fn spawn_ticker(engine: Engine, stop: Arc<AtomicBool>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("attachd-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{Class, ErrorCode};

    #[test]
    fn a_deadline_hit_with_the_cpu_most_of_the_time_is_permanent_and_a_starved_one_retryable() {
        let deadline = Duration::from_secs(30);
        let busy = deadline_error("thumbnail", deadline, Duration::from_secs(29));
        assert_eq!(busy.code(), "guest-cpu-exhausted");
        assert_eq!(busy.class(), Class::Permanent);
        let starved = deadline_error("thumbnail", deadline, Duration::from_secs(5));
        assert_eq!(starved.code(), "guest-timeout");
        assert_eq!(starved.class(), Class::Retryable);
    }
}
