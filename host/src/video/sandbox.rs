//! The native sandbox: runs one program (ffprobe, ffmpeg, or the sandbox probe the tests use)
//! in a child process that the host locks down between `fork` and `exec`.
//!
//! What the child does before `exec`, in this order (each step's reason is at its code):
//!
//! | step | what | never optional? |
//! |---|---|---|
//! | session | `setsid`: a new session and process group, so a timeout kills the whole group | yes |
//! | namespaces | a new network namespace (no interfaces but a downed loopback) and a new user namespace | no: see [`Mode`] |
//! | drop root | as root: no supplementary groups, gid and uid `nobody` | yes, when root |
//! | PID namespace | a new PID namespace; the process forks once more and the new process (pid 1 there) is the one that runs the program, so no pid it can name is the worker's (see [`fork_into_pid_namespace`]) | no: see [`Mode`] |
//! | parent death | `PR_SET_PDEATHSIG(SIGKILL)`: the child dies with the worker (and pid 1 with the process that forked it) | yes |
//! | inherited fds | every fd above 2 close-on-exec (`close_range(CLOSE_RANGE_CLOEXEC)`): only stdio reaches the program | yes |
//! | rlimits | CPU seconds, address space, file size, open files, tasks (with the user namespace), no core dumps | yes |
//! | no new privs | `PR_SET_NO_NEW_PRIVS`: no setuid or file-capability gain, ever | yes |
//! | Landlock | read the input, the program and the system libraries; write (and re-read) only the output files the host created, never create one; no TCP; no signals or abstract sockets outside | no: see [`Mode`] |
//! | seccomp | an allow-list of system calls; anything else (`socket` included) kills the process; the calls that take a pid only with pid 0, the caller itself (see [`ALLOWED_COMMON`]) | no: see [`Mode`] |
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

use super::error::VideoError;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The uid and gid a root worker runs the sandboxed programs as: `nobody` owns no files, so
/// even with every other layer gone, ordinary permissions keep it out of the worker's data.
pub const NOBODY: u32 = 65534;

/// The Landlock ABI whose rights attachd asks for (Linux 6.12: filesystem rights including
/// truncate and device ioctls, TCP bind/connect, and signal and abstract-socket scoping). On an
/// older kernel the crate keeps the subset the kernel knows (best effort); the ABI actually
/// available is reported by [`Support`].
const LANDLOCK_TARGET: landlock::ABI = landlock::ABI::V6;

/// Directories of shared libraries the sandboxed programs may read (not write, not execute:
/// `mmap` of a library needs read access only). Only those that exist are used.
const LIBRARY_DIRS: &[&str] = &["/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib"];
/// Single files the dynamic loader reads.
const LOADER_FILES: &[&str] = &["/etc/ld.so.cache"];

/// How often the fallback waiter (kernels without pidfd, before 5.3) checks the child.
const FALLBACK_POLL: Duration = Duration::from_millis(10);

/// One read from a stdio pipe: what the kernel's default pipe buffer holds (64 KiB), so a
/// program writing flat out is drained in one call per wake-up.
const PIPE_READ_CHUNK: usize = 64 * 1024;

/// How long the host keeps reading stdio pipes after the run ended (and its process group
/// was killed): only until every write end is closed, which is at once unless a process
/// outside the group still holds one (the layers make that impossible; this bounds it if
/// one is missing). What is still unread then is dropped with the pipe.
const PIPE_DRAIN_GRACE: Duration = Duration::from_secs(1);

/// What happens when a layer is missing on this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Refuse to run ffmpeg unless every layer is in force (the default): video jobs fail
    /// with the retryable `video-sandbox-unavailable`, and the start-up log says why.
    Strict,
    /// Run with the layers that exist, and warn loudly at start-up naming each missing one.
    BestEffort,
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "strict" => Ok(Mode::Strict),
            "best-effort" => Ok(Mode::BestEffort),
            _ => Err(format!("{s:?}: expected strict or best-effort")),
        }
    }
}

/// What the running kernel and process offer, found by trying each layer once.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Support {
    /// The kernel's Landlock ABI version; `None` when Landlock is not built in or not enabled.
    pub landlock_abi: Option<u32>,
    /// Whether a child could create its user and network namespaces (as root: the network
    /// namespace before and the user namespace after dropping to `nobody`).
    pub namespaces: bool,
    /// Why not, when it could not.
    pub namespaces_error: Option<String>,
    /// Whether a child could create a PID namespace (in its user namespace, or as root) and
    /// fork its pid 1 there.
    pub pid_namespace: bool,
    /// Why not, when it could not.
    pub pid_namespace_error: Option<String>,
    /// Whether seccomp filters exist here and attachd has an allow-list for this architecture.
    pub seccomp: bool,
    /// Whether the worker runs as root (then the child drops to `nobody`).
    pub root: bool,
}

impl Support {
    /// Probes this machine. Forks short-lived children to try the namespaces.
    pub fn detect() -> Support {
        let root = rustix::process::geteuid().is_root();
        let namespaces_error = probe_namespaces(root, true, false).err();
        // Unprivileged, only a user namespace grants the right to create a PID namespace.
        let pid_namespace_error = probe_namespaces(root, namespaces_error.is_none(), true).err();
        Support {
            landlock_abi: landlock_abi(),
            namespaces: namespaces_error.is_none(),
            namespaces_error,
            pid_namespace: pid_namespace_error.is_none(),
            pid_namespace_error,
            seccomp: seccomp_available(),
            root,
        }
    }
}

/// The optional layers a [`Jail`] puts in force. Session, parent-death signal, rlimits, no new
/// privileges and (as root) dropping to `nobody` are always applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Layers {
    pub landlock: bool,
    /// The user and network namespaces.
    pub namespaces: bool,
    /// The PID namespace (as a non-root worker it needs `namespaces`' user namespace).
    pub pid_namespace: bool,
    pub seccomp: bool,
}

impl Layers {
    pub const ALL: Layers = Layers {
        landlock: true,
        namespaces: true,
        pid_namespace: true,
        seccomp: true,
    };

    /// The layers to use on a machine with `support`: all of them, or (best effort) those
    /// available, with one warning per missing layer. Strict mode refuses a machine that lacks
    /// any.
    pub fn choose(support: &Support, mode: Mode) -> Result<(Layers, Vec<String>), VideoError> {
        let mut missing = Vec::new();
        if support.landlock_abi.is_none() {
            missing.push(
                "Landlock (kernel 5.13+ with landlock in the lsm= list): ffmpeg could read \
                 every file the worker can and execute any program"
                    .to_string(),
            );
        }
        if !support.namespaces {
            missing.push(format!(
                "user and network namespaces ({}): ffmpeg keeps the host's network \
                 namespace; seccomp still kills it on socket()",
                support
                    .namespaces_error
                    .as_deref()
                    .unwrap_or("not permitted")
            ));
        }
        if !support.pid_namespace {
            missing.push(format!(
                "a PID namespace ({}): ffmpeg shares the worker's pid numbers; seccomp still \
                 lets it name no process but itself",
                support
                    .pid_namespace_error
                    .as_deref()
                    .unwrap_or("not permitted")
            ));
        }
        if !support.seccomp {
            missing.push(format!(
                "seccomp (no filter support, or no allow-list for {}): ffmpeg may make any \
                 system call",
                std::env::consts::ARCH
            ));
        }
        if !missing.is_empty() && mode == Mode::Strict {
            return Err(VideoError::SandboxUnavailable(format!(
                "missing {}; set ATTACH_VIDEO_SANDBOX=best-effort to run without it",
                missing.join("; ")
            )));
        }
        Ok((
            Layers {
                landlock: support.landlock_abi.is_some(),
                namespaces: support.namespaces,
                pid_namespace: support.pid_namespace,
                seccomp: support.seccomp,
            },
            missing,
        ))
    }
}

/// Resource limits for one run (`setrlimit`, soft = hard, so the first breach is final).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimits {
    /// CPU seconds across all threads: the backstop if the wall-clock timer cannot act.
    pub cpu_seconds: u64,
    /// Address space (virtual memory) in bytes.
    pub address_space_bytes: u64,
    /// Largest file the process may write, in bytes: each of its output files. Its stdout
    /// and stderr are pipes or `/dev/null` (see [`Keep`]), which the limit does not cover
    /// and which store nothing on disk.
    pub file_size_bytes: u64,
    /// Open file descriptors.
    pub open_files: u64,
    /// Tasks (processes and threads) in the program's user namespace, `RLIMIT_NPROC`: set
    /// only with the user namespace, where the kernel counts them per namespace (see
    /// [`confine`]).
    pub tasks: u64,
}

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

/// What the host keeps of a sandboxed program's stdout or stderr. The stream is never a
/// file: a file the program holds open is one more file of `RLIMIT_FSIZE` on disk (an
/// attacker's run wrote 256 MiB to each). It is `/dev/null` or a pipe the host reads while
/// it waits for the program, keeping at most the bytes named here and discarding the rest,
/// so the program never blocks on a full pipe and the deadline alone ends a flood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Nothing: the stream is `/dev/null`.
    Nothing,
    /// The first this many bytes (a report read whole: [`Captured::total`] beyond it means
    /// the report was too large).
    Head(usize),
    /// The last this many bytes (a program's error message is its last lines).
    Tail(usize),
}

/// What the host kept of one stdio stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    /// At most the [`Keep`] cap.
    pub bytes: Vec<u8>,
    /// Every byte the host read from the stream, kept or discarded.
    pub total: u64,
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

impl Finished {
    /// Maps death by a signal to the error it means; `Ok` for a normal exit (any code).
    /// `max_output` names the file-size cap for `SIGXFSZ`.
    pub fn signal_error(&self, step: &'static str, max_output: u64) -> Result<(), VideoError> {
        let Some(signal) = self.status.signal() else {
            return Ok(());
        };
        Err(match signal {
            // The only sender of SIGSYS here is the seccomp filter's kill action.
            libc::SIGSYS => VideoError::Violation { step },
            libc::SIGXFSZ => VideoError::Limit {
                limit: super::error::VideoLimit::OutputBytes,
                actual: max_output.saturating_add(1),
                max: max_output,
            },
            // RLIMIT_CPU (soft = hard sends SIGKILL), or the kernel's OOM killer. attachd
            // itself sends SIGKILL only at the deadline, which is reported as a timeout.
            libc::SIGKILL | libc::SIGXCPU => VideoError::ResourceLimit { step, signal },
            _ => VideoError::Crashed { step, signal },
        })
    }
}

/// The compiled seccomp filters, shared by every run.
struct Filters {
    /// `clone3` → ENOSYS, everything else passes to the next filter. glibc tries `clone3`
    /// first for a new thread and falls back to `clone` on ENOSYS; `clone3`'s flags sit in
    /// memory where a filter cannot see them, `clone`'s are an argument the allow-list checks.
    enosys: seccompiler::BpfProgram,
    /// `sched_getaffinity` naming another process → EPERM, everything else passes. A
    /// refusal, not a kill: libgomp's start-up asks for its own main thread's affinity by
    /// thread id (`pthread_getaffinity_np`), a number not known when the filter is compiled
    /// (without the PID namespace), and copes with a refusal.
    foreign_affinity: seccompiler::BpfProgram,
    /// The allow-list; anything else kills the process.
    allow: seccompiler::BpfProgram,
}

/// A sandbox configuration; [`Jail::run`] applies it to one program run. Cheap to share.
pub struct Jail {
    layers: Layers,
    filters: Option<Arc<Filters>>,
    library_dirs: Vec<PathBuf>,
    loader_files: Vec<PathBuf>,
    /// Set when the worker is root: the uid and gid the child drops to.
    drop_to: Option<u32>,
}

impl Jail {
    /// Compiles the seccomp filters and finds the library directories.
    pub fn new(layers: Layers) -> Result<Jail, VideoError> {
        let filters = if layers.seccomp {
            Some(Arc::new(compile_filters(layers.pid_namespace).map_err(
                |e| VideoError::SandboxUnavailable(format!("compiling the seccomp filter: {e}")),
            )?))
        } else {
            None
        };
        let existing = |list: &[&str]| -> Vec<PathBuf> {
            list.iter()
                .map(PathBuf::from)
                .filter(|p| p.exists())
                .collect()
        };
        Ok(Jail {
            layers,
            filters,
            library_dirs: existing(LIBRARY_DIRS),
            loader_files: existing(LOADER_FILES),
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
    pub fn run(&self, spec: Spec<'_>) -> Result<Finished, VideoError> {
        let step = spec.step;
        let spawn_err = |reason: String| VideoError::Spawn { step, reason };
        let ruleset = if self.layers.landlock {
            Some(self.ruleset(&spec).map_err(&spawn_err)?)
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
        let io_err = |what: &str, e: std::io::Error| VideoError::Io(format!("{what}: {e}"));
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
                let detail = read_sandbox_line(&stderr.finish().bytes);
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
            .map_err(|e| VideoError::Io(format!("waiting for {step}: {e}")))?;
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
            Ok(false) => Err(VideoError::Timeout {
                step,
                limit_ms: spec.timeout.as_millis(),
            }),
            Err(e) => Err(VideoError::Io(format!("waiting for {step}: {e}"))),
        }
    }

    /// The Landlock ruleset for one run, as the fd `landlock_restrict_self` takes.
    fn ruleset(&self, spec: &Spec<'_>) -> Result<OwnedFd, String> {
        use landlock::{
            Access, AccessFs, AccessNet, BitFlags, PathBeneath, PathFd, Ruleset, RulesetAttr,
            RulesetCreatedAttr, Scope,
        };
        let abi = LANDLOCK_TARGET;
        let read_dir = AccessFs::from_read(abi);
        let read_file: BitFlags<AccessFs> = AccessFs::ReadFile.into();
        let exec = AccessFs::ReadFile | AccessFs::Execute;
        // Rights on one existing file only: no right on any directory to make, remove or
        // rename an entry, so the number of files it writes is fixed by the host.
        let write = (AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::Truncate)
            & AccessFs::from_all(abi);

        let interpreter = elf_interpreter(spec.program);
        let mut rules: Vec<(&Path, BitFlags<AccessFs>)> = Vec::new();
        rules.extend(self.library_dirs.iter().map(|d| (d.as_path(), read_dir)));
        rules.extend(self.loader_files.iter().map(|f| (f.as_path(), read_file)));
        // The program, and the dynamic loader the kernel opens to run it: the only files
        // the child may execute, so an `execve` it is allowed can only start ffmpeg again.
        rules.push((spec.program, exec));
        if let Some(interp) = &interpreter {
            rules.push((interp.as_path(), exec));
        }
        rules.extend(spec.read_files.iter().map(|f| (*f, read_file)));
        rules.extend(spec.write_files.iter().map(|f| (*f, write)));

        let e = |what: &str, err: &dyn std::fmt::Display| format!("landlock: {what}: {err}");
        let mut rs = Ruleset::default()
            .handle_access(AccessFs::from_all(abi))
            .map_err(|x| e("filesystem rights", &x))?
            .handle_access(AccessNet::from_all(abi))
            .map_err(|x| e("network rights", &x))?
            .scope(Scope::from_all(abi))
            .map_err(|x| e("scopes", &x))?
            .create()
            .map_err(|x| e("create", &x))?;
        for (path, access) in rules {
            let name = path.display().to_string();
            let fd = PathFd::new(path).map_err(|x| e(&name, &x))?;
            rs = rs
                .add_rule(PathBeneath::new(fd, access))
                .map_err(|x| e(&name, &x))?;
        }
        Option::<OwnedFd>::from(rs)
            .ok_or_else(|| "landlock: the kernel does not support Landlock".to_string())
    }
}

/// Everything the child needs between fork and exec, prepared by the parent.
struct Plan {
    parent: rustix::process::Pid,
    namespaces: bool,
    pid_namespace: bool,
    drop_to: Option<u32>,
    rlimits: Rlimits,
    landlock: Option<RawFd>,
    filters: Option<Arc<Filters>>,
}

/// The steps of [`confine`], named in the line a failing step writes to stderr.
#[derive(Clone, Copy)]
enum Step {
    InheritedFds,
    Session,
    Namespaces,
    DropRoot,
    PidNamespace,
    ParentDeath,
    Rlimits,
    NoNewPrivs,
    Landlock,
    Seccomp,
}

impl Step {
    fn line(self) -> &'static [u8] {
        match self {
            Step::InheritedFds => b"attachd-sandbox: marking inherited fds close-on-exec failed\n",
            Step::Session => b"attachd-sandbox: setsid failed\n",
            Step::Namespaces => b"attachd-sandbox: creating user/network namespaces failed\n",
            Step::DropRoot => b"attachd-sandbox: dropping root to nobody failed\n",
            Step::PidNamespace => {
                b"attachd-sandbox: creating the PID namespace or its pid 1 failed\n"
            }
            Step::ParentDeath => b"attachd-sandbox: the worker exited before the child started\n",
            Step::Rlimits => b"attachd-sandbox: setrlimit failed\n",
            Step::NoNewPrivs => b"attachd-sandbox: PR_SET_NO_NEW_PRIVS failed\n",
            Step::Landlock => b"attachd-sandbox: landlock_restrict_self failed\n",
            Step::Seccomp => b"attachd-sandbox: installing the seccomp filter failed\n",
        }
    }
}

/// Runs in the child between fork and exec: raw system calls only (see the module docs).
fn confine(plan: &Plan) -> std::io::Result<()> {
    let fail = |step: Step, errno: rustix::io::Errno| {
        // SAFETY: fd 2 is the child's stderr, open for the whole of pre_exec.
        let stderr = unsafe { BorrowedFd::borrow_raw(2) };
        let _ = rustix::io::write(stderr, step.line());
        std::io::Error::from_raw_os_error(errno.raw_os_error())
    };
    // Only stdio crosses the exec: any fd the worker holds without O_CLOEXEC (its own, or one
    // a library or its parent opened that way) would otherwise be open in the program. The
    // fds this jail uses itself (the Landlock ruleset, std's error pipe, the watcher's
    // pidfd) are used before the exec or are close-on-exec already.
    cloexec_from(3).map_err(|e| fail(Step::InheritedFds, e))?;
    // A session (and process group) of its own: the deadline kills the group, and a
    // terminal's job control never reaches it.
    rustix::process::setsid().map_err(|e| fail(Step::Session, e))?;
    enter_namespaces(plan.namespaces, plan.pid_namespace, plan.drop_to)
        .map_err(|(step, e)| fail(step, e))?;
    // After the credential changes above, which clear it.
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .map_err(|e| fail(Step::ParentDeath, e))?;
    // The worker may have died between fork and the prctl: then nobody would kill us.
    if rustix::process::getppid() != Some(plan.parent) {
        return Err(fail(Step::ParentDeath, rustix::io::Errno::SRCH));
    }
    if plan.pid_namespace {
        // Returns only in the new process, pid 1 of the namespace; this one waits for it.
        fork_into_pid_namespace().map_err(|e| fail(Step::PidNamespace, e))?;
    }
    use rustix::process::{setrlimit, Resource, Rlimit};
    let limit = |n: u64| Rlimit {
        current: Some(n),
        maximum: Some(n),
    };
    let r = &plan.rlimits;
    for (resource, value) in [
        (Resource::Core, 0),
        (Resource::Cpu, r.cpu_seconds),
        (Resource::As, r.address_space_bytes),
        (Resource::Fsize, r.file_size_bytes),
        (Resource::Nofile, r.open_files),
    ] {
        setrlimit(resource, limit(value)).map_err(|e| fail(Step::Rlimits, e))?;
    }
    // Threads in a PID namespace still take host pids: without a cap a compromised ffmpeg
    // could exhaust them for the whole host. Since Linux 5.14 (ucounts) `RLIMIT_NPROC` is
    // checked against the tasks of the caller's uid *in its user namespace* (the watcher,
    // pid 1 and its threads: every jail has its own namespace, so concurrent jobs, all
    // `nobody` as root, do not share the cap), and at each ancestor namespace against the
    // limit its creator had when creating it. So it is set here, after `unshare`: set
    // before, it would become the limit on the sum of every jail's tasks under `nobody`.
    // Without the user namespace the count is the uid's across the host (every jail's, and
    // a non-root worker's own threads): no per-run cap is possible then, and the inherited
    // limit stays.
    if plan.namespaces {
        setrlimit(Resource::Nproc, limit(r.tasks)).map_err(|e| fail(Step::Rlimits, e))?;
    }
    rustix::thread::set_no_new_privs(true).map_err(|e| fail(Step::NoNewPrivs, e))?;
    if let Some(fd) = plan.landlock {
        // SAFETY: a raw system call on an fd the parent keeps open across the fork.
        let rc = unsafe { libc::syscall(libc::SYS_landlock_restrict_self, fd, 0u32) };
        if rc != 0 {
            return Err(fail(
                Step::Landlock,
                rustix::io::Errno::from_io_error(&std::io::Error::last_os_error())
                    .unwrap_or(rustix::io::Errno::INVAL),
            ));
        }
    }
    if let Some(filters) = &plan.filters {
        // The allow-list last: once it is in, `seccomp` itself is refused.
        for program in [&filters.enosys, &filters.foreign_affinity, &filters.allow] {
            if seccompiler::apply_filter(program).is_err() {
                return Err(fail(Step::Seccomp, rustix::io::Errno::PERM));
            }
        }
    }
    Ok(())
}

/// The highest fd count [`cloexec_from`]'s fallback walks: `fs.nr_open`'s default, the
/// kernel's own ceiling on `RLIMIT_NOFILE` unless an administrator raised it.
const FALLBACK_MAX_FDS: libc::rlim_t = 1 << 20;

/// Marks every fd from `first` up close-on-exec: `close_range` with `CLOSE_RANGE_CLOEXEC`
/// (Linux 5.11), else one `fcntl` per fd up to the open-files limit. Raw system calls only:
/// it runs after fork.
fn cloexec_from(first: u32) -> Result<(), rustix::io::Errno> {
    /// `<linux/close_range.h>`.
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: raw system calls on this process's own fd table; only flags change.
    unsafe {
        if libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) == 0 {
            return Ok(());
        }
        let errno = std::io::Error::last_os_error().raw_os_error();
        // ENOSYS: no close_range (before 5.9); EINVAL: no CLOEXEC flag (before 5.11).
        if errno != Some(libc::ENOSYS) && errno != Some(libc::EINVAL) {
            return Err(rustix::io::Errno::from_raw_os_error(
                errno.unwrap_or(libc::EINVAL),
            ));
        }
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(rustix::io::Errno::INVAL);
        }
        // An fd above the soft limit may have been opened before the limit was lowered, so
        // up to the hard limit, itself at most `fs.nr_open` (1 Mi by default; a host that
        // raised it, on a kernel before 5.11, is covered only up to that default).
        let top = lim.rlim_max.min(FALLBACK_MAX_FDS) as libc::c_int;
        for fd in first as libc::c_int..top {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
    Ok(())
}

/// Namespaces and, as root, the switch to `nobody`. Raw system calls only: it runs after fork.
///
/// As root the network namespace comes first (root may create one without a user namespace),
/// then the credentials drop, then the user namespace is created as `nobody`; creating it
/// first would leave `nobody` unmapped inside it, and setuid would fail. As any other user
/// both come at once: the user namespace is what lets an unprivileged process own a network
/// namespace.
///
/// The PID namespace comes last, owned by the new user namespace (whose capabilities the
/// process holds there); as root without the user namespace it comes before the drop, while
/// the process still may. `unshare(CLONE_NEWPID)` moves only the caller's *future* children
/// into it: [`fork_into_pid_namespace`] makes that child.
fn enter_namespaces(
    namespaces: bool,
    pid_namespace: bool,
    drop_to: Option<u32>,
) -> Result<(), (Step, rustix::io::Errno)> {
    use rustix::process::{Gid, Uid};
    use rustix::thread::{
        set_thread_groups, set_thread_res_gid, set_thread_res_uid, unshare_unsafe, UnshareFlags,
    };
    let new_pid = || {
        // SAFETY: as below.
        unsafe { unshare_unsafe(UnshareFlags::NEWPID) }.map_err(|e| (Step::PidNamespace, e))
    };
    // SAFETY (all unshare calls): the child has one thread and shares no fd table.
    match drop_to {
        Some(id) => {
            if namespaces {
                unsafe { unshare_unsafe(UnshareFlags::NEWNET) }
                    .map_err(|e| (Step::Namespaces, e))?;
            }
            if pid_namespace && !namespaces {
                new_pid()?;
            }
            let (uid, gid) = (Uid::from_raw_unchecked(id), Gid::from_raw_unchecked(id));
            set_thread_groups(&[]).map_err(|e| (Step::DropRoot, e))?;
            set_thread_res_gid(gid, gid, gid).map_err(|e| (Step::DropRoot, e))?;
            set_thread_res_uid(uid, uid, uid).map_err(|e| (Step::DropRoot, e))?;
            if namespaces {
                unsafe { unshare_unsafe(UnshareFlags::NEWUSER) }
                    .map_err(|e| (Step::Namespaces, e))?;
            }
        }
        None if namespaces => {
            unsafe { unshare_unsafe(UnshareFlags::NEWUSER | UnshareFlags::NEWNET) }
                .map_err(|e| (Step::Namespaces, e))?;
        }
        None => {}
    }
    if pid_namespace && (namespaces || drop_to.is_none()) {
        new_pid()?;
    }
    Ok(())
}

/// The watcher's thread name (`comm`, 15 bytes at most), as `ps` shows it.
const WATCHER_NAME: &std::ffi::CStr = c"attachd-watcher";

/// The exit code of a watcher that lost its child (`wait4` failed other than by EINTR); no
/// program of the sandbox's exits with it on purpose (ffmpeg uses 0, 1 and 255).
const WATCHER_LOST_CHILD: i32 = 125;

/// Forks the process that goes on to `exec`: after `unshare(CLONE_NEWPID)` it is pid 1 of the
/// new PID namespace, so every pid it can name is one of its own threads (it may not fork),
/// and the worker, the watcher and every other process are out of its reach by number.
/// Returns in that new process only; the calling process becomes its watcher and never
/// returns (see [`watch`]). Raw system calls only: it runs after fork.
///
/// The new process is in the caller's session and process group, so the deadline's group
/// kill reaches both; it dies with the watcher (`PR_SET_PDEATHSIG`), which dies with the
/// worker.
fn fork_into_pid_namespace() -> Result<(), rustix::io::Errno> {
    let last = || {
        rustix::io::Errno::from_io_error(&std::io::Error::last_os_error())
            .unwrap_or(rustix::io::Errno::INVAL)
    };
    // Not inherited by the new process: a signal handler the worker installed must never run
    // in the watcher when the child exits (nothing of the worker is usable after fork).
    // SAFETY: `signal` is async-signal-safe; SIG_DFL installs no code.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
    // A pidfd on the watcher, for the new process to see whether the watcher died before
    // its parent-death signal was armed (in the new namespace `getppid` is 0 either way).
    // SAFETY: a raw system call; the fd is close-on-exec.
    let watcher = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0 as libc::c_uint) };
    if watcher < 0 {
        return Err(last());
    }
    let watcher = watcher as libc::c_int;
    // A raw fork (`clone` with only the exit signal): glibc's `fork` would run the worker's
    // atfork handlers, which is not async-signal-safe.
    // SAFETY: the child gets a copy of this single-threaded process and only makes raw
    // system calls before `exec`.
    let (flags, none) = (libc::SIGCHLD as libc::c_ulong, 0 as libc::c_ulong);
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, none, none, none, none) };
    if pid < 0 {
        let e = last();
        // SAFETY: closes the fd opened above.
        unsafe { libc::close(watcher) };
        return Err(e);
    }
    if pid > 0 {
        watch(pid as libc::pid_t);
    }
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
    let mut fds = [libc::pollfd {
        fd: watcher,
        events: libc::POLLIN,
        revents: 0,
    }];
    // SAFETY: polls one valid fd without blocking; then closes it.
    let (ready, _) = unsafe { (libc::poll(fds.as_mut_ptr(), 1, 0), libc::close(watcher)) };
    if ready != 0 {
        // Readable (the watcher has exited) or an error: either way nobody would kill us.
        return Err(rustix::io::Errno::SRCH);
    }
    Ok(())
}

/// The watcher: waits for `child` and leaves as it did, a signal death re-raised as the same
/// signal, so the worker's reading of the status (`sandbox-violation` for SIGSYS,
/// `output-too-large` for SIGXFSZ, …) is the program's. Raw system calls only.
fn watch(child: libc::pid_t) -> ! {
    // Hold no file: the spawn's error pipe (the worker reads it until every copy is closed,
    // so one kept here would block the spawn until the program ended), the program's stdio
    // and the Landlock ruleset are the child's alone.
    // SAFETY: raw system calls on this process's own fd table.
    unsafe {
        if libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) != 0 {
            // Kernels before 5.9: one by one, up to the open-files limit.
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
            let top = lim.rlim_cur.min(libc::c_int::MAX as libc::rlim_t) as libc::c_int;
            for fd in 0..top {
                libc::close(fd);
            }
        }
        // A copy of the worker's memory: never inspectable, never dumped (the re-raised
        // signal below may be one whose default action dumps core).
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
        // Named for `ps`, instead of the worker thread it was forked from.
        libc::prctl(libc::PR_SET_NAME, WATCHER_NAME.as_ptr(), 0, 0, 0);
    }
    let mut status: libc::c_int = 0;
    loop {
        // SAFETY: waits for this process's own child.
        let rc = unsafe { libc::wait4(child, &mut status, libc::__WALL, std::ptr::null_mut()) };
        if rc == child {
            break;
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            // SAFETY: leaves without running the worker's atexit handlers.
            unsafe { libc::_exit(WATCHER_LOST_CHILD) };
        }
    }
    if libc::WIFSIGNALED(status) {
        let signal = libc::WTERMSIG(status);
        // SAFETY: async-signal-safe calls on this process: the default action, unblocked.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            libc::kill(libc::getpid(), signal);
            // Only a signal whose default action is to ignore gets here.
            libc::_exit(128 + signal);
        }
    }
    // SAFETY: as above.
    unsafe { libc::_exit(libc::WEXITSTATUS(status)) }
}

/// Tries the namespace steps (as root, with the drop to `nobody`) in a throwaway child: the
/// user and network namespaces when `namespaces`, the PID namespace and its pid 1 when
/// `pid_namespace`.
fn probe_namespaces(root: bool, namespaces: bool, pid_namespace: bool) -> Result<(), String> {
    /// The child's exit codes: 0 all well; 2 setresuid failed; 3 the pid-1 fork failed; 4 the
    /// forked process is not pid 1; 100 + errno, `unshare` failed.
    const DROP_FAILED: i32 = 2;
    const FORK_FAILED: i32 = 3;
    const NOT_PID_1: i32 = 4;
    const UNSHARE_FAILED: i32 = 100;
    let drop_to = root.then_some(NOBODY);
    // SAFETY: the child makes raw system calls only and leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    if pid == 0 {
        let mut code = match enter_namespaces(namespaces, pid_namespace, drop_to) {
            Ok(()) => 0,
            Err((Step::DropRoot, _)) => DROP_FAILED,
            Err((_, e)) => UNSHARE_FAILED + e.raw_os_error().clamp(0, 100),
        };
        if code == 0 && pid_namespace {
            code = match fork_into_pid_namespace() {
                // SAFETY: getpid has no preconditions.
                Ok(()) if unsafe { libc::getpid() } == 1 => 0,
                Ok(()) => NOT_PID_1,
                Err(_) => FORK_FAILED,
            };
        }
        // SAFETY: leaves the forked child without running the parent's atexit handlers.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for the child just forked.
    let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
    if rc != pid || !libc::WIFEXITED(status) {
        return Err("the probe child did not exit normally".into());
    }
    match libc::WEXITSTATUS(status) {
        0 => Ok(()),
        DROP_FAILED => Err("setresuid to nobody failed".into()),
        FORK_FAILED => Err("forking pid 1 of the new PID namespace failed".into()),
        NOT_PID_1 => Err("the process forked into the PID namespace is not pid 1".into()),
        n if n >= UNSHARE_FAILED => Err(format!(
            "unshare: {}",
            std::io::Error::from_raw_os_error(n - UNSHARE_FAILED)
        )),
        n => Err(format!("probe child exited {n}")),
    }
}

/// The kernel's Landlock ABI version, asked directly (the crate keeps this private on
/// purpose: it wants programs to ask for rights, not versions; attachd only reports it).
fn landlock_abi() -> Option<u32> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: the documented version query: no attributes, size 0.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    u32::try_from(v).ok().filter(|&v| v > 0)
}

fn seccomp_available() -> bool {
    // SAFETY: PR_GET_SECCOMP takes no arguments; EINVAL means the kernel has no seccomp.
    let mode = unsafe { libc::prctl(libc::PR_GET_SECCOMP) };
    mode >= 0 && target_arch().is_some()
}

fn target_arch() -> Option<seccompiler::TargetArch> {
    seccompiler::TargetArch::try_from(std::env::consts::ARCH).ok()
}

/// The host's end of one stdio stream and what it kept so far (see [`Keep`]).
struct Stream {
    /// The read end, non-blocking; `None` for `/dev/null` and after EOF.
    pipe: Option<std::io::PipeReader>,
    keep: Keep,
    got: Captured,
}

impl Stream {
    /// The host's end and what the child gets as the stream.
    fn new(keep: Keep) -> std::io::Result<(Stream, Stdio)> {
        let stream = |pipe| Stream {
            pipe,
            keep,
            got: Captured::default(),
        };
        if keep == Keep::Nothing {
            return Ok((stream(None), Stdio::null()));
        }
        // Both ends close-on-exec; the spawn moves the write end onto fd 1 or 2.
        let (reader, writer) = std::io::pipe()?;
        rustix::io::ioctl_fionbio(&reader, true)?;
        Ok((stream(Some(reader)), Stdio::from(writer)))
    }

    /// Reads what the pipe holds now, keeping what [`Keep`] says; at EOF (or an error)
    /// the pipe is dropped.
    fn read_available(&mut self, buf: &mut [u8]) {
        while let Some(pipe) = &mut self.pipe {
            match pipe.read(buf) {
                Ok(0) => self.pipe = None,
                Ok(n) => self.push(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => self.pipe = None,
            }
        }
    }

    fn push(&mut self, data: &[u8]) {
        self.got.total = self.got.total.saturating_add(data.len() as u64);
        let bytes = &mut self.got.bytes;
        match self.keep {
            Keep::Nothing => {}
            Keep::Head(max) => {
                let room = max.saturating_sub(bytes.len());
                bytes.extend_from_slice(&data[..room.min(data.len())]);
            }
            Keep::Tail(max) => {
                let data = &data[data.len().saturating_sub(max)..];
                bytes.extend_from_slice(data);
                // Trimmed once it doubles, so the cost stays linear and the memory 2 × max.
                if bytes.len() > max.saturating_mul(2) {
                    bytes.drain(..bytes.len() - max);
                }
            }
        }
    }

    /// What was kept, cut to the cap.
    fn finish(mut self) -> Captured {
        if let Keep::Tail(max) = self.keep {
            let cut = self.got.bytes.len().saturating_sub(max);
            self.got.bytes.drain(..cut);
        }
        self.got
    }
}

/// Polls `streams`' pipes (and `pidfd`, when given) until one is ready or `timeout`; reads
/// every ready pipe. Returns whether `pidfd` was ready.
fn poll_streams(
    pidfd: Option<&OwnedFd>,
    streams: &mut [&mut Stream],
    timeout: Duration,
    buf: &mut [u8],
) -> std::io::Result<bool> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let ts = Timespec::try_from(timeout).unwrap_or(Timespec {
        tv_sec: i64::MAX,
        tv_nsec: 0,
    });
    let mut ready = vec![false; streams.len()];
    let pid_ready;
    {
        let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(3);
        if let Some(fd) = pidfd {
            fds.push(PollFd::new(fd, PollFlags::IN));
        }
        // Which stream each pipe entry is, after the pidfd's entry.
        let mut which = Vec::with_capacity(streams.len());
        for (i, s) in streams.iter().enumerate() {
            if let Some(pipe) = &s.pipe {
                fds.push(PollFd::new(pipe, PollFlags::IN));
                which.push(i);
            }
        }
        if fds.is_empty() {
            std::thread::sleep(timeout);
            return Ok(false);
        }
        match poll(&mut fds, Some(&ts)) {
            Ok(_) => {}
            Err(e) if e == rustix::io::Errno::INTR => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        let skip = usize::from(pidfd.is_some());
        pid_ready = pidfd.is_some() && !fds[0].revents().is_empty();
        for (fd, &i) in fds[skip..].iter().zip(&which) {
            // Readable, or closed (HUP) or broken (ERR): a read tells which.
            ready[i] = !fd.revents().is_empty();
        }
    }
    for (i, s) in streams.iter_mut().enumerate() {
        if ready[i] {
            s.read_available(buf);
        }
    }
    Ok(pid_ready)
}

/// Reads `streams` until every pipe is at EOF or `until` passes.
fn drain(streams: &mut [&mut Stream], until: Instant) {
    let mut buf = vec![0u8; PIPE_READ_CHUNK];
    while streams.iter().any(|s| s.pipe.is_some()) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || poll_streams(None, streams, left, &mut buf).is_err() {
            return;
        }
    }
}

/// Waits until the child `pid` has exited (left unreaped) or `deadline` passes, reading its
/// stdio pipes all the while (a program blocked on a full pipe would never exit).
/// `Ok(true)`: exited; `Ok(false)`: still running at the deadline.
fn wait_until(pid: i32, deadline: Instant, streams: &mut [&mut Stream]) -> std::io::Result<bool> {
    use rustix::process::{pidfd_open, Pid, PidfdFlags};
    let pid = Pid::from_raw(pid).ok_or_else(|| std::io::Error::other("pid 0"))?;
    let mut buf = vec![0u8; PIPE_READ_CHUNK];
    if let Ok(pidfd) = pidfd_open(pid, PidfdFlags::empty()) {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            if poll_streams(Some(&pidfd), streams, left, &mut buf)? {
                return Ok(true);
            }
        }
    }
    // Kernels before 5.3: look without reaping (WNOWAIT) until it has exited, reading the
    // pipes in between.
    use rustix::process::{waitid, WaitId, WaitIdOptions};
    loop {
        let opts = WaitIdOptions::EXITED | WaitIdOptions::NOWAIT | WaitIdOptions::NOHANG;
        if waitid(WaitId::Pid(pid), opts)?.is_some() {
            return Ok(true);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        poll_streams(None, streams, left.min(FALLBACK_POLL), &mut buf)?;
    }
}

/// The `attachd-sandbox:` line a failing confinement step wrote, for the spawn error.
fn read_sandbox_line(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .find(|l| l.starts_with("attachd-sandbox:"))
        .map(|l| format!(" ({l})"))
        .unwrap_or_default()
}

/// The dynamic loader named in a 64-bit little-endian ELF's PT_INTERP, if it has one.
/// A static binary (or anything else) has none and needs no second executable rule.
pub fn elf_interpreter(program: &Path) -> Option<PathBuf> {
    /// Program headers are near the start; 64 KiB bounds the read for any real binary.
    const HEAD: u64 = 64 * 1024;
    const PT_INTERP: u32 = 3;
    let mut head = Vec::new();
    File::open(program)
        .ok()?
        .take(HEAD)
        .read_to_end(&mut head)
        .ok()?;
    let u16_at = |o: usize| head.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| {
        head.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |o: usize| {
        head.get(o..o + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    // ELF magic, 64-bit class, little-endian data.
    if head.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let phoff = usize::try_from(u64_at(0x20)?).ok()?;
    let phentsize = usize::from(u16_at(0x36)?);
    let phnum = usize::from(u16_at(0x38)?);
    for i in 0..phnum {
        let ph = phoff.checked_add(i.checked_mul(phentsize)?)?;
        if u32_at(ph)? != PT_INTERP {
            continue;
        }
        let offset = usize::try_from(u64_at(ph + 8)?).ok()?;
        let size = usize::try_from(u64_at(ph + 32)?).ok()?;
        let raw = head.get(offset..offset.checked_add(size)?)?;
        let path = raw.split(|&b| b == 0).next()?;
        return Some(PathBuf::from(std::str::from_utf8(path).ok()?));
    }
    None
}

/// System calls the sandboxed programs may make, on every architecture attachd has a list
/// for. Found by tracing ffmpeg 5.1 and ffprobe transcoding and probing H.264, VP9, AAC and
/// Opus in MP4, WebM, Matroska and AVI (`strace -f -c`), plus what a Rust program's runtime
/// needs to start (the sandbox probe). Deliberately absent: every socket call, `fork`,
/// `vfork`, `ptrace`, `mount`, `bpf`, `io_uring_*`, `userfaultfd`, `perf_event_open`,
/// `keyctl`, `unshare`, `setns`, `seccomp`, and `prctl` but for the read-only options in
/// [`ALLOWED_PRCTL`].
///
/// No call here takes a pid, so none reaches another process: every call that names a
/// process or thread by number ([`REACH_OTHER_PROCESSES`]: `kill`, `tgkill`, `tkill`,
/// `pidfd_open`, `process_vm_readv`, `kcmp`, the `sched_*` and priority setters, …) is
/// absent, and an `abort()` (glibc's `tgkill` to itself) ends as a seccomp kill, which is as
/// final. The calls that take a pid and that ffmpeg needs are allowed by [`compile_filters`]
/// for the caller itself only: `prlimit64` with pid 0 (glibc's `getrlimit`/`setrlimit`),
/// `sched_getaffinity` with pid 0 (or 1, itself, in the PID namespace; any other pid is
/// refused with EPERM, see `Filters`); and `fcntl` and `ioctl` without the commands that
/// make the kernel signal a pid (`F_SETOWN`, `F_SETOWN_EX`, `F_SETSIG`, `FIOSETOWN`,
/// `SIOCSPGRP`, `TIOCSPGRP`).
/// (`c_long` is `i64` on every architecture with an allow-list, which is what seccompiler
/// takes.)
const ALLOWED_COMMON: &[libc::c_long] = &[
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_pread64,
    libc::SYS_pwrite64,
    libc::SYS_openat,
    libc::SYS_close,
    libc::SYS_fstat,
    libc::SYS_newfstatat,
    libc::SYS_statx,
    libc::SYS_lseek,
    libc::SYS_ftruncate,
    libc::SYS_fsync,
    libc::SYS_fdatasync,
    libc::SYS_getdents64,
    libc::SYS_faccessat,
    libc::SYS_faccessat2,
    libc::SYS_readlinkat,
    libc::SYS_getcwd,
    libc::SYS_dup,
    libc::SYS_dup3,
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mprotect,
    libc::SYS_mremap,
    libc::SYS_madvise,
    libc::SYS_brk,
    libc::SYS_rt_sigaction,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_sigaltstack,
    libc::SYS_getpid,
    libc::SYS_gettid,
    libc::SYS_getppid,
    libc::SYS_getuid,
    libc::SYS_geteuid,
    libc::SYS_getgid,
    libc::SYS_getegid,
    libc::SYS_uname,
    libc::SYS_sysinfo,
    libc::SYS_getrusage,
    libc::SYS_set_tid_address,
    libc::SYS_set_robust_list,
    libc::SYS_rseq,
    libc::SYS_getrandom,
    libc::SYS_futex,
    libc::SYS_sched_yield,
    libc::SYS_clock_gettime,
    libc::SYS_clock_getres,
    libc::SYS_clock_nanosleep,
    libc::SYS_nanosleep,
    libc::SYS_gettimeofday,
    libc::SYS_ppoll,
    // Library constructors ffmpeg links (libselinux, libnuma users, libgcrypt's secure
    // memory): file-system type probes, NUMA policy and page locking of its own memory,
    // bounded by RLIMIT_MEMLOCK.
    libc::SYS_statfs,
    libc::SYS_fstatfs,
    libc::SYS_get_mempolicy,
    libc::SYS_set_mempolicy,
    libc::SYS_mlock,
    libc::SYS_munlock,
    libc::SYS_exit,
    libc::SYS_exit_group,
    // The one exec of the program itself (std calls it after the filter is in). Landlock
    // lets the child execute nothing but that program and its loader.
    libc::SYS_execve,
    // Allowed here, answered ENOSYS by the first filter (see `Filters`).
    libc::SYS_clone3,
];

/// The legacy calls x86-64 still has and glibc or the Rust runtime still make there.
#[cfg(target_arch = "x86_64")]
const ALLOWED_ARCH: &[libc::c_long] = &[
    libc::SYS_open,
    libc::SYS_stat,
    libc::SYS_lstat,
    libc::SYS_access,
    libc::SYS_readlink,
    libc::SYS_dup2,
    libc::SYS_poll,
    libc::SYS_arch_prctl,
    libc::SYS_time,
];
#[cfg(not(target_arch = "x86_64"))]
const ALLOWED_ARCH: &[libc::c_long] = &[];

/// `prctl` options allowed: libcap's start-up reads the capability bounding set, and threads
/// name themselves. None of them changes what the process may do.
const ALLOWED_PRCTL: &[libc::c_int] =
    &[libc::PR_CAPBSET_READ, libc::PR_SET_NAME, libc::PR_GET_NAME];

/// `fcntl` commands refused: each makes the kernel send a signal (`SIGIO`, `SIGURG`, or the
/// one `F_SETSIG` picks) to a pid or process group the caller names, which the kernel allows
/// for a same-uid target. Values from `<asm-generic/fcntl.h>`.
const FORBIDDEN_FCNTL: &[u64] = &[
    libc::F_SETOWN as u64,
    /* F_SETSIG */ 10,
    /* F_SETOWN_EX */ 15,
];

/// `ioctl` requests refused, for the same reason as [`FORBIDDEN_FCNTL`]: `FIOSETOWN` and
/// `SIOCSPGRP` are `F_SETOWN` by another name (`<linux/sockios.h>`), and `TIOCSPGRP` names
/// a terminal's foreground process group (`<asm-generic/ioctls.h>`, the value on every
/// architecture seccompiler compiles for: x86-64, aarch64, riscv64).
const FORBIDDEN_IOCTL: &[u64] = &[
    /* FIOSETOWN */ 0x8901, /* SIOCSPGRP */ 0x8902, /* TIOCSPGRP */ 0x5410,
];

/// The pid the pid-taking calls may name: 0, which the kernel reads as the caller (glibc's
/// `getrlimit` sends `prlimit64(0, …)`; ffmpeg's CPU count asks `sched_getaffinity(0, …)`).
const SELF_PID: u64 = 0;
/// In the PID namespace the program is pid 1, so 1 is also itself (libgomp asks
/// `sched_getaffinity` with its main thread's id, which is 1 there).
const PID_1: u64 = 1;

/// Calls that name another process or thread by number (or read or change one through a
/// pidfd). None is on the allow-list; `prlimit64` and `sched_getaffinity` are there only for
/// the caller itself (see [`ALLOWED_COMMON`]). The unit tests hold the list to this.
#[cfg(test)]
const REACH_OTHER_PROCESSES: &[libc::c_long] = &[
    libc::SYS_kill,
    libc::SYS_tkill,
    libc::SYS_tgkill,
    libc::SYS_rt_sigqueueinfo,
    libc::SYS_rt_tgsigqueueinfo,
    libc::SYS_pidfd_open,
    libc::SYS_pidfd_send_signal,
    libc::SYS_pidfd_getfd,
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_process_madvise,
    libc::SYS_kcmp,
    libc::SYS_prlimit64,
    libc::SYS_getpriority,
    libc::SYS_setpriority,
    libc::SYS_ioprio_get,
    libc::SYS_ioprio_set,
    libc::SYS_sched_getaffinity,
    libc::SYS_sched_setaffinity,
    libc::SYS_sched_getparam,
    libc::SYS_sched_setparam,
    libc::SYS_sched_getscheduler,
    libc::SYS_sched_setscheduler,
    libc::SYS_sched_getattr,
    libc::SYS_sched_setattr,
    libc::SYS_sched_rr_get_interval,
    libc::SYS_migrate_pages,
    libc::SYS_move_pages,
    libc::SYS_get_robust_list,
    libc::SYS_capget,
    libc::SYS_capset,
    libc::SYS_setpgid,
    libc::SYS_getpgid,
    libc::SYS_getsid,
    libc::SYS_wait4,
    libc::SYS_waitid,
    libc::SYS_perf_event_open,
];

/// Compiles the three filters (see [`Filters`]). `pid_namespace`: the program will be pid 1
/// of its own PID namespace, so pid 1 also names itself.
fn compile_filters(pid_namespace: bool) -> Result<Filters, String> {
    use seccompiler::{
        SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    };
    let arch =
        target_arch().ok_or_else(|| format!("no allow-list for {}", std::env::consts::ARCH))?;
    let e = |x: &dyn std::fmt::Display| x.to_string();
    // Pids, fcntl commands and ioctl requests are C `int`s (`unsigned int` for ioctl): the
    // kernel reads the low 32 bits only, so the conditions compare those, and high bits set
    // in the register cannot slip a pid past them.
    let arg = |index: u8, op: SeccompCmpOp, value: u64| {
        SeccompCondition::new(index, SeccompCmpArgLen::Dword, op, value).map_err(|x| e(&x))
    };
    let rule = |conditions: Vec<SeccompCondition>| SeccompRule::new(conditions).map_err(|x| e(&x));
    let compile = |filter: SeccompFilter| -> Result<seccompiler::BpfProgram, String> {
        filter
            .try_into()
            .map_err(|x: seccompiler::BackendError| e(&x))
    };
    let self_pids: &[u64] = if pid_namespace {
        &[SELF_PID, PID_1]
    } else {
        &[SELF_PID]
    };

    let mut allow: BTreeMap<i64, Vec<SeccompRule>> = ALLOWED_COMMON
        .iter()
        .chain(ALLOWED_ARCH)
        .map(|&nr| (nr, Vec::new()))
        .collect();
    // `clone` only for threads: without CLONE_THREAD it would be a new process, which could
    // outlive the process group's kill and escape the rlimits' accounting.
    let thread = libc::CLONE_THREAD as u64;
    allow.insert(
        libc::SYS_clone,
        vec![rule(vec![SeccompCondition::new(
            0,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::MaskedEq(thread),
            thread,
        )
        .map_err(|x| e(&x))?])?],
    );
    let mut prctl = Vec::new();
    for &option in ALLOWED_PRCTL {
        prctl.push(rule(vec![arg(0, SeccompCmpOp::Eq, option as u64)?])?);
    }
    allow.insert(libc::SYS_prctl, prctl);
    // Its own limits only: `prlimit64` on another pid is how a same-uid child lowered the
    // worker's RLIMIT_FSIZE (and the worker died of SIGXFSZ on its next write). Pid 0 only,
    // even in the PID namespace: glibc never names itself otherwise.
    allow.insert(
        libc::SYS_prlimit64,
        vec![rule(vec![arg(0, SeccompCmpOp::Eq, SELF_PID)?])?],
    );
    // Allowed here for any pid; the `foreign_affinity` filter refuses the others.
    allow.insert(libc::SYS_sched_getaffinity, Vec::new());
    let not_any = |index: u8, values: &[u64]| -> Result<Vec<SeccompRule>, String> {
        let conditions = values
            .iter()
            .map(|&v| arg(index, SeccompCmpOp::Ne, v))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(vec![rule(conditions)?])
    };
    allow.insert(libc::SYS_fcntl, not_any(1, FORBIDDEN_FCNTL)?);
    allow.insert(libc::SYS_ioctl, not_any(1, FORBIDDEN_IOCTL)?);
    let allow = compile(
        SeccompFilter::new(
            allow,
            SeccompAction::KillProcess,
            SeccompAction::Allow,
            arch,
        )
        .map_err(|x| e(&x))?,
    )?;

    let foreign_affinity = compile(
        SeccompFilter::new(
            [(libc::SYS_sched_getaffinity, not_any(0, self_pids)?)]
                .into_iter()
                .collect(),
            SeccompAction::Allow,
            SeccompAction::Errno(libc::EPERM as u32),
            arch,
        )
        .map_err(|x| e(&x))?,
    )?;
    let enosys = compile(
        SeccompFilter::new(
            [(libc::SYS_clone3, Vec::new())].into_iter().collect(),
            SeccompAction::Allow,
            SeccompAction::Errno(libc::ENOSYS as u32),
            arch,
        )
        .map_err(|x| e(&x))?,
    )?;
    Ok(Filters {
        enosys,
        foreign_affinity,
        allow,
    })
}

/// Makes the worker non-dumpable (`PR_SET_DUMPABLE` 0), for the whole life of the process:
/// no core file, and a process of the same uid (ffmpeg's child, when the worker is not root)
/// can no longer ptrace it or open its `/proc/<pid>/mem`, `environ` or `fd/`, which then
/// belong to root. Call it first thing at start-up, in every command that may run ffmpeg
/// (the sandbox probe, which runs inside the jail, must not: `prctl` with this option is not
/// on its allow-list). Debuggers and profilers need root to attach to the worker afterwards.
pub fn make_worker_non_dumpable() -> std::io::Result<()> {
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .map_err(std::io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_mode_refuses_a_machine_missing_a_layer_and_best_effort_names_it() {
        let full = Support {
            landlock_abi: Some(6),
            namespaces: true,
            namespaces_error: None,
            pid_namespace: true,
            pid_namespace_error: None,
            seccomp: true,
            root: false,
        };
        let (layers, warnings) = Layers::choose(&full, Mode::Strict).unwrap();
        assert_eq!(layers, Layers::ALL);
        assert!(warnings.is_empty());

        let no_landlock = Support {
            landlock_abi: None,
            ..full.clone()
        };
        let err = Layers::choose(&no_landlock, Mode::Strict).unwrap_err();
        assert!(err.to_string().contains("Landlock"), "{err}");
        let (layers, warnings) = Layers::choose(&no_landlock, Mode::BestEffort).unwrap();
        assert!(!layers.landlock && layers.seccomp && layers.namespaces);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("Landlock"));

        let no_ns = Support {
            namespaces: false,
            namespaces_error: Some("unshare: EPERM".into()),
            ..full.clone()
        };
        assert!(Layers::choose(&no_ns, Mode::Strict).is_err());
        let (layers, warnings) = Layers::choose(&no_ns, Mode::BestEffort).unwrap();
        assert!(!layers.namespaces && layers.landlock);
        assert!(warnings[0].contains("EPERM"));

        let no_pid_ns = Support {
            pid_namespace: false,
            pid_namespace_error: Some("unshare: EINVAL".into()),
            ..full
        };
        let err = Layers::choose(&no_pid_ns, Mode::Strict).unwrap_err();
        assert!(err.to_string().contains("PID namespace"), "{err}");
        let (layers, warnings) = Layers::choose(&no_pid_ns, Mode::BestEffort).unwrap();
        assert!(!layers.pid_namespace && layers.namespaces && layers.seccomp);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("PID namespace") && warnings[0].contains("EINVAL"));
    }

    #[test]
    fn modes_parse_from_their_names_only() {
        assert_eq!("strict".parse::<Mode>(), Ok(Mode::Strict));
        assert_eq!("best-effort".parse::<Mode>(), Ok(Mode::BestEffort));
        assert!("off".parse::<Mode>().is_err());
    }

    #[test]
    fn the_seccomp_filters_compile_for_this_machine() {
        if target_arch().is_some() {
            for pid_namespace in [false, true] {
                let f = compile_filters(pid_namespace).unwrap();
                assert!(!f.allow.is_empty() && !f.enosys.is_empty());
                assert!(!f.foreign_affinity.is_empty());
            }
        }
    }

    #[test]
    fn no_call_on_the_allow_list_names_another_process() {
        for nr in REACH_OTHER_PROCESSES {
            assert!(
                !ALLOWED_COMMON.contains(nr) && !ALLOWED_ARCH.contains(nr),
                "system call {nr} reaches other processes and is allowed for any pid"
            );
        }
    }

    /// What a filtered child did: `Ok(errno or 0)` for each call it got through, or the
    /// signal that killed it.
    fn in_filtered_child(pid_namespace: bool, call: fn(libc::pid_t) -> i64) -> Result<i32, i32> {
        let filters = compile_filters(pid_namespace).unwrap();
        // SAFETY: pid of this process, read before fork.
        let parent = unsafe { libc::getpid() };
        // SAFETY: the child makes raw system calls only and leaves with `_exit`.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            // SAFETY: no new privileges, then the filters; raw calls only.
            unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
            for p in [&filters.enosys, &filters.foreign_affinity, &filters.allow] {
                if seccompiler::apply_filter(p).is_err() {
                    unsafe { libc::_exit(99) };
                }
            }
            let rc = call(parent);
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            unsafe { libc::_exit(if rc < 0 { errno } else { 0 }) };
        }
        let mut status = 0;
        // SAFETY: waits for the child just forked.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        if libc::WIFSIGNALED(status) {
            Err(libc::WTERMSIG(status))
        } else {
            Ok(libc::WEXITSTATUS(status))
        }
    }

    #[test]
    fn the_filters_let_a_pid_taking_call_name_only_the_caller() {
        if target_arch().is_none() {
            return;
        }
        fn prlimit(pid: libc::pid_t) -> i64 {
            let mut old = libc::rlimit64 {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: reads a limit into a local.
            unsafe {
                libc::syscall(
                    libc::SYS_prlimit64,
                    pid,
                    libc::RLIMIT_NOFILE,
                    std::ptr::null::<libc::rlimit64>(),
                    &mut old,
                )
            }
        }
        fn affinity(pid: libc::pid_t) -> i64 {
            let mut set = [0u8; 128];
            // SAFETY: reads an affinity mask into a local buffer of the size given.
            unsafe {
                libc::syscall(
                    libc::SYS_sched_getaffinity,
                    pid,
                    set.len(),
                    set.as_mut_ptr(),
                )
            }
        }
        fn setown(pid: libc::pid_t) -> i64 {
            // SAFETY: fcntl on stderr; the command is what is under test.
            i64::from(unsafe { libc::fcntl(2, libc::F_SETOWN, pid) })
        }
        // Killed by the filter (SIGSYS) when naming the worker; allowed for itself.
        assert_eq!(in_filtered_child(false, prlimit), Err(libc::SIGSYS));
        assert_eq!(in_filtered_child(false, |_| prlimit(0)), Ok(0));
        assert_eq!(in_filtered_child(true, prlimit), Err(libc::SIGSYS));
        // Refused with EPERM for another pid, answered for pid 0.
        assert_eq!(in_filtered_child(false, affinity), Ok(libc::EPERM));
        assert_eq!(in_filtered_child(false, |_| affinity(0)), Ok(0));
        // Without a PID namespace pid 1 is init, not the caller.
        assert_eq!(in_filtered_child(false, |_| affinity(1)), Ok(libc::EPERM));
        assert_eq!(in_filtered_child(true, |_| affinity(1)), Ok(0));
        assert_eq!(in_filtered_child(false, setown), Err(libc::SIGSYS));
        // SAFETY: F_GETFD on stderr reads a flag.
        let getfd = |_| i64::from(unsafe { libc::fcntl(2, libc::F_GETFD) });
        assert_eq!(in_filtered_child(false, getfd), Ok(0));
    }

    #[test]
    fn the_worker_start_up_makes_the_process_non_dumpable() {
        make_worker_non_dumpable().unwrap();
        // SAFETY: PR_GET_DUMPABLE takes no arguments.
        assert_eq!(unsafe { libc::prctl(libc::PR_GET_DUMPABLE) }, 0);
    }

    #[test]
    fn elf_interpreter_is_read_from_a_real_binary_and_absent_from_text() {
        // Test binaries are dynamically linked against glibc: they name a loader.
        let exe = std::env::current_exe().unwrap();
        let interp = elf_interpreter(&exe).expect("a dynamic executable names its loader");
        assert!(interp.is_absolute() && interp.exists(), "{interp:?}");
        let dir = std::env::temp_dir().join(format!("attachd-elf-{}", std::process::id()));
        std::fs::write(&dir, b"#!/bin/sh\n").unwrap();
        assert_eq!(elf_interpreter(&dir), None);
        let _ = std::fs::remove_file(&dir);
    }
}
