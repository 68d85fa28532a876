//! The clamd client: `zPING` and `zINSTREAM` over TCP or a Unix socket.
//!
//! INSTREAM sends the bytes as chunks, each a 4-byte big-endian length and that many bytes,
//! ended by a zero-length chunk; clamd answers with one NUL-terminated line: `stream: OK`,
//! `stream: <signature> FOUND`, or `<message> ERROR`. clamd counts every chunk against its
//! `StreamMaxLength`; a chunk over what is left gets `INSTREAM size limit exceeded. ERROR`
//! and the connection is shut, so this client stops before the limit it knows
//! ([`Clamd::max_stream`]) and reads clamd's reply when a write fails.
//!
//! The bytes come from any [`AsyncRead`] and go out one chunk at a time: the client holds one
//! chunk, never the file.

use super::{Endpoint, Verdict, VscanError};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes per INSTREAM chunk. Large enough that a 25 MiB upload is 400 writes, small enough
/// that the client's buffer is nothing next to the job's. clamd accepts any chunk size up to
/// its remaining quota.
pub const CHUNK_BYTES: usize = 64 * 1024;
/// Longest reply read from clamd: replies are one line (a signature name is well under 200
/// bytes); anything longer is not clamd.
pub const MAX_REPLY_BYTES: usize = 4096;
/// Longest signature name kept: clamd's own names are far shorter, and the name ends up in
/// the row, the audit log and metrics-adjacent logs, so a hostile reply cannot inflate them.
pub const MAX_SIGNATURE_CHARS: usize = 200;
/// After a write fails, how long to wait for the reply clamd may have sent before closing
/// (its size-limit answer): it is already in flight, so this only needs to cover a round trip.
const REPLY_AFTER_FAILURE: Duration = Duration::from_secs(2);

/// Either socket kind, as one stream type.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// What one scan found and what it cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    pub verdict: Verdict,
    /// Bytes streamed to clamd.
    pub bytes: u64,
    pub duration: Duration,
}

/// A clamd endpoint with the timeouts every call runs under. Cheap to clone; each call opens
/// its own connection (clamd serves one command per connection unless sessions are used, and
/// a fresh connection per scan means a restarted clamd is picked up by the next scan).
#[derive(Debug, Clone)]
pub struct Clamd {
    pub endpoint: Endpoint,
    /// Bound on establishing the connection.
    pub connect_timeout: Duration,
    /// Bound on each read from the source, each write to clamd, and the wait for the verdict
    /// after the last chunk.
    pub io_timeout: Duration,
    /// The most bytes clamd accepts on one stream (its `StreamMaxLength`).
    pub max_stream: u64,
}

impl Clamd {
    async fn connect(&self) -> Result<Box<dyn Io>, VscanError> {
        let connecting = async {
            let io: Box<dyn Io> = match &self.endpoint {
                Endpoint::Tcp(addr) => {
                    let s = tokio::net::TcpStream::connect(addr.as_str()).await?;
                    // Chunks are written whole; Nagle would only delay the last one.
                    s.set_nodelay(true)?;
                    Box::new(s)
                }
                Endpoint::Unix(path) => Box::new(tokio::net::UnixStream::connect(path).await?),
            };
            Ok::<_, std::io::Error>(io)
        };
        match tokio::time::timeout(self.connect_timeout, connecting).await {
            Ok(Ok(io)) => Ok(io),
            Ok(Err(e)) => Err(VscanError::unavailable(format!(
                "connecting to {}: {e}",
                self.endpoint
            ))),
            Err(_) => Err(VscanError::unavailable(format!(
                "no connection to {} within {} ms",
                self.endpoint,
                self.connect_timeout.as_millis()
            ))),
        }
    }

    /// `zPING`: clamd answers `PONG` when it is up and its database is loaded.
    pub async fn ping(&self) -> Result<(), VscanError> {
        let mut io = self.connect().await?;
        self.write(&mut io, b"zPING\0").await?;
        let reply = read_reply(&mut io, self.io_timeout).await?;
        if reply == "PONG" {
            Ok(())
        } else {
            Err(VscanError::Scanner {
                message: format!("unexpected reply to PING: {:?}", clip(&reply)),
            })
        }
    }

    /// `zVERSION`: the engine and database versions (`ClamAV 1.4.3/27000/…`), for the log.
    pub async fn version(&self) -> Result<String, VscanError> {
        let mut io = self.connect().await?;
        self.write(&mut io, b"zVERSION\0").await?;
        read_reply(&mut io, self.io_timeout).await
    }

    /// Streams `source` to clamd and returns its verdict. `size`, when known, is checked
    /// against [`Clamd::max_stream`] before connecting; the bytes actually read are counted
    /// too, so a source longer than it said cannot get past the limit either.
    pub async fn scan<R>(&self, mut source: R, size: Option<u64>) -> Result<Scan, VscanError>
    where
        R: AsyncRead + Unpin + Send,
    {
        let started = Instant::now();
        let too_large = |size| VscanError::TooLarge {
            size,
            limit: format!("{} bytes", self.max_stream),
        };
        if let Some(size) = size.filter(|&s| s > self.max_stream) {
            return Err(too_large(size));
        }
        let mut io = self.connect().await?;
        self.write(&mut io, b"zINSTREAM\0").await?;
        let mut buf = vec![0u8; 4 + CHUNK_BYTES];
        let mut sent: u64 = 0;
        loop {
            let n = match tokio::time::timeout(self.io_timeout, source.read(&mut buf[4..])).await {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => {
                    return Err(VscanError::Source {
                        message: e.to_string(),
                    })
                }
                Err(_) => {
                    return Err(VscanError::Source {
                        message: format!(
                            "no bytes from the store within {} ms",
                            self.io_timeout.as_millis()
                        ),
                    })
                }
            };
            if n == 0 {
                break;
            }
            sent = sent.saturating_add(n as u64);
            if sent > self.max_stream {
                return Err(too_large(sent));
            }
            // n ≤ CHUNK_BYTES, far below u32::MAX.
            buf[..4].copy_from_slice(&(n as u32).to_be_bytes());
            self.write_chunk(&mut io, &buf[..4 + n], sent).await?;
        }
        self.write_chunk(&mut io, &0u32.to_be_bytes(), sent).await?;
        let reply = read_reply(&mut io, self.io_timeout).await?;
        let verdict = parse_reply(&reply, sent)?;
        Ok(Scan {
            verdict,
            bytes: sent,
            duration: started.elapsed(),
        })
    }

    async fn write(&self, io: &mut Box<dyn Io>, bytes: &[u8]) -> Result<(), VscanError> {
        match tokio::time::timeout(self.io_timeout, io.write_all(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(VscanError::unavailable(format!(
                "writing to {}: {e}",
                self.endpoint
            ))),
            Err(_) => Err(VscanError::unavailable(format!(
                "{} took no bytes for {} ms",
                self.endpoint,
                self.io_timeout.as_millis()
            ))),
        }
    }

    /// A chunk write; when clamd has shut the connection, its reply (if it sent one) says why:
    /// the size limit is a verdict-less but definite outcome, anything else is an outage.
    async fn write_chunk(
        &self,
        io: &mut Box<dyn Io>,
        bytes: &[u8],
        sent: u64,
    ) -> Result<(), VscanError> {
        let Err(err) = self.write(io, bytes).await else {
            return Ok(());
        };
        match read_reply(io, REPLY_AFTER_FAILURE).await {
            Ok(reply) if !reply.is_empty() => match parse_reply(&reply, sent) {
                Err(e @ VscanError::TooLarge { .. }) => Err(e),
                _ => Err(err),
            },
            _ => Err(err),
        }
    }
}

/// Reads one NUL-terminated reply (or up to EOF), at most [`MAX_REPLY_BYTES`].
async fn read_reply(io: &mut Box<dyn Io>, within: Duration) -> Result<String, VscanError> {
    let reading = async {
        let mut reply = Vec::with_capacity(64);
        let mut byte = [0u8; 256];
        loop {
            let n = io.read(&mut byte).await?;
            if n == 0 {
                break;
            }
            let chunk = &byte[..n];
            if let Some(end) = chunk.iter().position(|&b| b == 0) {
                reply.extend_from_slice(&chunk[..end]);
                break;
            }
            reply.extend_from_slice(chunk);
            if reply.len() > MAX_REPLY_BYTES {
                break;
            }
        }
        Ok::<_, std::io::Error>(reply)
    };
    match tokio::time::timeout(within, reading).await {
        Ok(Ok(reply)) if reply.len() > MAX_REPLY_BYTES => Err(VscanError::Scanner {
            message: format!("reply longer than {MAX_REPLY_BYTES} bytes"),
        }),
        Ok(Ok(reply)) => Ok(String::from_utf8_lossy(&reply).trim().to_string()),
        Ok(Err(e)) => Err(VscanError::unavailable(format!("reading the reply: {e}"))),
        Err(_) => Err(VscanError::unavailable(format!(
            "no reply within {} ms",
            within.as_millis()
        ))),
    }
}

/// Reads clamd's INSTREAM reply. Only the two exact verdict shapes are verdicts; everything
/// else, an empty reply included, is an error, never "clean".
pub fn parse_reply(reply: &str, sent: u64) -> Result<Verdict, VscanError> {
    let reply = reply.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    if let Some(found) = reply
        .strip_prefix("stream: ")
        .and_then(|r| r.strip_suffix(" FOUND"))
    {
        let signature: String = found
            .chars()
            .filter(|c| c.is_ascii_graphic() || *c == ' ')
            .take(MAX_SIGNATURE_CHARS)
            .collect();
        if !signature.trim().is_empty() {
            return Ok(Verdict::Infected {
                signature: signature.trim().to_string(),
            });
        }
    }
    if reply == "stream: OK" {
        return Ok(Verdict::Clean);
    }
    if reply.ends_with("ERROR") && reply.contains("size limit exceeded") {
        return Err(VscanError::TooLarge {
            size: sent,
            limit: "clamd's StreamMaxLength".into(),
        });
    }
    if reply.is_empty() {
        return Err(VscanError::unavailable(
            "clamd closed the connection without a verdict",
        ));
    }
    Err(VscanError::Scanner {
        message: format!("clamd replied {:?}", clip(reply)),
    })
}

/// At most 200 characters of a reply, for messages.
fn clip(s: &str) -> String {
    s.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_ok_and_found_are_verdicts() {
        assert_eq!(parse_reply("stream: OK", 1).unwrap(), Verdict::Clean);
        assert_eq!(
            parse_reply("stream: Eicar-Test.UNOFFICIAL FOUND\0", 1).unwrap(),
            Verdict::Infected {
                signature: "Eicar-Test.UNOFFICIAL".into()
            }
        );
        assert!(matches!(
            parse_reply("INSTREAM size limit exceeded. ERROR", 9),
            Err(VscanError::TooLarge { size: 9, .. })
        ));
        for not_a_verdict in [
            "",
            "OK",
            "stream: FOUND",
            "stream:  FOUND",
            "stream: OK but not really",
            "Can't allocate memory ERROR",
            "PONG",
        ] {
            assert!(
                parse_reply(not_a_verdict, 1).is_err(),
                "{not_a_verdict:?} must not be a verdict"
            );
        }
    }

    #[test]
    fn signature_names_are_cut_to_printable_ascii() {
        let long = format!("stream: {}\u{7}x FOUND", "A".repeat(500));
        let Ok(Verdict::Infected { signature }) = parse_reply(&long, 1) else {
            panic!("a FOUND reply is a verdict");
        };
        assert_eq!(signature.len(), MAX_SIGNATURE_CHARS);
        assert!(signature.chars().all(|c| c == 'A'));
    }
}
