//! An in-process S3 server for the storage tests: s3s-fs on 127.0.0.1, checking SigV4
//! signatures against one fixed test key. Each server has its own folder, port and bucket, so
//! tests run in parallel.

use attachd::storage::{S3Settings, MIN_PART_SIZE};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

pub const ACCESS_KEY: &str = "attachd-test-access-key";
pub const SECRET_KEY: &str = "attachd-test-secret-key";
pub const REGION: &str = "us-east-1";

/// The smallest multipart threshold and part size S3 allows, so a test crosses into multipart
/// with an 11 MiB object rather than a 17 MiB one.
pub const TEST_MULTIPART_THRESHOLD: usize = MIN_PART_SIZE;

pub struct S3Server {
    pub endpoint: String,
    pub bucket: String,
    root: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl S3Server {
    /// Starts a server with one empty bucket.
    pub async fn start() -> S3Server {
        static NEXT_BUCKET: AtomicUsize = AtomicUsize::new(0);
        let root = tempfile::tempdir().expect("temp dir for s3s-fs");
        let bucket = format!(
            "attachd-test-{}",
            NEXT_BUCKET.fetch_add(1, Ordering::Relaxed)
        );
        // s3s-fs keeps a bucket as a folder under its root.
        std::fs::create_dir(root.path().join(&bucket)).expect("create bucket folder");
        let fs = s3s_fs::FileSystem::new(root.path()).expect("s3s-fs");
        let mut service = S3ServiceBuilder::new(fs);
        service.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = service.build();

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("local address");
        let task = tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            while let Ok((socket, _)) = listener.accept().await {
                let connection = http
                    .serve_connection(TokioIo::new(socket), service.clone())
                    .into_owned();
                tokio::spawn(async move {
                    let _ = connection.await;
                });
            }
        });
        S3Server {
            endpoint: format!("http://{address}"),
            bucket,
            root,
            task,
        }
    }

    /// Settings for an `S3Storage` on this server with the test key and the smallest part
    /// sizes.
    pub fn settings(&self) -> S3Settings {
        S3Settings {
            bucket: self.bucket.clone(),
            endpoint: Some(self.endpoint.clone()),
            region: REGION.to_owned(),
            force_path_style: true,
            credentials: Some((ACCESS_KEY.to_owned(), SECRET_KEY.to_owned())),
            multipart_threshold: TEST_MULTIPART_THRESHOLD,
            part_size: MIN_PART_SIZE,
        }
    }

    /// Where s3s-fs keeps the bucket's objects.
    pub fn bucket_dir(&self) -> PathBuf {
        self.root.path().join(&self.bucket)
    }

    /// A plain SDK client on this server, to inspect what the storage under test wrote.
    pub fn raw_client(&self) -> aws_sdk_s3::Client {
        use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
            .endpoint_url(&self.endpoint)
            .force_path_style(true)
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A server that answers every request with `503 Service Unavailable`, counting requests: it
/// shows how many attempts a request makes before giving up.
pub struct FailingServer {
    pub endpoint: String,
    pub requests: std::sync::Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl FailingServer {
    pub async fn start() -> FailingServer {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("local address");
        let requests = std::sync::Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    // Requests without bodies (GET, HEAD) end at the blank line after the
                    // headers; one response per blank line keeps keep-alive connections working.
                    let mut seen = Vec::new();
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = socket.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                            seen.drain(..end + 4);
                            counter.fetch_add(1, Ordering::SeqCst);
                            let response =
                                b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n";
                            if socket.write_all(response).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        FailingServer {
            endpoint: format!("http://{address}"),
            requests,
            task,
        }
    }
}

impl Drop for FailingServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
