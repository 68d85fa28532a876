//! The jail: the native sandbox ffprobe and ffmpeg run in (every other parser runs in a
//! WebAssembly guest, see [`crate::sandbox`]). It runs one program (ffprobe, ffmpeg, or the
//! jail's own self-test, `selftest`) in a child process that the host locks down between
//! `fork` and `exec`. It knows nothing of video: the caller names the program, its arguments,
//! the files it may read and write, its limits and what to keep of its output ([`Spec`]).
//!
//! | file | concern |
//! |---|---|
//! | `support.rs` | which layers this machine offers ([`Support`]), and which to use ([`Layers`], [`Mode`]) |
//! | `confine.rs` | what the child applies to itself before `exec` (the table below) |
//! | `landlock.rs` | the Landlock rules of one run |
//! | `seccomp.rs` | the system-call allow-list and the filters built from it |
//! | `stdio.rs` | the program's stdout and stderr, and the wait for its end |
//! | `selftest.rs` | a program of ours the tests run inside the jail to show what it blocks |
//!
//! What the child does before `exec`, in this order (each step's reason is at its code):
//!
//! | step | what | never optional? |
//! |---|---|---|
//! | session | `setsid`: a new session and process group, so a timeout kills the whole group | yes |
//! | namespaces | a new network namespace (no interfaces but a downed loopback) and a new user namespace | no: see [`Mode`] |
//! | drop root | as root: no supplementary groups, gid and uid `nobody` | yes, when root |
//! | PID namespace | a new PID namespace; the process forks once more and the new process (pid 1 there) is the one that runs the program, so no pid it can name is the worker's (see `confine::fork_into_pid_namespace`) | no: see [`Mode`] |
//! | parent death | `PR_SET_PDEATHSIG(SIGKILL)`: the child dies with the worker (and pid 1 with the process that forked it) | yes |
//! | inherited fds | every fd above 2 close-on-exec (`close_range(CLOSE_RANGE_CLOEXEC)`): only stdio reaches the program | yes |
//! | rlimits | CPU seconds, address space, file size, open files, tasks (with the user namespace), no core dumps | yes |
//! | no new privs | `PR_SET_NO_NEW_PRIVS`: no setuid or file-capability gain, ever | yes |
//! | Landlock | read the input, the program and the system libraries; write (and re-read) only the output files the host created, never create one; no TCP; no signals or abstract sockets outside | no: see [`Mode`] |
//! | seccomp | an allow-list of system calls; anything else (`socket` included) kills the process; the calls that take a pid only with pid 0, the caller itself (see `seccomp::ALLOWED_COMMON`) | no: see [`Mode`] |
//!
//! The worker itself is made non-dumpable at start-up ([`make_worker_non_dumpable`]): a
//! child that runs under the worker's own uid (a non-root worker) can then neither ptrace
//! it nor open its `/proc/<pid>/mem` or `environ`.
//!
//! Everything that allocates or can fail in interesting ways (the Landlock ruleset, the BPF
//! programs, every path and number) is prepared in the parent before `fork`; the code between
//! `fork` and `exec` makes raw system calls only, which is what POSIX allows after `fork` in
//! a multi-threaded process (async-signal-safe work only). A step that fails writes one static
//! line to the child's stderr and aborts the spawn.
//!
//! The program's stdout and stderr are never files (a file would be one more of
//! `RLIMIT_FSIZE` on disk): `/dev/null`, or pipes the parent reads in the same poll as the
//! pidfd, keeping at most a cap and discarding the rest (see [`Keep`]).
//!
//! The parent waits on a pidfd with the wall-clock deadline; past it, it kills the process
//! group, and it kills the group again before reaping the child on every path, while the
//! unreaped leader still pins its process-group id, so no stray process survives a run and
//! no unrelated group is ever signalled. With the PID namespace the child the parent forked
//! is a watcher that waits for the program's process (both are in the group) and exits with
//! its status, a signal death re-raised as the same signal, so the parent reads the
//! program's ending unchanged.
//!
//! `PR_SET_PDEATHSIG` fires when the *thread* that forked exits, not the process: [`Jail::run`]
//! forks and waits on the same thread, so that thread outlives the child.

mod confine;
mod error;
mod landlock;
mod seccomp;
mod selftest;
mod stdio;
mod support;

pub use confine::{Rlimits, NOBODY};
pub use error::JailError;
pub use selftest::{main_if_selftest, SELFTEST_ARG};
pub use stdio::{Captured, Keep};
pub use support::{Layers, Mode, Support};

use confine::{confine, failed_step_line, Plan};
use landlock::SystemFiles;
use seccomp::{compile_filters, Filters};
use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use stdio::{drain, wait_until, Stream, PIPE_DRAIN_GRACE};

/// One program run.
pub struct Spec<'a> {
    /// Names the run in errors and logs (`ffprobe`, `ffmpeg`).
    pub step: &'static str,
    /// Absolute path of the program.
    pub program: &'a Path,
    pub args: &'a [std::ffi::OsString],
    /// Files the program may read besides its own binary and the system libraries.
    pub read_files: &'a [&'a Path],
    /// Files, created beforehand by the host, that it may write, truncate and read back
    /// (ffmpeg's `+faststart` re-reads the MP4). It may create no file anywhere, so what it
    /// writes to disk in all is at most this many files of `RLIMIT_FSIZE` each; its stdout
    /// and stderr are never files (see [`Keep`]).
    pub write_files: &'a [&'a Path],
    /// Its working directory.
    pub cwd: &'a Path,
    pub timeout: Duration,
    pub rlimits: Rlimits,
    /// What the host keeps of the program's stdout.
    pub stdout: Keep,
    /// What the host keeps of the program's stderr.
    pub stderr: Keep,
}

/// A run that ended before its deadline, however it ended.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub elapsed: Duration,
    /// The pid of the child the worker forked, which was also its process-group id (with the
    /// PID namespace, the watcher; the program ran in its child, in the same group).
    pub pid: i32,
    pub stdout: Captured,
    pub stderr: Captured,
}

/// What the signal that ended a run means, as far as the jail can tell. The caller turns it
/// into its own error (a file-size kill, for one, is a limit of the caller's outputs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Killed {
    /// `SIGSYS`: the only sender here is the seccomp filter's kill action, so the program
    /// made a system call outside the allow-list.
    Forbidden,
    /// `SIGXFSZ`: a write past `RLIMIT_FSIZE`.
    FileSize,
    /// `SIGKILL` or `SIGXCPU`: `RLIMIT_CPU` (soft = hard sends `SIGKILL`), or the kernel's
    /// OOM killer. The jail itself sends `SIGKILL` only at the deadline, which
    /// [`Jail::run`] reports as [`JailError::Timeout`] instead.
    ResourceLimit(i32),
    /// Any other signal: one attachd did not send and no limit explains.
    Crashed(i32),
}

impl Finished {
    /// How a signal ended the run; `None` for a normal exit (any code).
    pub fn killed(&self) -> Option<Killed> {
        Some(match self.status.signal()? {
            libc::SIGSYS => Killed::Forbidden,
            libc::SIGXFSZ => Killed::FileSize,
            signal @ (libc::SIGKILL | libc::SIGXCPU) => Killed::ResourceLimit(signal),
            signal => Killed::Crashed(signal),
        })
    }
}

/// A jail configuration; [`Jail::run`] applies it to one program run. Cheap to share.
pub struct Jail {
    layers: Layers,
    filters: Option<Arc<Filters>>,
    system: SystemFiles,
    /// Set when the worker is root: the uid and gid the child drops to.
    drop_to: Option<u32>,
}

impl Jail {
    /// Compiles the seccomp filters and finds the library directories.
    pub fn new(layers: Layers) -> Result<Jail, JailError> {
        let filters = if layers.seccomp {
            Some(Arc::new(compile_filters(layers.pid_namespace).map_err(
                |e| JailError::Unavailable(format!("compiling the seccomp filter: {e}")),
            )?))
        } else {
            None
        };
        Ok(Jail {
            layers,
            filters,
            system: SystemFiles::find(),
            drop_to: rustix::process::geteuid().is_root().then_some(NOBODY),
        })
    }

    pub fn layers(&self) -> Layers {
        self.layers
    }

    /// The uid the sandboxed programs run as when it differs from the worker's (root drops
    /// to `nobody`): files they must read or write need to belong to it.
    pub fn run_as(&self) -> Option<u32> {
        self.drop_to
    }

    /// Runs `spec` to completion or to its deadline. Blocking; forks on this thread and
    /// waits on it (see the module docs on the parent-death signal).
    pub fn run(&self, spec: Spec<'_>) -> Result<Finished, JailError> {
        let step = spec.step;
        let spawn_err = |reason: String| JailError::Spawn { step, reason };
        let ruleset = if self.layers.landlock {
            Some(
                self.system
                    .ruleset(spec.program, spec.read_files, spec.write_files)
                    .map_err(&spawn_err)?,
            )
        } else {
            None
        };
        let plan = Plan {
            parent: rustix::process::getpid(),
            namespaces: self.layers.namespaces,
            pid_namespace: self.layers.pid_namespace,
            drop_to: self.drop_to,
            rlimits: spec.rlimits,
            landlock: ruleset.as_ref().map(|fd| fd.as_raw_fd()),
            filters: self.filters.clone(),
        };
        let io_err = |what: &str, e: std::io::Error| JailError::Io(format!("{what}: {e}"));
        let (mut stdout, child_stdout) =
            Stream::new(spec.stdout).map_err(|e| io_err("stdout pipe", e))?;
        let (mut stderr, child_stderr) =
            Stream::new(spec.stderr).map_err(|e| io_err("stderr pipe", e))?;
        let mut cmd = Command::new(spec.program);
        cmd.args(spec.args)
            // Nothing of the worker's environment (credentials, database URLs) reaches ffmpeg.
            .env_clear()
            .env("AV_LOG_FORCE_NOCOLOR", "1")
            .current_dir(spec.cwd)
            .stdin(Stdio::null())
            .stdout(child_stdout)
            .stderr(child_stderr);
        // SAFETY: `confine` makes raw system calls only (no allocation, no locks), reads only
        // the `Plan` prepared before fork, and reports failure through an errno.
        unsafe {
            cmd.pre_exec(move || confine(&plan));
        }
        let started = Instant::now();
        let spawned = cmd.spawn();
        // The command holds the pipes' write ends: closed here, so the pipes end (EOF) when
        // the program's copies close, not when this function returns.
        drop(cmd);
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                drain(
                    &mut [&mut stdout, &mut stderr],
                    Instant::now() + PIPE_DRAIN_GRACE,
                );
                let detail = failed_step_line(&stderr.finish().bytes);
                return Err(spawn_err(format!("{e}{detail}")));
            }
        };
        // The child has its own copy; the parent's is no longer needed.
        drop(ruleset);
        let pid = child.id() as i32;
        let exited = wait_until(pid, started + spec.timeout, &mut [&mut stdout, &mut stderr]);
        // Kill the whole group before reaping the leader: while it is an unreaped zombie its
        // pid (the group id) cannot be reused, so this never signals an unrelated group.
        if let Some(group) = rustix::process::Pid::from_raw(pid) {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
        let status = child
            .wait()
            .map_err(|e| JailError::Io(format!("waiting for {step}: {e}")))?;
        let elapsed = started.elapsed();
        // What the program wrote just before it ended is still in the pipes; every writer is
        // dead now, so this ends at their EOF (or the grace, see [`PIPE_DRAIN_GRACE`]).
        drain(
            &mut [&mut stdout, &mut stderr],
            Instant::now() + PIPE_DRAIN_GRACE,
        );
        match exited {
            Ok(true) => Ok(Finished {
                status,
                elapsed,
                pid,
                stdout: stdout.finish(),
                stderr: stderr.finish(),
            }),
            Ok(false) => Err(JailError::Timeout {
                step,
                limit_ms: spec.timeout.as_millis(),
            }),
            Err(e) => Err(JailError::Io(format!("waiting for {step}: {e}"))),
        }
    }
}

/// Makes the worker non-dumpable (`PR_SET_DUMPABLE` 0), for the whole life of the process:
/// no core file, and a process of the same uid (ffmpeg's child, when the worker is not root)
/// can no longer ptrace it or open its `/proc/<pid>/mem`, `environ` or `fd/`, which then
/// belong to root. Call it first thing at start-up, in every command that may run ffmpeg
/// (the self-test, which runs inside the jail, must not: `prctl` with this option is not
/// on its allow-list). Debuggers and profilers need root to attach to the worker afterwards.
pub fn make_worker_non_dumpable() -> std::io::Result<()> {
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .map_err(std::io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worker_start_up_makes_the_process_non_dumpable() {
        make_worker_non_dumpable().unwrap();
        // SAFETY: PR_GET_DUMPABLE takes no arguments.
        assert_eq!(unsafe { libc::prctl(libc::PR_GET_DUMPABLE) }, 0);
    }

    #[test]
    fn a_signal_ending_is_read_as_what_sends_that_signal_here() {
        // A raw wait status: an exit code in the second byte, a killing signal in the first.
        let ended = |raw: i32| {
            Finished {
                status: ExitStatus::from_raw(raw),
                elapsed: Duration::ZERO,
                pid: 1,
                stdout: Captured::default(),
                stderr: Captured::default(),
            }
            .killed()
        };
        assert_eq!(ended(0), None);
        assert_eq!(ended(1 << 8), None);
        assert_eq!(ended(libc::SIGSYS), Some(Killed::Forbidden));
        assert_eq!(ended(libc::SIGXFSZ), Some(Killed::FileSize));
        assert_eq!(
            ended(libc::SIGKILL),
            Some(Killed::ResourceLimit(libc::SIGKILL))
        );
        assert_eq!(
            ended(libc::SIGXCPU),
            Some(Killed::ResourceLimit(libc::SIGXCPU))
        );
        assert_eq!(ended(libc::SIGSEGV), Some(Killed::Crashed(libc::SIGSEGV)));
    }
}
