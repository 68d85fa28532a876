//! The jail's self-test: `attachd __jail-selftest <action> [arg]`, a small program the tests
//! run inside the same jail as ffmpeg to show what it blocks. It prints one line per attempt
//! on stdout, so a test can tell "the jail stopped it at this call" from "it never got
//! there". It runs before the async runtime and logging start, so it makes only the system
//! calls a plain Rust program makes.
//!
//! | action | tries | printed |
//! |---|---|---|
//! | `socket` | a UDP socket | `socket: trying`, then `socket: opened` if nothing stopped it |
//! | `connect ADDR` | a TCP connection | `connect: ok` or `connect: error <errno>` |
//! | `write PATH` | creating and writing a file | `write: ok` or `write: error <errno>` |
//! | `read PATH` | reading a file | `read: ok <bytes>` or `read: error <errno>` |
//! | `fill PATH` | writing zeros to a new file until a write fails, at most 64 MiB | `fill: ok <bytes>`, or `fill: error <errno>` and exit 1 (as ffmpeg does) |
//! | `symlink LINK TARGET` | creating a symbolic link | `symlink: ok` or `symlink: error <errno>` |
//! | `self` | its own pid and parent's, then `prlimit64` and `sched_getaffinity` on pid 0 | `pid: N`, `ppid: N`, `self-prlimit: ok`, `self-affinity: ok` (or `error <errno>`) |
//! | `prlimit PID` | lowering PID's soft `RLIMIT_NOFILE` by one and soft `RLIMIT_FSIZE` (harmless values, but visible) | `prlimit: ok` or `prlimit: error <errno>` |
//! | `affinity PID` | reading PID's CPU affinity | `affinity: ok` or `affinity: error <errno>` |
//! | `kill PID`, `tgkill PID` | signal 0 (a permission check, no signal) to PID | `kill: ok`, `tgkill: ok` or `… error <errno>` |
//! | `pidfd PID` | `pidfd_open` on PID | `pidfd: ok` or `pidfd: error <errno>` |
//! | `ptrace PID` | `PTRACE_SEIZE` of PID (ATTACH's permission check without stopping it) | `ptrace: ok` or `ptrace: error <errno>` |
//! | `vmread PID` | `process_vm_readv` of 8 bytes of PID's memory | `vmread: ok` or `vmread: error <errno>` |
//! | `fsetown PID`, `fiosetown PID` | making PID the `SIGIO` owner of stdout (`fcntl(F_SETOWN)`, `ioctl(FIOSETOWN)`) | `fsetown: ok`, `fiosetown: ok` or `… error <errno>` |
//! | `threads N` | starting up to N idle threads (64 KiB stacks, so memory is not what stops it), held for a second | `threads: ok N`, or `threads: error <errno> after <started>` |
//! | `flood N` | writing N bytes to stdout and N to stderr, 64 KiB at a time, alternating | the bytes (`o` on stdout, `e` on stderr), then exit 0, or exit 1 when a write fails |
//! | `fds` | which fds 0–4095 are open (`fcntl(F_GETFD)`) | `fd: N` per open fd, then `fds: done` |
//! | `support MODE` | (not jailed) the layer detection and the decision for a mode | one line per fact |
//!
//! Every attempt but `self`'s and `support`'s (which report facts) prints `<action>: trying`
//! before the call, so a test can tell a kill by the jail at that call from the program
//! never getting there.

use super::{Jail, Layers, Mode, Support};
use crate::error::ErrorCode;
use std::io::Write;

/// The first argument that selects the self-test instead of the CLI.
pub const SELFTEST_ARG: &str = "__jail-selftest";

/// Runs the self-test when the process was started as one; `None` otherwise. Call it first
/// in `main`.
pub fn main_if_selftest() -> Option<i32> {
    let mut args = std::env::args_os().skip(1);
    if args.next()? != SELFTEST_ARG {
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

/// Prints `<name>: ok` for a system call's return `rc`, or `<name>: error <errno>`.
fn outcome(name: &str, rc: i64) {
    if rc < 0 {
        say(&format!(
            "{name}: error {}",
            errno(&std::io::Error::last_os_error())
        ));
    } else {
        say(&format!("{name}: ok"));
    }
}

/// One attempt on another process, `pid`: announced, made, reported.
fn on_pid(action: &str, pid: libc::pid_t) {
    say(&format!("{action}: trying"));
    // SAFETY (all of them): raw system calls on local buffers of the sizes given.
    let rc: i64 = unsafe {
        match action {
            "prlimit" => {
                let mut rc = 0;
                for resource in [libc::RLIMIT_NOFILE, libc::RLIMIT_FSIZE] {
                    let mut old = libc::rlimit64 {
                        rlim_cur: 0,
                        rlim_max: 0,
                    };
                    let none = std::ptr::null::<libc::rlimit64>();
                    rc = libc::syscall(libc::SYS_prlimit64, pid, resource, none, &mut old);
                    if rc < 0 {
                        break;
                    }
                    // One less, or (unlimited) a finite number no test comes near: the
                    // worker keeps working, and a test can see the change.
                    let new = libc::rlimit64 {
                        rlim_cur: if old.rlim_cur == libc::RLIM64_INFINITY {
                            1 << 50
                        } else {
                            old.rlim_cur.saturating_sub(1)
                        },
                        rlim_max: old.rlim_max,
                    };
                    let none = std::ptr::null_mut::<libc::rlimit64>();
                    rc = libc::syscall(libc::SYS_prlimit64, pid, resource, &new, none);
                    if rc < 0 {
                        break;
                    }
                }
                rc
            }
            "affinity" => {
                let mut set = [0u8; 128];
                libc::syscall(
                    libc::SYS_sched_getaffinity,
                    pid,
                    set.len(),
                    set.as_mut_ptr(),
                )
            }
            "kill" => libc::syscall(libc::SYS_kill, pid, 0),
            "tgkill" => libc::syscall(libc::SYS_tgkill, pid, pid, 0),
            "pidfd" => libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint),
            "ptrace" => libc::syscall(
                libc::SYS_ptrace,
                libc::PTRACE_SEIZE as libc::c_long,
                pid as libc::c_long,
                0 as libc::c_long,
                0 as libc::c_long,
            ),
            "vmread" => {
                let mut buf = [0u8; 8];
                let local = libc::iovec {
                    iov_base: buf.as_mut_ptr().cast(),
                    iov_len: buf.len(),
                };
                // Any address: the permission check comes before the copy (EFAULT would
                // mean it passed).
                let remote = libc::iovec {
                    iov_base: 0x10000 as *mut libc::c_void,
                    iov_len: buf.len(),
                };
                libc::syscall(
                    libc::SYS_process_vm_readv,
                    pid,
                    &local,
                    1 as libc::c_ulong,
                    &remote,
                    1 as libc::c_ulong,
                    0 as libc::c_ulong,
                )
            }
            "fsetown" => i64::from(libc::fcntl(1, libc::F_SETOWN, pid)),
            "fiosetown" => {
                /// `<linux/sockios.h>`; the libc crate does not name it for Linux.
                const FIOSETOWN: libc::c_ulong = 0x8901;
                i64::from(libc::ioctl(1, FIOSETOWN as _, &pid))
            }
            _ => unreachable!("on_pid is called for the actions above"),
        }
    };
    outcome(action, rc);
}

fn run(action: &str, arg: &std::path::Path, arg2: &std::path::Path) -> i32 {
    match action {
        "prlimit" | "affinity" | "kill" | "tgkill" | "pidfd" | "ptrace" | "vmread" | "fsetown"
        | "fiosetown" => match arg.to_string_lossy().parse::<libc::pid_t>() {
            Ok(pid) if pid > 0 => {
                on_pid(action, pid);
                0
            }
            _ => 2,
        },
        "self" => {
            // SAFETY: raw system calls on local buffers of the sizes given.
            unsafe {
                say(&format!("pid: {}", libc::getpid()));
                say(&format!("ppid: {}", libc::getppid()));
                let mut old = libc::rlimit64 {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                let none = std::ptr::null::<libc::rlimit64>();
                let nofile = libc::RLIMIT_NOFILE;
                let rc = libc::syscall(libc::SYS_prlimit64, 0, nofile, none, &mut old);
                outcome("self-prlimit", rc);
                let mut set = [0u8; 128];
                let (len, ptr) = (set.len(), set.as_mut_ptr());
                let rc = libc::syscall(libc::SYS_sched_getaffinity, 0, len, ptr);
                outcome("self-affinity", rc);
            }
            0
        }
        "fill" => {
            /// Past every file-size limit the tests set.
            const FILL_MAX: usize = 64 << 20;
            let chunk = [0u8; 64 * 1024];
            say("fill: trying");
            let mut written = 0;
            let result = std::fs::File::create(arg).and_then(|mut f| {
                while written < FILL_MAX {
                    f.write_all(&chunk)?;
                    written += chunk.len();
                }
                Ok(())
            });
            match result {
                Ok(()) => {
                    say(&format!("fill: ok {written}"));
                    0
                }
                Err(e) => {
                    say(&format!("fill: error {}", errno(&e)));
                    1
                }
            }
        }
        "flood" => {
            let Ok(want) = arg.to_string_lossy().parse::<usize>() else {
                return 2;
            };
            let (out, err) = ([b'o'; 64 * 1024], [b'e'; 64 * 1024]);
            let mut written = 0;
            while written < want {
                let n = (want - written).min(out.len());
                let wrote = std::io::stdout()
                    .lock()
                    .write_all(&out[..n])
                    .and_then(|()| std::io::stderr().lock().write_all(&err[..n]));
                if wrote.is_err() {
                    return 1;
                }
                written += n;
            }
            let _ = std::io::stdout().lock().flush();
            0
        }
        "threads" => {
            /// Small stacks: the address-space limit must not be what stops the threads.
            const STACK: usize = 64 * 1024;
            /// How long the threads live after the report.
            const THREADS_HOLD: std::time::Duration = std::time::Duration::from_secs(1);
            let Ok(want) = arg.to_string_lossy().parse::<usize>() else {
                return 2;
            };
            say("threads: trying");
            let mut started = 0;
            let mut failed = None;
            while started < want {
                // Parked for good: the process exits with them still alive.
                match std::thread::Builder::new()
                    .stack_size(STACK)
                    .spawn(|| loop {
                        std::thread::park();
                    }) {
                    Ok(_) => started += 1,
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            match failed {
                None => say(&format!("threads: ok {started}")),
                Some(e) => say(&format!("threads: error {} after {started}", errno(&e))),
            }
            // Held a moment, so runs a test starts together overlap.
            std::thread::sleep(THREADS_HOLD);
            0
        }
        "fds" => {
            /// Past any fd number a test plants.
            const FDS: libc::c_int = 4096;
            for fd in 0..FDS {
                // SAFETY: F_GETFD reads a flag of a possibly closed fd (EBADF then).
                if unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0 {
                    say(&format!("fd: {fd}"));
                }
            }
            say("fds: done");
            0
        }
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
            // What the jail would run with in this process, under `arg` (a mode): the
            // detection, then the decision. Used by the tests to see the detection in a
            // process where layers are missing, and handy on a new host.
            let mode = arg.to_string_lossy().parse().unwrap_or(Mode::Strict);
            let s = Support::detect();
            say(&format!(
                "landlock_abi: {:?}\nnamespaces: {}\npid_namespace: {}\nseccomp: {}\nroot: {}",
                s.landlock_abi, s.namespaces, s.pid_namespace, s.seccomp, s.root
            ));
            let jail = Layers::choose(&s, mode).and_then(|(layers, warnings)| {
                for w in warnings {
                    say(&format!("warning: {w}"));
                }
                Jail::new(layers)
            });
            match jail {
                Ok(j) => say(&format!("ready: ok {:?}", j.layers())),
                Err(e) => say(&format!("ready: error {} {e}", e.code())),
            }
            0
        }
        _ => 2,
    }
}
