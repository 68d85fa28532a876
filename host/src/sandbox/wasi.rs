//! The WASI a guest gets: only the interfaces a Rust guest's standard library imports, and
//! none of the calls that block the host thread.
//!
//! A guest call runs on a host thread; wasmtime's epoch checks (the wall-clock backstop) run
//! only in guest code. A guest that sleeps (`subscribe-duration` + `block`) or polls would sit
//! in the host, where no check runs, holding its pool slot, its queue slot and its job's lock
//! for as long as it asked. So those functions are replaced by ones that trap at once with
//! [`Denied`], which the sandbox reports as `guest-forbidden-call`. What remains cannot block:
//! stdin is closed, stdout and stderr are in-memory sinks (stderr capped), the clocks are
//! frozen, and there is no filesystem or network to wait on.

use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker};
use wasmtime::Engine;

/// The version of the WASI 0.2 interfaces wasmtime-wasi defines; a guest built against any
/// earlier 0.2.x binds to it by semver.
const WASI_VERSION: &str = "0.2.12";

/// Functions replaced by a trap: each can block the calling host thread.
const BLOCKING: &[(&str, &str)] = &[
    ("wasi:io/poll", "poll"),
    ("wasi:io/poll", "[method]pollable.block"),
    ("wasi:clocks/monotonic-clock", "subscribe-duration"),
    ("wasi:clocks/monotonic-clock", "subscribe-instant"),
    ("wasi:io/streams", "[method]input-stream.blocking-read"),
    ("wasi:io/streams", "[method]input-stream.blocking-skip"),
    ("wasi:io/streams", "[method]output-stream.blocking-splice"),
];

/// The WASI interfaces a guest may import: what Rust's standard library for wasm32-wasip2
/// links (start-up, stdio for a panic message, hash-map seeds, clocks it never sees move). A
/// component importing anything else (sockets, HTTP, a host interface of another program) is
/// refused at load: it was not built to run here.
const ALLOWED_IMPORTS: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "attach:media/types",
];

/// A guest called a denied WASI function (the name is the function's).
#[derive(Debug)]
pub struct Denied(pub &'static str);

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` is denied to guests: it would block the host",
            self.0
        )
    }
}

impl std::error::Error for Denied {}

/// Links WASI 0.2 into `linker`, then replaces every [`BLOCKING`] function with a trap.
pub fn add_to_linker<T: wasmtime_wasi::WasiView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    linker.allow_shadowing(true);
    for &(interface, func) in BLOCKING {
        let mut instance = linker.instance(&format!("{interface}@{WASI_VERSION}"))?;
        instance.func_new(func, move |_, _, _, _| Err(Denied(func).into()))?;
    }
    linker.allow_shadowing(false);
    Ok(())
}

/// Refuses a component that imports an interface outside [`ALLOWED_IMPORTS`].
pub fn check_imports(engine: &Engine, component: &Component) -> Result<(), String> {
    let ty = component.component_type();
    for (name, item) in ty.imports(engine) {
        let unversioned = name.split('@').next().unwrap_or(name);
        let allowed = matches!(
            item.ty,
            ComponentItem::ComponentInstance(_) | ComponentItem::Type(_)
        ) && ALLOWED_IMPORTS.contains(&unversioned);
        if !allowed {
            return Err(format!(
                "imports `{name}`, which guests are not given (allowed: WASI cli, io, clocks, \
                 random and filesystem types, with no preopened directory)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_denied_function_belongs_to_an_allowed_interface() {
        for (interface, _) in BLOCKING {
            assert!(ALLOWED_IMPORTS.contains(interface), "{interface}");
        }
    }
}
