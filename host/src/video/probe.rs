//! The sandbox probe: `attachd __sandbox-probe <action> [arg]`, a small program the tests run
//! inside the same sandbox as ffmpeg to show what it blocks. It prints one line per attempt
//! on stdout, so a test can tell "the sandbox stopped it at this call" from "it never got
//! there". It runs before the async runtime and logging start, so it makes only the system
//! calls a plain Rust program makes.
//!
//! | action | tries | printed |
//! |---|---|---|
//! | `socket` | a UDP socket | `socket: trying`, then `socket: opened` if nothing stopped it |
//! | `connect ADDR` | a TCP connection | `connect: ok` or `connect: error <errno>` |
//! | `write PATH` | creating and writing a file | `write: ok` or `write: error <errno>` |
//! | `read PATH` | reading a file | `read: ok <bytes>` or `read: error <errno>` |
//! | `symlink LINK TARGET` | creating a symbolic link | `symlink: ok` or `symlink: error <errno>` |
//! | `support MODE` | (not sandboxed) the layer detection and the decision for a mode | one line per fact |

use std::io::Write;

/// The first argument that selects the probe instead of the CLI.
pub const PROBE_ARG: &str = "__sandbox-probe";

/// Runs the probe when the process was started as one; `None` otherwise. Call it first in
/// `main`.
pub fn main_if_probe() -> Option<i32> {
    let mut args = std::env::args_os().skip(1);
    if args.next()? != PROBE_ARG {
        return None;
    }
    let action = args.next().unwrap_or_default();
    let arg = args.next().unwrap_or_default();
    let arg2 = args.next().unwrap_or_default();
    Some(run(
        &action.to_string_lossy(),
        std::path::Path::new(&arg),
        std::path::Path::new(&arg2),
    ))
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn errno(e: &std::io::Error) -> String {
    e.raw_os_error()
        .map_or_else(|| e.to_string(), |n| n.to_string())
}

fn run(action: &str, arg: &std::path::Path, arg2: &std::path::Path) -> i32 {
    match action {
        "symlink" => {
            say("symlink: trying");
            match std::os::unix::fs::symlink(arg2, arg) {
                Ok(()) => say("symlink: ok"),
                Err(e) => say(&format!("symlink: error {}", errno(&e))),
            }
            0
        }
        "socket" => {
            say("socket: trying");
            match std::net::UdpSocket::bind("127.0.0.1:0") {
                Ok(_) => say("socket: opened"),
                Err(e) => say(&format!("socket: error {}", errno(&e))),
            }
            0
        }
        "connect" => {
            say("connect: trying");
            let addr = arg.to_string_lossy().parse::<std::net::SocketAddr>();
            match addr {
                Ok(addr) => {
                    match std::net::TcpStream::connect_timeout(
                        &addr,
                        std::time::Duration::from_secs(2),
                    ) {
                        Ok(_) => say("connect: ok"),
                        Err(e) => say(&format!("connect: error {}", errno(&e))),
                    }
                    0
                }
                Err(_) => 2,
            }
        }
        "write" => {
            say("write: trying");
            match std::fs::File::create(arg).and_then(|mut f| f.write_all(b"escaped")) {
                Ok(()) => say("write: ok"),
                Err(e) => say(&format!("write: error {}", errno(&e))),
            }
            0
        }
        "read" => {
            say("read: trying");
            match std::fs::read(arg) {
                Ok(data) => say(&format!("read: ok {}", data.len())),
                Err(e) => say(&format!("read: error {}", errno(&e))),
            }
            0
        }
        "support" => {
            // What the sandbox would run with in this process, under `arg` (a mode): the
            // detection, then the decision. Used by the tests to see the detection in a
            // process where layers are missing, and handy on a new host.
            let mode = arg.to_string_lossy().parse().unwrap_or(super::Mode::Strict);
            let cfg = super::VideoConfig {
                mode,
                ..super::VideoConfig::default()
            };
            let video = super::Video::new(cfg);
            let s = video.support();
            say(&format!(
                "landlock_abi: {:?}\nnamespaces: {}\nseccomp: {}\nroot: {}",
                s.landlock_abi, s.namespaces, s.seccomp, s.root
            ));
            for w in video.warnings() {
                say(&format!("warning: {w}"));
            }
            match video.jail() {
                Ok(j) => say(&format!("ready: ok {:?}", j.layers())),
                Err(e) => say(&format!(
                    "ready: error {} {e}",
                    crate::error::ErrorCode::code(&e)
                )),
            }
            0
        }
        _ => 2,
    }
}
