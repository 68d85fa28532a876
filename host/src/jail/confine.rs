//! Confinement: what the child does to itself between `fork` and `exec`, in the order of the
//! table in the module docs of [`super`]: inherited fds, session, namespaces, dropping root,
//! the PID namespace and its watcher, parent death, rlimits, no new privileges, Landlock,
//! seccomp. Everything here runs after `fork` in a multi-threaded process, so it makes raw
//! system calls only (no allocation, no locks); what it needs is prepared by the parent in a
//! [`Plan`].

use super::seccomp::Filters;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::Arc;

/// The uid and gid a root worker runs the sandboxed programs as: `nobody` owns no files, so
/// even with every other layer gone, ordinary permissions keep it out of the worker's data.
pub const NOBODY: u32 = 65534;

/// Resource limits for one run (`setrlimit`, soft = hard, so the first breach is final).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rlimits {
    /// CPU seconds across all threads: the backstop if the wall-clock timer cannot act.
    pub cpu_seconds: u64,
    /// Address space (virtual memory) in bytes.
    pub address_space_bytes: u64,
    /// Largest file the process may write, in bytes: each of its output files. Its stdout
    /// and stderr are pipes or `/dev/null` (see [`super::Keep`]), which the limit does not cover
    /// and which store nothing on disk.
    pub file_size_bytes: u64,
    /// Open file descriptors.
    pub open_files: u64,
    /// Tasks (processes and threads) in the program's user namespace, `RLIMIT_NPROC`: set
    /// only with the user namespace, where the kernel counts them per namespace (see
    /// [`confine`]).
    pub tasks: u64,
}

/// Everything the child needs between fork and exec, prepared by the parent.
pub(super) struct Plan {
    pub(super) parent: rustix::process::Pid,
    pub(super) namespaces: bool,
    pub(super) pid_namespace: bool,
    pub(super) drop_to: Option<u32>,
    pub(super) rlimits: Rlimits,
    pub(super) landlock: Option<RawFd>,
    pub(super) filters: Option<Arc<Filters>>,
}

/// The steps of [`confine`], named in the line a failing step writes to stderr.
#[derive(Clone, Copy)]
pub(super) enum Step {
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
pub(super) fn confine(plan: &Plan) -> std::io::Result<()> {
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
        for program in filters.in_order() {
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
pub(super) fn enter_namespaces(
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
                // SAFETY: see above.
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
                // SAFETY: see above.
                unsafe { unshare_unsafe(UnshareFlags::NEWUSER) }
                    .map_err(|e| (Step::Namespaces, e))?;
            }
        }
        None if namespaces => {
            // SAFETY: see above.
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
/// program of the jail's exits with it on purpose (ffmpeg uses 0, 1 and 255).
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
pub(super) fn fork_into_pid_namespace() -> Result<(), rustix::io::Errno> {
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

/// The `attachd-sandbox:` line a failing confinement step wrote, for the spawn error.
pub(super) fn failed_step_line(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .find(|l| l.starts_with("attachd-sandbox:"))
        .map(|l| format!(" ({l})"))
        .unwrap_or_default()
}
