//! The API tests' harness: a real `attachd serve` process on a free loopback port with a
//! tokens file of its own, a plain HTTP/1 client, and the tokens `attachd api-token` made.

use super::worker::{free_port, spawn_logged, Stack, READY_TIMEOUT};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};

/// A token made by `attachd api-token`, and its file line.
pub struct Token {
    pub token: String,
    pub line: String,
}

pub fn make_token(stack: &Stack, name: &str, scopes: &str) -> Token {
    let out = stack
        .attachd()
        .args(["api-token", name, "--scopes", scopes])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Token {
        token: String::from_utf8(out.stdout).unwrap().trim().to_owned(),
        line: String::from_utf8(out.stderr).unwrap().trim().to_owned(),
    }
}

/// The tokens every API test has: `app` (upload), `rev` (review) and `both`.
pub struct Tokens {
    pub app: String,
    pub rev: String,
    pub both: String,
}

/// Writes the tokens file under the stack's folder and returns the tokens.
pub fn tokens_file(stack: &Stack) -> (std::path::PathBuf, Tokens) {
    let app = make_token(stack, "app", "upload");
    let rev = make_token(stack, "rev", "review");
    let both = make_token(stack, "ops", "upload,review");
    let path = stack.dir.path().join("tokens");
    std::fs::write(
        &path,
        format!("# test tokens\n{}\n{}\n{}\n", app.line, rev.line, both.line),
    )
    .unwrap();
    (
        path,
        Tokens {
            app: app.token,
            rev: rev.token,
            both: both.token,
        },
    )
}

/// A running `attachd serve`.
pub struct Server {
    child: Child,
    pub base: String,
    pub stderr: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `attachd serve` for `stack` with the tokens file and `env` on a free port, and
    /// waits for its listening line.
    pub fn start(stack: &Stack, tokens: &Path, env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let mut cmd: Command = stack.attachd();
        cmd.arg("serve")
            .env("ATTACH_API_ADDR", format!("127.0.0.1:{port}"))
            .env("ATTACH_API_TOKENS_FILE", tokens)
            .env("NO_COLOR", "1")
            .env("ATTACH_WORKER_LOG_LEVEL", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let (mut child, rx, stderr) = spawn_logged(cmd);
        let line = rx.recv_timeout(READY_TIMEOUT).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!(
                "attachd serve did not listen:\n{}",
                stderr.lock().unwrap().join("\n")
            )
        });
        let listening: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(listening["event"], "listening", "{line}");
        Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
            stderr,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The error code of an error answer.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// An upload through the API: signed, put to its URL, completed.
pub struct Uploaded {
    pub id: i64,
    pub key: String,
    /// The upload URL `sign` gave.
    pub link: Value,
}

/// A plain HTTP/1 client.
#[derive(Clone)]
pub struct Http {
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

impl Default for Http {
    fn default() -> Self {
        Http {
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }
}

impl Http {
    pub async fn send(
        &self,
        method: &str,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Answer {
        let mut request = hyper::Request::builder().method(method).uri(url);
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let request = request.body(Full::new(Bytes::from(body))).unwrap();
        let response = tokio::time::timeout(
            std::time::Duration::from_secs(60),
            self.client.request(request),
        )
        .await
        .expect("answer within 60 s")
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, url: &str, token: Option<&str>) -> Answer {
        let auth = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        self.send("GET", url, &headers, vec![]).await
    }

    pub async fn post_json(&self, url: &str, token: Option<&str>, body: &Value) -> Answer {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(a) = &auth {
            headers.push(("authorization", a.as_str()));
        }
        self.send("POST", url, &headers, body.to_string().into_bytes())
            .await
    }

    /// `POST /api/attachments/sign` for `bytes` of `mime`, answered 201: the sign response.
    pub async fn sign(
        &self,
        server: &Server,
        token: &str,
        name: &str,
        size: usize,
        mime: &str,
    ) -> Value {
        let answer = self
            .post_json(
                &server.url("/api/attachments/sign"),
                Some(token),
                &serde_json::json!({ "fileName": name, "size": size, "mimeType": mime }),
            )
            .await;
        assert_eq!(answer.status, 201, "{}", answer.text());
        answer.json()
    }

    /// `POST /api/attachments/complete` for `bytes` stored at `key`.
    pub async fn complete(
        &self,
        server: &Server,
        token: &str,
        key: &str,
        bytes: &[u8],
        mime: &str,
    ) -> Answer {
        let body = serde_json::json!({
            "fileKey": key,
            "checksum": super::job::sha256(bytes),
            "size": bytes.len(),
            "mimeType": mime,
        });
        self.post_json(&server.url("/api/attachments/complete"), Some(token), &body)
            .await
    }

    /// Sign, upload and complete `bytes` as a client does, each step answered as it should be.
    pub async fn upload(
        &self,
        server: &Server,
        token: &str,
        name: &str,
        bytes: &[u8],
        mime: &str,
    ) -> Uploaded {
        let signed = self.sign(server, token, name, bytes.len(), mime).await;
        let put = self.follow(&signed["upload"], bytes.to_vec()).await;
        assert_eq!(put.status, 200, "{}", put.text());
        let key = signed["fileKey"].as_str().unwrap().to_owned();
        let done = self.complete(server, token, &key, bytes, mime).await;
        assert_eq!(done.status, 202, "{}", done.text());
        Uploaded {
            id: signed["id"].as_i64().unwrap(),
            key,
            link: signed["upload"].clone(),
        }
    }

    /// Sends the request a `Link` (`{url, method, headers}`) describes, with `body`.
    pub async fn follow(&self, link: &Value, body: Vec<u8>) -> Answer {
        let headers: Vec<(String, String)> = link["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.send(
            link["method"].as_str().unwrap(),
            link["url"].as_str().unwrap(),
            &headers,
            body,
        )
        .await
    }
}
