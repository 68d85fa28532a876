//! A real clamd per test (Debian's clamav-daemon; `make test` installs it): its own port, its
//! own temporary config and a database directory holding only the signatures the test writes,
//! so no freshclam and no network. Custom signature names come back with `.UNOFFICIAL`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The standard 68-byte EICAR antivirus test file.
pub const EICAR: &[u8] = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
/// The name of the test's EICAR body signature, and what clamd reports for it.
pub const EICAR_SIGNATURE: &str = "Attachd.Test.EICAR";
pub const EICAR_REPORTED: &str = "Attachd.Test.EICAR.UNOFFICIAL";
/// clamd loads a tiny database in well under a second; the margin is for a busy CI machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The clamd binary: `ATTACH_TEST_CLAMD`, else Debian's.
fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("ATTACH_TEST_CLAMD") {
        return PathBuf::from(p);
    }
    for p in ["/usr/sbin/clamd", "/usr/bin/clamd"] {
        if std::path::Path::new(p).is_file() {
            return PathBuf::from(p);
        }
    }
    panic!("no clamd: install Debian's clamav-daemon (make test does), or set ATTACH_TEST_CLAMD");
}

/// A free loopback port (bound and released: clamd takes it right after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A hash signature line (`.hsb`): sha256, size and name.
pub fn sha256_signature(data: &[u8], name: &str) -> String {
    use sha2::Digest;
    let hex: String = sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{hex}:{}:{name}\n", data.len())
}

/// One clamd: stopped on drop.
pub struct Clamd {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl Clamd {
    /// Starts clamd with the EICAR signature, `extra` signature files (`name`, content), and
    /// `StreamMaxLength` = `stream_max` bytes; returns once it answers PING.
    pub fn start(stream_max: u64, extra: &[(&str, String)]) -> Clamd {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("db");
        std::fs::create_dir_all(&db).unwrap();
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        let eicar_hex: String = EICAR.iter().map(|b| format!("{b:02x}")).collect();
        // Target type 0 (any file), offset * (anywhere): EICAR inside any upload.
        std::fs::write(
            db.join("attachd-test.ndb"),
            format!("{EICAR_SIGNATURE}:0:*:{eicar_hex}\n"),
        )
        .unwrap();
        for (name, content) in extra {
            std::fs::write(db.join(name), content).unwrap();
        }
        let port = free_port();
        let conf = format!(
            "Foreground yes\nTCPSocket {port}\nTCPAddr 127.0.0.1\nLocalSocket {}\n\
             DatabaseDirectory {}\nStreamMaxLength {stream_max}\nTemporaryDirectory {}\n\
             LogFile {}\nMaxThreads 4\nConcurrentDatabaseReload no\nSelfCheck 3600\n",
            dir.path().join("clamd.ctl").display(),
            db.display(),
            dir.path().join("tmp").display(),
            dir.path().join("clamd.log").display(),
        );
        std::fs::write(dir.path().join("clamd.conf"), conf).unwrap();
        let mut clamd = Clamd {
            dir,
            port,
            child: None,
        };
        clamd.run();
        clamd
    }

    /// Starts (again) on the same port and config.
    pub fn run(&mut self) {
        assert!(self.child.is_none(), "clamd is already running");
        let child = Command::new(binary())
            .arg("-c")
            .arg(self.dir.path().join("clamd.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn clamd");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while !self.pings() {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("clamd exited ({status}) before answering:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "clamd did not answer:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills clamd and waits for it: the port refuses connections afterwards.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn endpoint(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    /// The same clamd on its Unix socket.
    pub fn unix_endpoint(&self) -> String {
        format!("unix://{}", self.dir.path().join("clamd.ctl").display())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("clamd.log")).unwrap_or_default()
    }

    fn pings(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.write_all(b"zPING\0").is_err() {
            return false;
        }
        let mut reply = Vec::new();
        let _ = s.read_to_end(&mut reply);
        reply.starts_with(b"PONG")
    }
}

impl Drop for Clamd {
    fn drop(&mut self) {
        self.stop();
    }
}
