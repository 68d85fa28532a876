//! The program's stdout and stderr, and the wait for its end. The streams are never files (a
//! file would be one more of `RLIMIT_FSIZE` on disk): `/dev/null`, or pipes the parent reads
//! in the same poll as the pidfd, keeping at most a cap and discarding the rest (see [`Keep`]).

use std::io::Read;
use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::time::{Duration, Instant};

const FALLBACK_POLL: Duration = Duration::from_millis(10);

/// One read from a stdio pipe: what the kernel's default pipe buffer holds (64 KiB), so a
/// program writing flat out is drained in one call per wake-up.
const PIPE_READ_CHUNK: usize = 64 * 1024;

/// How long the host keeps reading stdio pipes after the run ended (and its process group
/// was killed): only until every write end is closed, which is at once unless a process
/// outside the group still holds one (the layers make that impossible; this bounds it if
/// one is missing). What is still unread then is dropped with the pipe.
pub(super) const PIPE_DRAIN_GRACE: Duration = Duration::from_secs(1);

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

/// The host's end of one stdio stream and what it kept so far (see [`Keep`]).
pub(super) struct Stream {
    /// The read end, non-blocking; `None` for `/dev/null` and after EOF.
    pipe: Option<std::io::PipeReader>,
    keep: Keep,
    got: Captured,
}

impl Stream {
    /// The host's end and what the child gets as the stream.
    pub(super) fn new(keep: Keep) -> std::io::Result<(Stream, Stdio)> {
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
    pub(super) fn finish(mut self) -> Captured {
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
pub(super) fn drain(streams: &mut [&mut Stream], until: Instant) {
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
pub(super) fn wait_until(
    pid: i32,
    deadline: Instant,
    streams: &mut [&mut Stream],
) -> std::io::Result<bool> {
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
