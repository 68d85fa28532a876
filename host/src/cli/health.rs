//! `attachd healthcheck`: asks a running worker's listener (`ATTACH_METRICS_ADDR`) for
//! `/healthz`, or another path with `--path` (`/readyz`), and exits 0 when it answers 200 and
//! 1 on anything else (another status, no answer, a refused or timed-out connection), printing
//! one line either way.
//!
//! It exists for the container image's `HEALTHCHECK` (`deploy/Containerfile`): the image holds
//! no curl or wget, and the binary that is already there knows the address from the same
//! settings the worker read. A plain `TcpStream` with short timeouts, no HTTP client: the
//! request is one line, and only the status line and the first line of the body are read.

use crate::metrics::READY_CHECK_TIMEOUT;
use crate::settings::Settings;
use clap::Args;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// How long connecting may take. The worker is on the same host or in the same container,
/// where a connect is answered or refused at once; one that takes longer means a host too
/// loaded (or a listener too backed up) to call healthy.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long the exchange may take once connected: longer than the worker's own bound on a
/// `/readyz` check ([`READY_CHECK_TIMEOUT`], 2 s), so a slow dependency shows as the worker's
/// 503 with its reason rather than as a timeout here, and, with [`CONNECT_TIMEOUT`], within
/// the image's `HEALTHCHECK --timeout=5s`, so the engine reads this command's own line
/// instead of killing it.
const ANSWER_TIMEOUT: Duration = READY_CHECK_TIMEOUT.saturating_add(Duration::from_secs(1));
/// The most of an answer's body this command reads: a body of one line (`ok`, `ready`, or
/// `not ready: <reason>`) fits many times over; a peer that sends more is not read further.
const MAX_ANSWER_BYTES: usize = 16 * 1024;
/// The most of the status line and headers read besides the body: the worker sends two
/// short headers.
const MAX_HEADER_BYTES: usize = 4 * 1024;
/// The most of the body's first line printed: the line must stay one line in a terminal and
/// in the engine's health log (Docker keeps 4 KiB of each probe's output).
const MAX_REASON_CHARS: usize = 200;
/// The longest `--path` taken: the worker's paths are a few characters; the bound keeps a
/// mistyped argument from becoming a request line of any size.
const MAX_PATH_CHARS: usize = 256;
/// What the command asks when not told otherwise: the process is up and serving (`/readyz`
/// also needs Redis and the database, which is not the container's own health).
const DEFAULT_PATH: &str = "/healthz";

#[derive(Args, Debug)]
pub struct HealthcheckArgs {
    /// The path to ask: /healthz (the worker runs) or /readyz (Redis and the database answer).
    #[arg(long, default_value = DEFAULT_PATH, value_parser = parse_path)]
    pub path: String,
}

/// A path that can go into a request line as it is: starts with `/`, visible ASCII only (no
/// space, no control character), bounded.
fn parse_path(path: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err(format!("{path:?}: a path starts with /"));
    }
    if path.len() > MAX_PATH_CHARS {
        return Err(format!("longer than {MAX_PATH_CHARS} characters"));
    }
    if !path.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "{path:?}: only visible ASCII characters, no spaces"
        ));
    }
    Ok(path.to_string())
}

/// `attachd healthcheck [--path P]`: 0 when the worker answers `P` with 200, else 1.
pub fn run(args: HealthcheckArgs, settings: &Settings) -> anyhow::Result<i32> {
    let configured = &settings.worker.metrics_addr;
    match ask(configured, &args.path) {
        Ok(answer) if answer.status == 200 => {
            println!("healthy: {}", answer.describe());
            Ok(0)
        }
        Ok(answer) => {
            println!("unhealthy: {}", answer.describe());
            Ok(1)
        }
        Err(why) => {
            println!(
                "unhealthy: GET {} (ATTACH_METRICS_ADDR={}): {why}",
                args.path,
                one_line(configured)
            );
            Ok(1)
        }
    }
}

/// What the worker answered `get`.
pub(super) struct Fetched {
    /// `http://<address asked><path>`.
    pub url: String,
    pub status: u16,
    /// At most the `max_bytes` asked for, headers included.
    pub body: Vec<u8>,
}

/// What the worker answered, as this command prints it.
struct Answer {
    url: String,
    status: u16,
    /// The body's first line, made printable and cut.
    reason: String,
}

impl Answer {
    fn describe(&self) -> String {
        if self.reason.is_empty() {
            format!("GET {} answered {}", self.url, self.status)
        } else {
            format!("GET {} answered {}: {}", self.url, self.status, self.reason)
        }
    }
}

/// Connects to the worker's listener and asks `path`.
fn ask(configured: &str, path: &str) -> Result<Answer, String> {
    let Fetched { url, status, body } = get(configured, path, MAX_ANSWER_BYTES)?;
    let reason = String::from_utf8_lossy(&body)
        .lines()
        .next()
        .map(|line| cut(&one_line(line.trim())))
        .unwrap_or_default();
    Ok(Answer {
        url,
        status,
        reason,
    })
}

/// `GET path` from the worker's listener at `configured` (`ATTACH_METRICS_ADDR`): the
/// status and at most `max_bytes` of the body, within [`CONNECT_TIMEOUT`] and
/// [`ANSWER_TIMEOUT`]. Also `attachd guests list --worker`'s way to ask.
pub(super) fn get(configured: &str, path: &str, max_bytes: usize) -> Result<Fetched, String> {
    let targets = targets(configured)?;
    let (mut stream, addr) = connect(&targets)?;
    let url = format!("http://{addr}{path}");
    let deadline = Instant::now() + ANSWER_TIMEOUT;
    // HTTP/1.0 with `Connection: close`: the worker answers and closes, so the answer ends at
    // end of stream with no chunked body to decode.
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .set_write_timeout(Some(ANSWER_TIMEOUT))
        .and_then(|()| stream.write_all(request.as_bytes()))
        .map_err(|e| format!("{url}: sending the request: {}", io_reason(&e)))?;
    // The headers are small; the body gets `max_bytes` of its own.
    let raw = read_answer(&mut stream, deadline, max_bytes + MAX_HEADER_BYTES)
        .map_err(|e| format!("{url}: {e}"))?;
    let text = String::from_utf8_lossy(&raw);
    let status = status_code(&text)
        .ok_or_else(|| format!("{url}: not an HTTP answer: {:?}", cut(&one_line(&text))))?;
    let body = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| raw[at + 4..].iter().copied().take(max_bytes).collect())
        .unwrap_or_default();
    Ok(Fetched { url, status, body })
}

/// The addresses to try for the configured listen address: a wildcard address (`0.0.0.0`,
/// `[::]`, which a container's listener uses to be reachable from outside it) is asked on the
/// loopback address of its family, which the wildcard includes. A listen address is an IP
/// address in practice; a host name is looked up by the system resolver, whose own timeouts
/// (not the ones above) bound that lookup.
fn targets(configured: &str) -> Result<Vec<SocketAddr>, String> {
    let resolved: Vec<SocketAddr> = configured
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve the address: {e}"))?
        .collect();
    if resolved.is_empty() {
        return Err("the address resolves to nothing".into());
    }
    if resolved.iter().any(|a| a.port() == 0) {
        // Port 0 lets the worker pick any free port, printed on its ready line: there is no
        // fixed port to ask.
        return Err(
            "port 0 means any free port, so there is no fixed port to ask; \
                    give ATTACH_METRICS_ADDR a port"
                .into(),
        );
    }
    Ok(resolved
        .into_iter()
        .map(|mut addr| {
            match addr.ip() {
                IpAddr::V4(ip) if ip.is_unspecified() => addr.set_ip(Ipv4Addr::LOCALHOST.into()),
                IpAddr::V6(ip) if ip.is_unspecified() => addr.set_ip(Ipv6Addr::LOCALHOST.into()),
                _ => {}
            }
            addr
        })
        .collect())
}

/// The first of `targets` that accepts a connection within [`CONNECT_TIMEOUT`], or why the
/// last one did not.
fn connect(targets: &[SocketAddr]) -> Result<(TcpStream, SocketAddr), String> {
    let mut last = String::new();
    for addr in targets {
        match TcpStream::connect_timeout(addr, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok((stream, *addr)),
            Err(e) => last = format!("connecting to {addr}: {}", io_reason(&e)),
        }
    }
    Err(last)
}

/// Reads until the worker closes the connection, `max_bytes` arrive or the
/// deadline passes (the whole read, not each call, is bounded: a peer that trickles a byte
/// at a time cannot stretch it).
fn read_answer(
    stream: &mut TcpStream,
    deadline: Instant,
    max_bytes: usize,
) -> Result<Vec<u8>, String> {
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "no whole answer within {} s",
                ANSWER_TIMEOUT.as_secs()
            ));
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| io_reason(&e))?;
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(answer),
            Ok(n) => {
                answer.extend_from_slice(&chunk[..n]);
                if answer.len() >= max_bytes {
                    answer.truncate(max_bytes);
                    return Ok(answer);
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // A read timeout: the loop's deadline check reports it.
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(format!("reading the answer: {}", io_reason(&e))),
        }
    }
}

/// The status code of an answer's status line (`HTTP/1.x NNN …`).
fn status_code(text: &str) -> Option<u16> {
    let line = text.lines().next()?;
    let mut parts = line.split(' ');
    let version = parts.next()?;
    let code = parts.next()?;
    if !version.starts_with("HTTP/") || code.len() != 3 {
        return None;
    }
    code.parse().ok().filter(|c| (100..=599).contains(c))
}

/// An I/O error as a short phrase (`connection refused`), without the `(os error N)` tail.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::ConnectionRefused => "connection refused (is `attachd worker` running?)".into(),
        ErrorKind::TimedOut | ErrorKind::WouldBlock => "timed out".into(),
        _ => e.to_string(),
    }
}

/// `text` as one printable line ([`super::printable`], line breaks shown as `?` too): what the
/// worker or anything else on that port sent must not break the one line or drive a terminal.
fn one_line(text: &str) -> String {
    super::printable(text).replace('\n', "?")
}

/// At most [`MAX_REASON_CHARS`] characters, marked when cut.
fn cut(text: &str) -> String {
    match text.char_indices().nth(MAX_REASON_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}
