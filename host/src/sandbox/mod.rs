//! The WebAssembly sandbox: every step that parses an upload's bytes runs here, in a fresh
//! component instance with its own memory cap, deadline and stack cap.
//!
//! | knob                 | default            | env                      | enforced by                |
//! |----------------------|--------------------|--------------------------|----------------------------|
//! | linear memory        | 1 GiB              | `ATTACH_GUEST_MEMORY`    | [`CallLimiter`]            |
//! | deadline (wall/CPU)  | 10 s               | `ATTACH_GUEST_TIMEOUT_MS`| epoch interruption         |
//! | wasm stack           | 1 MiB              | `ATTACH_GUEST_STACK`     | `Config::max_wasm_stack`   |
//! | output per call      | 32 MiB             | `ATTACH_MAX_OUTPUT_BYTES`| checked after the call     |
//! | instance slots       | 32                 | -                        | pooling allocator          |
//!
//! Why a fresh instance per call: nothing one upload does to a guest's memory (a corrupted
//! heap, a planted value) can reach the next upload, and the pooling allocator makes a fresh
//! instance cost microseconds. Why epochs rather than fuel: a calls runs on a blocking thread
//! of its own, so wall-clock time is CPU time, and epoch checks cost less than fuel metering
//! in the decoders' hot loops. Guests get WASI with no preopened directories, no network, no
//! environment, no arguments, and clocks frozen at zero (they need none, and a frozen clock
//! gives a guest nothing to time side channels with).

mod bindings;
mod error;
mod guests;
mod limiter;

pub use bindings::{
    Finding, Fit, Format, Kind, Limit, LimitHit, Limits, MediaError, ProbeInfo, Rendered, Report,
    Thumbnails, VariantSpec, Verdict,
};
pub use error::SandboxError;
pub use guests::{hex, WIT_VERSION};

use crate::config::{GuestPaths, SandboxLimits};
use bindings::prober::ProberPre;
use bindings::scanner::ScannerPre;
use bindings::thumbnailer::ThumbnailerPre;
use limiter::CallLimiter;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

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

/// Per-store state: WASI (all of it denied but stdio sinks) and the limiter.
struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: CallLimiter,
    stderr: MemoryOutputPipe,
}

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
}

/// One engine and the three pre-linked guests. Cheap to share (`Arc`), safe to call from many
/// threads at once: each call gets its own store and instance.
pub struct Sandbox {
    engine: Engine,
    limits: SandboxLimits,
    deadline_ticks: u64,
    probe: ProberPre<CallState>,
    scan: ScannerPre<CallState>,
    thumbnail: ThumbnailerPre<CallState>,
    ticker_stop: Arc<AtomicBool>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

impl Sandbox {
    /// Builds the engine, loads and verifies the guests in `paths.dir`, and pre-links them.
    pub fn load(paths: &GuestPaths, limits: SandboxLimits) -> Result<Sandbox, SandboxError> {
        let engine = engine(&limits).map_err(|e| SandboxError::Load {
            guest: "engine",
            message: format!("{e:#}"),
        })?;
        let mut linker = Linker::<CallState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(|e| SandboxError::Load {
            guest: "wasi",
            message: format!("{e:#}"),
        })?;
        let cache = paths.cache_dir.as_deref();
        let pre = |name: &'static str, world: &str| {
            let component = guests::load(&engine, &paths.dir, cache, name, world)?;
            linker
                .instantiate_pre(&component)
                .map_err(|e| SandboxError::Load {
                    guest: name,
                    message: format!("does not fit attach:media/{world}@{WIT_VERSION}: {e:#}"),
                })
        };
        let incompatible = |name: &'static str| {
            move |e: wasmtime::Error| SandboxError::Load {
                guest: name,
                message: format!("exports do not match this host's bindings: {e:#}"),
            }
        };
        let probe = ProberPre::new(pre("probe", "prober")?).map_err(incompatible("probe"))?;
        let scan = ScannerPre::new(pre("scan", "scanner")?).map_err(incompatible("scan"))?;
        let thumbnail = ThumbnailerPre::new(pre("thumbnail", "thumbnailer")?)
            .map_err(incompatible("thumbnail"))?;

        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_ticker(engine.clone(), ticker_stop.clone()).map_err(|e| SandboxError::Load {
            guest: "engine",
            message: format!("cannot start the epoch ticker: {e}"),
        })?;
        let deadline_ticks = (limits.deadline.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        Ok(Sandbox {
            engine,
            limits,
            deadline_ticks,
            probe,
            scan,
            thumbnail,
            ticker_stop,
        })
    }

    pub fn limits(&self) -> &SandboxLimits {
        &self.limits
    }

    /// Reads the headers of `data` in the probe guest.
    pub fn probe(
        &self,
        data: &[u8],
        limits: Limits,
    ) -> Result<(Result<ProbeInfo, MediaError>, CallStats), SandboxError> {
        self.call(
            "probe",
            |store| self.probe.instantiate(store),
            |store, guest| guest.attach_media_probe().call_probe(store, data, limits),
        )
    }

    /// Runs the heuristic scan of `data` in the scan guest.
    pub fn scan(
        &self,
        data: &[u8],
        declared_mime: &str,
        limits: Limits,
    ) -> Result<(Result<Report, MediaError>, CallStats), SandboxError> {
        let max_output = limits.max_output_bytes;
        let (report, stats) = self.call(
            "scan",
            |store| self.scan.instantiate(store),
            |store, guest| {
                guest
                    .attach_media_scan()
                    .call_scan(store, data, declared_mime, limits)
            },
        )?;
        if let Ok(r) = &report {
            let size: u64 = r
                .findings
                .iter()
                .map(|f| (f.rule.len() + f.detail.len()) as u64)
                .sum();
            check_output("scan", size, max_output)?;
        }
        Ok((report, stats))
    }

    /// Renders `specs` from `data` in the thumbnail guest.
    pub fn thumbnail(
        &self,
        data: &[u8],
        specs: &[VariantSpec],
        limits: Limits,
    ) -> Result<(Result<Thumbnails, MediaError>, CallStats), SandboxError> {
        let max_output = limits.max_output_bytes;
        let (thumbs, stats) = self.call(
            "thumbnail",
            |store| self.thumbnail.instantiate(store),
            |store, guest| {
                guest
                    .attach_media_thumbnail()
                    .call_render(store, data, specs, limits)
            },
        )?;
        if let Ok(t) = &thumbs {
            let size = t.variants.iter().map(|v| v.data.len() as u64).sum::<u64>()
                + t.placeholder.len() as u64;
            check_output("thumbnail", size, max_output)?;
        }
        Ok((thumbs, stats))
    }

    /// Instantiates the thumbnail guest and drops it: what a fresh instance per call costs.
    pub fn instantiate_thumbnail_only(&self) -> Result<Duration, SandboxError> {
        let mut store = self.store();
        let t = Instant::now();
        self.thumbnail
            .instantiate(&mut store)
            .map_err(|e| SandboxError::Instantiate {
                guest: "thumbnail",
                message: format!("{e:#}"),
            })?;
        Ok(t.elapsed())
    }

    fn store(&self) -> Store<CallState> {
        let stderr = MemoryOutputPipe::new(STDERR_CAPTURE_BYTES);
        let wasi = WasiCtx::builder()
            .stderr(stderr.clone())
            .wall_clock(FrozenClock)
            .monotonic_clock(FrozenClock)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let mut store = Store::new(
            &self.engine,
            CallState {
                wasi,
                table: ResourceTable::new(),
                limiter: CallLimiter::new(self.limits.memory_bytes),
                stderr,
            },
        );
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(self.deadline_ticks);
        store.epoch_deadline_trap();
        store
    }

    /// One guest call in a fresh store: instantiate, call, and turn whatever stopped the guest
    /// into a typed [`SandboxError`].
    fn call<G, R>(
        &self,
        guest_name: &'static str,
        instantiate: impl FnOnce(&mut Store<CallState>) -> wasmtime::Result<G>,
        call: impl FnOnce(&mut Store<CallState>, &G) -> wasmtime::Result<R>,
    ) -> Result<(R, CallStats), SandboxError> {
        let mut store = self.store();
        let t = Instant::now();
        // Instantiation runs the guest's start code, so it can trap or hit a limit like a
        // call; anything else (an exhausted pool) is the host's problem, not the input's.
        let guest = instantiate(&mut store).map_err(|e| {
            if store.data().limiter.memory_denied || e.downcast_ref::<Trap>().is_some() {
                self.classify(guest_name, e, &store)
            } else {
                SandboxError::Instantiate {
                    guest: guest_name,
                    message: format!("{e:#}"),
                }
            }
        })?;
        let instantiate_time = t.elapsed();
        let t = Instant::now();
        let result = call(&mut store, &guest).map_err(|e| self.classify(guest_name, e, &store))?;
        let stats = CallStats {
            instantiate: instantiate_time,
            call: t.elapsed(),
            peak_memory: store.data().limiter.peak_memory,
        };
        tracing::debug!(
            guest = guest_name,
            instantiate_us = stats.instantiate.as_micros() as u64,
            call_ms = stats.call.as_millis() as u64,
            peak_memory = stats.peak_memory,
            "guest call"
        );
        Ok((result, stats))
    }

    fn classify(
        &self,
        guest: &'static str,
        e: wasmtime::Error,
        store: &Store<CallState>,
    ) -> SandboxError {
        match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => SandboxError::Timeout {
                guest,
                deadline_ms: self.limits.deadline.as_millis(),
            },
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
            _ => {
                let said = store.data().stderr.contents();
                let said = String::from_utf8_lossy(&said);
                let said = said.trim();
                SandboxError::Trap {
                    guest,
                    message: if said.is_empty() {
                        format!("{e}")
                    } else {
                        format!("{e}; guest stderr: {said}")
                    },
                }
            }
        }
    }
}

fn check_output(guest: &'static str, actual: u64, max: u64) -> Result<(), SandboxError> {
    if actual > max {
        return Err(SandboxError::OutputTooLarge { guest, actual, max });
    }
    Ok(())
}

fn engine(limits: &SandboxLimits) -> wasmtime::Result<Engine> {
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
