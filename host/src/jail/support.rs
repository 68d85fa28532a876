//! Support detection: which of the jail's optional layers (Landlock, the user, network and PID
//! namespaces, seccomp) this kernel and process offer, found by trying each once, and the
//! [`Mode`] that decides what a missing one means.

use super::confine::{enter_namespaces, fork_into_pid_namespace, Step, NOBODY};
use super::error::JailError;
use super::seccomp::target_arch;

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
    /// Tries each layer on this machine. Forks short-lived children to try the namespaces.
    pub fn detect() -> Support {
        let root = rustix::process::geteuid().is_root();
        let namespaces_error = try_namespaces(root, true, false).err();
        // Unprivileged, only a user namespace grants the right to create a PID namespace.
        let pid_namespace_error = try_namespaces(root, namespaces_error.is_none(), true).err();
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

/// The optional layers a [`super::Jail`] puts in force. Session, parent-death signal, rlimits, no new
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
    pub fn choose(support: &Support, mode: Mode) -> Result<(Layers, Vec<String>), JailError> {
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
            return Err(JailError::Unavailable(format!(
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

/// Tries the namespace steps (as root, with the drop to `nobody`) in a throwaway child: the
/// user and network namespaces when `namespaces`, the PID namespace and its pid 1 when
/// `pid_namespace`.
fn try_namespaces(root: bool, namespaces: bool, pid_namespace: bool) -> Result<(), String> {
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
        return Err("the namespace test child did not exit normally".into());
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
        n => Err(format!("the namespace test child exited {n}")),
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
}
