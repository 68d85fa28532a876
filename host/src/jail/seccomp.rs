//! The seccomp filters the jail installs last in the child: an allow-list of the system calls
//! ffmpeg, ffprobe and a plain Rust program make, and two filters in front of it that answer
//! a call instead of killing (`clone3` with ENOSYS, `sched_getaffinity` on another process
//! with EPERM). Compiled once per [`super::Jail`], before any fork.

use std::collections::BTreeMap;

/// The compiled seccomp filters, shared by every run.
pub(super) struct Filters {
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

impl Filters {
    /// The programs in the order they are installed: the allow-list last, because once it is
    /// in, `seccomp` itself is refused.
    pub(super) fn in_order(&self) -> [&seccompiler::BpfProgram; 3] {
        [&self.enosys, &self.foreign_affinity, &self.allow]
    }
}

/// System calls the sandboxed programs may make, on every architecture attachd has a list
/// for. Found by tracing ffmpeg 5.1 and ffprobe transcoding and probing H.264, VP9, AAC and
/// Opus in MP4, WebM, Matroska and AVI (`strace -f -c`), plus what a Rust program's runtime
/// needs to start (the jail self-test, [`super::selftest`]). Deliberately absent: every socket call, `fork`,
/// `vfork`, `ptrace`, `mount`, `bpf`, `io_uring_*`, `userfaultfd`, `perf_event_open`,
/// `keyctl`, `unshare`, `setns`, `seccomp`, and `prctl` but for the read-only options in
/// [`ALLOWED_PRCTL`].
///
/// No call here takes a pid, so none reaches another process: every call that names a
/// process or thread by number (the tests' catalogue `REACH_OTHER_PROCESSES`: `kill`, `tgkill`, `tkill`,
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
pub(super) fn compile_filters(pid_namespace: bool) -> Result<Filters, String> {
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

pub(super) fn target_arch() -> Option<seccompiler::TargetArch> {
    seccompiler::TargetArch::try_from(std::env::consts::ARCH).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

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
            for p in filters.in_order() {
                if seccompiler::apply_filter(p).is_err() {
                    // SAFETY: leaves the forked child without running the parent's handlers.
                    unsafe { libc::_exit(99) };
                }
            }
            let rc = call(parent);
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            // SAFETY: as above.
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
}
