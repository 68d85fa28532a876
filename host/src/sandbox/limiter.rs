//! The per-call resource limiter: caps linear memory and tables, and remembers whether a
//! growth was refused so that the trap that follows (Rust's allocator aborts when memory
//! cannot grow) is reported as `guest-memory-limit` rather than a generic trap.

/// Tables hold function references; the guests need a few thousand entries. 100,000 stops a
/// guest that grows tables as a memory side channel.
pub const MAX_TABLE_ELEMENTS: usize = 100_000;
/// A component instantiates a handful of core instances, tables and memories (the main
/// module plus small shim modules); these bound a malformed or hostile component.
pub const MAX_INSTANCES: usize = 32;
pub const MAX_TABLES: usize = 32;
pub const MAX_MEMORIES: usize = 4;

#[derive(Debug)]
pub struct CallLimiter {
    memory_max: usize,
    /// Largest linear memory size granted during this call, for metrics and benchmarks.
    pub peak_memory: usize,
    /// Set when a memory growth beyond `memory_max` was refused.
    pub memory_denied: bool,
}

impl CallLimiter {
    pub fn new(memory_max: u64) -> Self {
        CallLimiter {
            memory_max: usize::try_from(memory_max).unwrap_or(usize::MAX),
            peak_memory: 0,
            memory_denied: false,
        }
    }
}

impl wasmtime::ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_max {
            self.memory_denied = true;
            return Ok(false);
        }
        self.peak_memory = self.peak_memory.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }
    fn tables(&self) -> usize {
        MAX_TABLES
    }
    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}
