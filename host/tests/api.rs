//! `attachd serve` against real parts: the `attachd serve` and `attachd worker` binaries, the
//! local store and an S3-compatible server (s3s-fs, checking SigV4), Redis, SQLite. The
//! whole upload flow on both stores, every refusal with its code (and that it changed
//! nothing), the review decisions, and the OpenAPI document.

mod common;

use attach_fixtures as fx;
use attachd::storage::{LocalStorage, Storage};
use common::api::{tokens_file, Answer, Http, Server, Tokens};
use common::s3::{S3Server, ACCESS_KEY, REGION, SECRET_KEY};
use common::worker::{Stack, WAIT};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn sha256(data: &[u8]) -> String {
    common::job::sha256(data)
}

fn photo() -> Vec<u8> {
    fx::jpeg(&fx::photo(320, 240, 7), 85)
}

/// A runtime with threads to spare: the tests also block on processes.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

/// Polls the attachment until its status is not `uploaded`/`processing`.
async fn settled(http: &Http, server: &Server, token: &str, id: i64) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let answer = http
            .get(&server.url(&format!("/api/attachments/{id}")), Some(token))
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        let view = answer.json();
        if !matches!(view["status"].as_str(), Some("uploaded" | "processing")) {
            return view;
        }
        assert!(
            Instant::now() < deadline,
            "not settled: {view}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The stack's database (SQLite in its data directory).
async fn db(stack: &Stack) -> attachd::db::Db {
    use attachd::db::Db;
    Db::connect(&Db::default_url(&stack.data)).await.unwrap()
}

/// The jobs of the process queue, as npm bullmq reads them.
fn process_jobs(stack: &Stack) -> Vec<Value> {
    stack.node("jobs", json!({ "queue": "attachments.process" }))["jobs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// sign → PUT to the URL sign gave → complete → the worker processes it → GET says ready,
/// with variant and original URLs that serve the right bytes.
async fn whole_flow(stack: &Stack, server: &Server, tokens: &Tokens, rewrite_status: u16) {
    let http = Http::default();
    let bytes = photo();
    let signed = http
        .sign(
            server,
            &tokens.app,
            "Holiday photo.jpg",
            bytes.len(),
            "image/jpeg",
        )
        .await;
    let (id, key) = (
        signed["id"].as_i64().unwrap(),
        signed["fileKey"].as_str().unwrap().to_owned(),
    );
    assert!(
        key.starts_with("uploads/") && key.ends_with("/Holiday_photo.jpg"),
        "{key}"
    );

    let put = http.follow(&signed["upload"], bytes.clone()).await;
    assert!(put.status == 200, "upload: {} {}", put.status, put.text());

    let completed = http
        .complete(server, &tokens.app, &key, &bytes, "image/jpeg")
        .await;
    assert_eq!(completed.status, 202, "{}", completed.text());
    assert_eq!(completed.json()["id"], id);

    let view = settled(&http, server, &tokens.app, id).await;
    assert_eq!(view["status"], "ready", "{view}");
    assert_eq!(
        (view["width"].as_i64(), view["height"].as_i64()),
        (Some(320), Some(240))
    );
    assert_eq!(view["checksum"].as_str(), Some(sha256(&bytes).as_str()));
    let variants = view["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 2, "{view}");
    for v in variants {
        let got = http.get(v["url"].as_str().unwrap(), None).await;
        assert_eq!(got.status, 200, "{v}: {}", got.text());
        assert_eq!(got.body.len() as u64, v["bytes"].as_u64().unwrap());
        match v["format"].as_str().unwrap() {
            "webp" => assert!(got.body.starts_with(b"RIFF") && &got.body[8..12] == b"WEBP"),
            "jpeg" => assert!(got.body.starts_with(&[0xFF, 0xD8])),
            other => panic!("unexpected format {other}"),
        }
    }
    let original = http
        .get(view["original"]["url"].as_str().unwrap(), None)
        .await;
    assert_eq!(original.status, 200);
    assert_eq!(original.body, bytes);
    // The uploader's bytes are saved, never rendered, by a browser that follows the URL.
    assert_eq!(
        original.header("content-disposition").as_deref(),
        Some("attachment"),
        "{:?}",
        original.headers
    );
    if view["original"]["url"]
        .as_str()
        .unwrap()
        .starts_with(&server.base)
    {
        // Served by attachd (the local store): nothing it serves runs as a page of its origin.
        let csp = original
            .header("content-security-policy")
            .unwrap_or_default();
        assert!(csp.starts_with("sandbox"), "{csp}");
        assert_eq!(
            original.header("x-content-type-options").as_deref(),
            Some("nosniff")
        );
    }

    // The upload URL wrote once: the same URL with other bytes of the same size cannot
    // replace what was processed (the local store answers 409 already-uploaded, S3 412 for
    // the signed If-None-Match).
    let mut other = bytes.clone();
    other[bytes.len() / 2] ^= 0xFF;
    let again = http.follow(&signed["upload"], other).await;
    assert_eq!(
        again.status,
        rewrite_status,
        "a second PUT: {}",
        again.text()
    );
    let original = http
        .get(view["original"]["url"].as_str().unwrap(), None)
        .await;
    assert_eq!(
        original.body, bytes,
        "the original changed after processing"
    );

    // One job for the upload, from npm bullmq's side of Redis.
    let jobs = process_jobs(stack);
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    assert_eq!(jobs[0]["data"]["fileKey"], key);
    assert_eq!(
        jobs[0]["data"]["checksum"].as_str(),
        Some(sha256(&bytes).as_str())
    );
}

#[test]
fn the_whole_flow_on_the_local_store_ends_ready_with_working_urls() {
    let stack = Stack::new();
    runtime().block_on(the_whole_flow_on_the_local_store_ends_ready_with_working_urls_on(&stack));
}

async fn the_whole_flow_on_the_local_store_ends_ready_with_working_urls_on(stack: &Stack) {
    let (file, tokens) = tokens_file(stack);
    let server = Server::start(stack, &file, &[]);
    let _worker = stack.start_worker(&[]);
    whole_flow(stack, &server, &tokens, 409).await;

    let http = Http::default();
    // The served document is the committed one.
    let served = http.get(&server.url("/api/openapi.json"), None).await;
    assert_eq!(served.status, 200);
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.json"))
            .unwrap();
    assert_eq!(
        served.text(),
        committed,
        "docs/openapi.json is stale: attachd serve --openapi > docs/openapi.json"
    );
    // Requests are counted by route template and status.
    let metrics = http.get(&server.url("/metrics"), None).await.text();
    assert!(
        metrics.contains(r#"attachments_api_requests_total{method="POST",route="/api/attachments/sign",status="201"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"attachments_api_request_duration_seconds_count{method="GET",route="/api/attachments/{id}"}"#));
    assert_eq!(http.get(&server.url("/readyz"), None).await.status, 200);
    assert_eq!(http.get(&server.url("/healthz"), None).await.status, 200);
}

#[test]
fn the_whole_flow_on_s3_uses_presigned_urls_the_store_enforces() {
    let stack = Stack::new();
    runtime().block_on(the_whole_flow_on_s3_uses_presigned_urls_the_store_enforces_on(&stack));
}

async fn the_whole_flow_on_s3_uses_presigned_urls_the_store_enforces_on(stack: &Stack) {
    let s3 = S3Server::start().await;
    let (file, tokens) = tokens_file(stack);
    let env = [
        ("ATTACH_STORAGE", "s3"),
        ("ATTACH_S3_BUCKET", s3.bucket.as_str()),
        ("ATTACH_S3_ENDPOINT", s3.endpoint.as_str()),
        ("ATTACH_S3_REGION", REGION),
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
    ];
    let server = Server::start(stack, &file, &env);
    let _worker = stack.start_worker(&env);

    // The presigned PUT carries the size and type as signed headers: S3 itself refuses
    // another size or another type, and attachd is not in the path.
    let http = Http::default();
    let signed = http
        .post_json(
            &server.url("/api/attachments/sign"),
            Some(&tokens.app),
            &json!({ "fileName": "a.jpg", "size": 1000, "mimeType": "image/jpeg" }),
        )
        .await
        .json();
    let link = &signed["upload"];
    assert!(
        link["url"].as_str().unwrap().starts_with(&s3.endpoint),
        "{link}"
    );
    assert_eq!(link["headers"]["content-length"], "1000", "{link}");
    let mut short = link.clone();
    short["headers"]
        .as_object_mut()
        .unwrap()
        .remove("content-length");
    let short = http.follow(&short, vec![0xFF; 999]).await;
    assert!(short.status >= 400, "S3 took 999 bytes for a 1000-byte URL");
    let mut other_type = link.clone();
    other_type["headers"]["content-type"] = "text/html".into();
    let html = http.follow(&other_type, vec![b'<'; 1000]).await;
    assert_eq!(
        html.status,
        403,
        "S3 took another content type: {}",
        html.text()
    );

    whole_flow(stack, &server, &tokens, 412).await;
}

/// A refusal: its status and code, and nothing changed (no row, no job).
fn refused(answer: &Answer, status: u16, code: &str) {
    assert_eq!(
        (answer.status, answer.code().as_str()),
        (status, code),
        "{}",
        answer.text()
    );
    assert!(!answer.json()["error"]["message"]
        .as_str()
        .unwrap()
        .is_empty());
}

#[test]
fn bad_requests_get_a_stable_4xx_code_and_change_nothing() {
    let stack = Stack::new();
    runtime().block_on(bad_requests_get_a_stable_4xx_code_and_change_nothing_on(
        &stack,
    ));
}

async fn bad_requests_get_a_stable_4xx_code_and_change_nothing_on(stack: &Stack) {
    let (file, tokens) = tokens_file(stack);
    let server = Server::start(stack, &file, &[("ATTACH_MAX_INPUT_BYTES", "100000")]);
    let http = Http::default();
    let sign = server.url("/api/attachments/sign");
    let complete = server.url("/api/attachments/complete");
    let body = json!({ "fileName": "a.jpg", "size": 1000, "mimeType": "image/jpeg" });

    // Who may call.
    let none = http.post_json(&sign, None, &body).await;
    refused(&none, 401, "unauthenticated");
    assert_eq!(
        none.header("www-authenticate").as_deref(),
        Some("Bearer realm=\"attachd\"")
    );
    refused(
        &http
            .post_json(&sign, Some(&format!("{}x", tokens.app)), &body)
            .await,
        401,
        "invalid-token",
    );
    refused(
        &http.post_json(&sign, Some("short"), &body).await,
        401,
        "invalid-token",
    );
    refused(
        &http.post_json(&sign, Some(&tokens.rev), &body).await,
        403,
        "insufficient-scope",
    );
    refused(
        &http
            .get(&server.url("/api/review/quarantined"), Some(&tokens.app))
            .await,
        403,
        "insufficient-scope",
    );

    // What may be signed.
    let oversize = json!({ "fileName": "a.jpg", "size": 100001, "mimeType": "image/jpeg" });
    refused(
        &http.post_json(&sign, Some(&tokens.app), &oversize).await,
        413,
        "upload-too-large",
    );
    let svg = json!({ "fileName": "a.svg", "size": 10, "mimeType": "image/svg+xml" });
    refused(
        &http.post_json(&sign, Some(&tokens.app), &svg).await,
        415,
        "unsupported-media-type",
    );
    let empty = json!({ "fileName": "a.jpg", "size": 0, "mimeType": "image/jpeg" });
    refused(
        &http.post_json(&sign, Some(&tokens.app), &empty).await,
        400,
        "invalid-request",
    );
    let nameless = json!({ "fileName": "", "size": 10, "mimeType": "image/jpeg" });
    refused(
        &http.post_json(&sign, Some(&tokens.app), &nameless).await,
        400,
        "invalid-request",
    );
    refused(
        &http
            .post_json(&sign, Some(&tokens.app), &json!({ "size": 10 }))
            .await,
        400,
        "invalid-request",
    );
    let not_json = http
        .send(
            "POST",
            &sign,
            &[
                ("authorization", &format!("Bearer {}", tokens.app)),
                ("content-type", "text/plain"),
            ],
            b"{}".to_vec(),
        )
        .await;
    refused(&not_json, 415, "unsupported-media-type");
    let huge = http
        .send(
            "POST",
            &sign,
            &[
                ("authorization", &format!("Bearer {}", tokens.app)),
                ("content-type", "application/json"),
            ],
            format!("{{\"fileName\":\"{}\"}}", "a".repeat(70_000)).into_bytes(),
        )
        .await;
    refused(&huge, 413, "body-too-large");
    assert!(
        db(stack).await.get_by_id(1).await.unwrap().is_none(),
        "a refused sign made a row"
    );

    // Completing what was not signed, or not uploaded, or uploaded otherwise.
    let photo = photo();
    let done = |key: &str, size: usize| json!({ "fileKey": key, "checksum": sha256(&photo), "size": size, "mimeType": "image/jpeg" });
    refused(
        &http
            .post_json(
                &complete,
                Some(&tokens.app),
                &done("quarantine/x/a.jpg", photo.len()),
            )
            .await,
        400,
        "invalid-file-key",
    );
    refused(
        &http
            .post_json(
                &complete,
                Some(&tokens.app),
                &done("uploads/../etc/passwd", photo.len()),
            )
            .await,
        400,
        "invalid-file-key",
    );
    refused(
        &http
            .post_json(
                &complete,
                Some(&tokens.app),
                &done("uploads/nobody/a.jpg", photo.len()),
            )
            .await,
        404,
        "upload-not-signed",
    );
    let signed = http
        .post_json(
            &sign,
            Some(&tokens.app),
            &json!({ "fileName": "a.jpg", "size": photo.len(), "mimeType": "image/jpeg" }),
        )
        .await
        .json();
    let key = signed["fileKey"].as_str().unwrap().to_owned();
    let id = signed["id"].as_i64().unwrap();
    refused(
        &http
            .post_json(&complete, Some(&tokens.app), &done(&key, photo.len()))
            .await,
        409,
        "upload-missing",
    );
    refused(
        &http
            .post_json(&complete, Some(&tokens.app), &done(&key, photo.len() + 1))
            .await,
        409,
        "upload-mismatch",
    );
    let bad_sum =
        json!({ "fileKey": key, "checksum": "abc", "size": photo.len(), "mimeType": "image/jpeg" });
    refused(
        &http.post_json(&complete, Some(&tokens.app), &bad_sum).await,
        400,
        "invalid-request",
    );

    // The local upload URL: its signature, its size, its type.
    let link = signed["upload"].clone();
    let url = link["url"].as_str().unwrap().to_owned();
    let mut forged = link.clone();
    forged["url"] = url.replace("sig=", "sig=0").into();
    refused(
        &http.follow(&forged, photo.clone()).await,
        403,
        "invalid-signature",
    );
    let mut other_type = link.clone();
    other_type["headers"]["content-type"] = "text/html".into();
    refused(
        &http.follow(&other_type, photo.clone()).await,
        403,
        "invalid-signature",
    );
    let mut expired = link.clone();
    expired["url"] = url.replace("expires=", "expires=1").into();
    refused(
        &http.follow(&expired, photo.clone()).await,
        403,
        "invalid-signature",
    );
    refused(
        &http.follow(&link, photo[..photo.len() - 1].to_vec()).await,
        409,
        "size-mismatch",
    );

    // Stored with another size than signed (written behind the API's back).
    let smaller = stack.dir.path().join("smaller.jpg");
    std::fs::write(&smaller, &photo[..photo.len() / 2]).unwrap();
    stack.ingest_file(&key, &["--mime", "image/jpeg"], &smaller);
    refused(
        &http
            .post_json(&complete, Some(&tokens.app), &done(&key, photo.len()))
            .await,
        409,
        "size-mismatch",
    );
    assert!(
        process_jobs(stack).is_empty(),
        "a refused complete queued a job"
    );
    let row = db(stack).await.get_by_id(id).await.unwrap().unwrap();
    assert_eq!(
        (row.status.as_str(), row.checksum.as_deref()),
        ("uploaded", None)
    );

    // A proper upload completes once; the repeat is refused and queues nothing more.
    let signed = http
        .post_json(
            &sign,
            Some(&tokens.app),
            &json!({ "fileName": "b.jpg", "size": photo.len(), "mimeType": "image/jpeg" }),
        )
        .await
        .json();
    let key = signed["fileKey"].as_str().unwrap().to_owned();
    assert_eq!(
        http.follow(&signed["upload"], photo.clone()).await.status,
        200
    );
    refused(
        &http.follow(&signed["upload"], photo.clone()).await,
        409,
        "already-uploaded",
    );
    assert_eq!(
        http.post_json(&complete, Some(&tokens.app), &done(&key, photo.len()))
            .await
            .status,
        202
    );
    refused(
        &http
            .post_json(&complete, Some(&tokens.app), &done(&key, photo.len()))
            .await,
        409,
        "already-completed",
    );
    let other_sum = json!({ "fileKey": key, "checksum": "0".repeat(64), "size": photo.len(), "mimeType": "image/jpeg" });
    refused(
        &http
            .post_json(&complete, Some(&tokens.app), &other_sum)
            .await,
        409,
        "upload-mismatch",
    );
    assert_eq!(process_jobs(stack).len(), 1);

    // Reading.
    refused(
        &http
            .get(&server.url("/api/attachments/999999"), Some(&tokens.app))
            .await,
        404,
        "not-found",
    );
    refused(
        &http
            .get(&server.url("/api/attachments/-1"), Some(&tokens.app))
            .await,
        404,
        "not-found",
    );
    refused(
        &http
            .get(&server.url("/api/attachments/abc"), Some(&tokens.app))
            .await,
        404,
        "not-found",
    );
    refused(
        &http.get(&server.url("/nowhere"), None).await,
        404,
        "not-found",
    );
    let view = http
        .get(
            &server.url(&format!("/api/attachments/{}", signed["id"])),
            Some(&tokens.rev),
        )
        .await;
    assert_eq!(view.status, 200, "a reviewer reads too");
    assert!(
        view.json()["original"].is_null(),
        "an unprocessed upload has no download URL"
    );
    // Review decisions need a quarantined upload and a reason.
    let release = server.url(&format!("/api/attachments/{}/release", signed["id"]));
    refused(
        &http
            .post_json(&release, Some(&tokens.rev), &json!({ "reason": "ok" }))
            .await,
        409,
        "not-quarantined",
    );
    refused(
        &http
            .post_json(&release, Some(&tokens.rev), &json!({ "reason": " " }))
            .await,
        400,
        "invalid-request",
    );
    refused(
        &http
            .post_json(&release, Some(&tokens.app), &json!({ "reason": "ok" }))
            .await,
        403,
        "insufficient-scope",
    );
}

#[test]
fn each_token_is_held_to_its_rate_and_told_when_to_retry() {
    let stack = Stack::new();
    runtime().block_on(each_token_is_held_to_its_rate_and_told_when_to_retry_on(
        &stack,
    ));
}

async fn each_token_is_held_to_its_rate_and_told_when_to_retry_on(stack: &Stack) {
    let (file, tokens) = tokens_file(stack);
    let server = Server::start(
        stack,
        &file,
        &[("ATTACH_API_RATE", "0.5"), ("ATTACH_API_BURST", "3")],
    );
    let http = Http::default();
    let url = server.url("/api/attachments/999");
    for _ in 0..3 {
        assert_eq!(http.get(&url, Some(&tokens.app)).await.status, 404);
    }
    let limited = http.get(&url, Some(&tokens.app)).await;
    refused(&limited, 429, "rate-limited");
    assert_eq!(limited.header("retry-after").as_deref(), Some("2"));
    // Another token has its own allowance.
    assert_eq!(http.get(&url, Some(&tokens.rev)).await.status, 404);
}

#[test]
fn a_reviewer_releases_and_deletes_quarantined_uploads_and_both_are_audited() {
    let stack = Stack::new();
    runtime().block_on(
        a_reviewer_releases_and_deletes_quarantined_uploads_and_both_are_audited_on(&stack),
    );
}

async fn a_reviewer_releases_and_deletes_quarantined_uploads_and_both_are_audited_on(
    stack: &Stack,
) {
    let (file, tokens) = tokens_file(stack);
    let server = Server::start(stack, &file, &[]);
    let http = Http::default();
    // Two uploads the worker quarantines under a strict policy: PNGs declared as JPEG are
    // suspicious, and suspicious uploads are quarantined.
    let png = fx::png_rgb(&fx::photo(64, 48, 3));
    let (mut ids, mut links, mut keys) = (vec![], vec![], vec![]);
    for name in ["keep.png", "drop.png"] {
        let up = http
            .upload(&server, &tokens.app, name, &png, "image/jpeg")
            .await;
        ids.push(up.id);
        keys.push(up.key);
        links.push(up.link);
    }
    {
        let _strict = stack.start_worker(&[("ATTACH_SCAN_SUSPICIOUS", "quarantine")]);
        for id in &ids {
            let view = settled(&http, &server, &tokens.app, *id).await;
            assert_eq!(view["status"], "quarantined", "{view}");
            assert!(view["original"].is_null() && view["variants"].as_array().unwrap().is_empty());
        }
    }
    let queue = http
        .get(&server.url("/api/review/quarantined"), Some(&tokens.rev))
        .await
        .json();
    let listed: Vec<i64> = queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, [ids[1], ids[0]], "most recent first");
    // The upload URL takes nothing once the upload was completed, quarantined or not.
    let mut junk = png.clone();
    junk[png.len() / 2] ^= 0xFF;
    refused(
        &http.follow(&links[0], junk.clone()).await,
        409,
        "already-completed",
    );
    // Bytes written to the key behind the API's back since the quarantine (on S3, the
    // original's key is free again) are not what the reviewer released.
    let store = LocalStorage::open(stack.data.join("objects"))
        .await
        .unwrap();
    store.put(&keys[0], junk.into(), "image/png").await.unwrap();

    // Released under the default policy (publish suspicious uploads): processed again, ready.
    let _worker = stack.start_worker(&[]);
    let released = http
        .post_json(
            &server.url(&format!("/api/attachments/{}/release", ids[0])),
            Some(&tokens.rev),
            &json!({ "reason": "declared type mix-up, not hostile" }),
        )
        .await;
    assert_eq!(
        released.status,
        202,
        "{}\n{}",
        released.text(),
        server.log()
    );
    let view = settled(&http, &server, &tokens.app, ids[0]).await;
    assert_eq!(view["status"], "ready", "{view}");
    let original = http
        .get(view["original"]["url"].as_str().unwrap(), None)
        .await;
    assert_eq!(
        original.body, png,
        "the released bytes are the quarantined ones"
    );
    assert!(
        store
            .head(&format!("quarantine/{}", keys[0]))
            .await
            .unwrap()
            .is_some(),
        "the quarantined copy stays, the record of what was reviewed"
    );
    let history = http
        .get(
            &server.url(&format!("/api/attachments/{}/events", ids[0])),
            Some(&tokens.rev),
        )
        .await
        .json();
    let decisions: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["decision"].as_str().unwrap())
        .collect();
    let release = decisions
        .iter()
        .position(|d| *d == "review-released")
        .expect("release audited");
    assert!(
        decisions[..release].contains(&"quarantined")
            && decisions[release..].contains(&"published"),
        "{decisions:?}"
    );
    let event = &history[release];
    assert_eq!(
        (event["reviewer"].as_str(), event["reason"].as_str()),
        (Some("rev"), Some("declared type mix-up, not hostile"))
    );

    // Deleted: the quarantined copy and the row go; the audit history stays.
    let key = queue["items"][0]["fileKey"].as_str().unwrap().to_owned();
    let deleted = http
        .post_json(
            &server.url(&format!("/api/attachments/{}/delete", ids[1])),
            Some(&tokens.both),
            &json!({ "reason": "junk" }),
        )
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    refused(
        &http
            .get(
                &server.url(&format!("/api/attachments/{}", ids[1])),
                Some(&tokens.app),
            )
            .await,
        404,
        "not-found",
    );
    let store = LocalStorage::open(stack.data.join("objects"))
        .await
        .unwrap();
    assert!(store
        .head(&format!("quarantine/{key}"))
        .await
        .unwrap()
        .is_none());
    assert!(store.head(&key).await.unwrap().is_none());
    let db = db(stack).await;
    let events = db.events(&key).await.unwrap();
    let last = events.last().unwrap();
    assert_eq!(
        (last.decision.as_str(), last.details["reviewer"].as_str()),
        ("review-deleted", Some("ops"))
    );
    let empty = http
        .get(&server.url("/api/review/quarantined"), Some(&tokens.rev))
        .await
        .json();
    assert!(empty["items"].as_array().unwrap().is_empty(), "{empty}");
}

#[test]
fn an_upload_url_stops_working_when_it_expires() {
    let stack = Stack::new();
    runtime().block_on(an_upload_url_stops_working_when_it_expires_on(&stack));
}

async fn an_upload_url_stops_working_when_it_expires_on(stack: &Stack) {
    let (file, tokens) = tokens_file(stack);
    let server = Server::start(stack, &file, &[("ATTACH_API_URL_TTL", "1s")]);
    let http = Http::default();
    let signed = http
        .sign(&server, &tokens.app, "a.jpg", 3, "image/jpeg")
        .await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    refused(
        &http.follow(&signed["upload"], vec![1, 2, 3]).await,
        403,
        "url-expired",
    );
}

#[test]
fn the_api_fuzzed_from_its_openapi_document_answers_no_5xx_and_only_as_documented() {
    let stack = Stack::new();
    runtime().block_on(fuzzed_on(&stack));
}

async fn fuzzed_on(stack: &Stack) {
    let (file, tokens) = tokens_file(stack);
    // A rate the fuzzer does not hit: it would get (documented) 429s instead of exploring.
    let server = Server::start(
        stack,
        &file,
        &[
            ("ATTACH_API_RATE", "100000"),
            ("ATTACH_API_BURST", "100000"),
        ],
    );
    // A few real rows, so that ids the fuzzer tries can exist.
    let http = Http::default();
    for name in ["a.jpg", "b.png"] {
        http.sign(&server, &tokens.app, name, 10, "image/jpeg")
            .await;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/api-fuzz.sh");
    let out = tokio::process::Command::new("bash")
        .arg(script)
        .args([&server.base, &tokens.app, &tokens.rev])
        .env("API_FUZZ_EXAMPLES", "50")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
}

#[test]
fn the_review_page_in_chromium_shows_hostile_names_as_text_and_its_forms_release_and_delete() {
    let stack = Stack::new();
    runtime().block_on(browser_on(&stack));
}

async fn browser_on(stack: &Stack) {
    let (file, tokens) = tokens_file(stack);
    let server = Server::start(stack, &file, &[]);
    let _worker = stack.start_worker(&[]);
    // Keys as any producer may name them (the Node API, `attachd ingest --key`): markup and
    // quotes in the file name. An HTML page declared as PNG: the scan rejects it, quarantine.
    let page = stack.dir.path().join("page.png");
    std::fs::write(&page, fx::html_page()).unwrap();
    let size = fx::html_page().len().to_string();
    let mut keys = vec![];
    for (i, name) in [
        r#"<img src=x onerror=alert(1)>"'&.png"#,
        r#"<script>alert(2)<"#,
    ]
    .iter()
    .enumerate()
    {
        let key = format!("uploads/hostile-{i}/{name}");
        let key = if i == 1 {
            format!("{key}/script>.png")
        } else {
            key
        };
        stack.ingest_file(&key, &["--mime", "image/png"], &page);
        let out = stack
            .attachd()
            .args(["enqueue", &key, "--mime", "image/png", "--size", &size])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        keys.push(key);
    }
    let db = db(stack).await;
    let mut ids = vec![];
    for key in &keys {
        let deadline = Instant::now() + WAIT;
        let row = loop {
            let row = db.get(key).await.unwrap().unwrap();
            if row.status.as_str() == "quarantined" {
                break row;
            }
            assert!(Instant::now() < deadline, "not quarantined: {row:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        ids.push(row.id);
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/interop/review.mjs");
    let out = tokio::process::Command::new("node")
        .arg(script)
        .args(["--base", &server.base, "--token", &tokens.rev])
        .args([
            "--id",
            &ids[0].to_string(),
            "--delete-id",
            &ids[1].to_string(),
        ])
        .args(["--hostile", &keys[0], "--reviewer", "rev"])
        .args(["--reason", "checked by hand: <b>not</b> hostile"])
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser run failed:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    // Both decisions are in the audit table with the reviewer, whatever the page showed.
    let released = db.events(&keys[0]).await.unwrap();
    assert!(released.iter().any(|e| e.decision == "review-released"
        && e.details["reviewer"] == "rev"
        && e.reason == "checked by hand: <b>not</b> hostile"));
    let deleted = db.events(&keys[1]).await.unwrap();
    assert!(deleted
        .iter()
        .any(|e| e.decision == "review-deleted" && e.details["reviewer"] == "rev"));
    assert!(
        db.get(&keys[1]).await.unwrap().is_none(),
        "the deleted row is gone"
    );
}

#[test]
fn sighup_reads_the_tokens_file_again_and_a_broken_file_keeps_the_tokens_before() {
    let stack = Stack::new();
    runtime().block_on(reload_on(&stack));
}

async fn reload_on(stack: &Stack) {
    let (file, tokens) = tokens_file(stack);
    let server = Server::start(stack, &file, &[]);
    let http = Http::default();
    let url = server.url("/api/attachments/1");
    assert_eq!(http.get(&url, Some(&tokens.app)).await.status, 404);
    // A reviewer's session, to be revoked with its token below.
    let urlencoded = ("content-type", "application/x-www-form-urlencoded");
    let login = http
        .send(
            "POST",
            &server.url("/review/login"),
            &[urlencoded],
            format!("token={}", tokens.rev).into_bytes(),
        )
        .await;
    let session = login
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let review = server.url("/review");
    let logged_in = |page: &Answer| page.text().contains("Logged in as");
    assert!(logged_in(
        &http
            .send("GET", &review, &[("cookie", &session)], vec![])
            .await
    ));
    let hangup = || {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &server.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    // `app` revoked: its line goes.
    let text = std::fs::read_to_string(&file).unwrap();
    let kept: Vec<&str> = text.lines().filter(|l| !l.starts_with("app ")).collect();
    std::fs::write(&file, kept.join("\n")).unwrap();
    hangup();
    let deadline = Instant::now() + WAIT;
    while http.get(&url, Some(&tokens.app)).await.status != 401 {
        assert!(
            Instant::now() < deadline,
            "revoked token still accepted\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    refused(
        &http.get(&url, Some(&tokens.app)).await,
        401,
        "invalid-token",
    );
    assert_eq!(http.get(&url, Some(&tokens.rev)).await.status, 404);
    // A file that does not parse: the tokens before stay.
    std::fs::write(&file, "rev review sha256:nothex\n").unwrap();
    hangup();
    let deadline = Instant::now() + WAIT;
    while !server.log().contains("tokens file not read") {
        assert!(
            Instant::now() < deadline,
            "no word of the broken file\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(http.get(&url, Some(&tokens.rev)).await.status, 404);
    refused(
        &http.get(&url, Some(&tokens.app)).await,
        401,
        "invalid-token",
    );
    // `rev` revoked too: its session ends with it.
    std::fs::write(
        &file,
        kept.iter()
            .filter(|l| !l.starts_with("rev "))
            .cloned()
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    hangup();
    let deadline = Instant::now() + WAIT;
    while http.get(&url, Some(&tokens.rev)).await.status != 401 {
        assert!(Instant::now() < deadline, "revoked reviewer still accepted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let page = http
        .send("GET", &review, &[("cookie", &session)], vec![])
        .await;
    assert!(
        !logged_in(&page) && page.text().contains("id=\"login\""),
        "{}",
        page.text()
    );
}

#[test]
fn an_upload_url_takes_one_body_at_a_time_and_none_after_its_upload_was_completed() {
    let stack = Stack::new();
    runtime().block_on(one_body_on(&stack));
}

async fn one_body_on(stack: &Stack) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (file, tokens) = tokens_file(stack);
    let server = Server::start(stack, &file, &[]);
    let http = Http::default();
    let photo = photo();
    let signed = http
        .sign(&server, &tokens.app, "a.jpg", photo.len(), "image/jpeg")
        .await;
    let key = signed["fileKey"].as_str().unwrap().to_owned();
    // A body that stops one byte short, held open.
    let url = signed["upload"]["url"].as_str().unwrap();
    let path = &url[server.base.len()..];
    let mut slow = tokio::net::TcpStream::connect(&server.base["http://".len()..])
        .await
        .unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
        photo.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let mut hostile = fx::html_page();
    hostile.resize(photo.len(), b' ');
    slow.write_all(&hostile[..photo.len() - 1]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A second body for the same URL meanwhile: refused, not buffered beside the first.
    refused(
        &http.follow(&signed["upload"], photo.clone()).await,
        409,
        "upload-in-progress",
    );
    // The real bytes land another way and the upload is completed and processed.
    let real = stack.dir.path().join("real.jpg");
    std::fs::write(&real, &photo).unwrap();
    stack.ingest_file(&key, &["--mime", "image/jpeg"], &real);
    assert_eq!(
        http.complete(&server, &tokens.app, &key, &photo, "image/jpeg")
            .await
            .status,
        202
    );
    // The held body finishes now: refused, and the object is still the real one.
    slow.write_all(&hostile[photo.len() - 1..]).await.unwrap();
    let mut answer = String::new();
    slow.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 409"), "{answer}");
    assert!(answer.contains("already-completed"), "{answer}");
    let store = LocalStorage::open(stack.data.join("objects"))
        .await
        .unwrap();
    assert_eq!(store.get(&key, 1 << 20).await.unwrap(), photo);
}

#[test]
fn a_trickled_json_body_is_cut_off_and_made_up_methods_are_counted_as_other() {
    let stack = Stack::new();
    runtime().block_on(trickle_on(&stack));
}

async fn trickle_on(stack: &Stack) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (file, tokens) = tokens_file(stack);
    let server = Server::start(stack, &file, &[]);
    let started = Instant::now();
    let mut conn = tokio::net::TcpStream::connect(&server.base["http://".len()..])
        .await
        .unwrap();
    let head = format!(
        "POST /api/attachments/sign HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"fi",
        tokens.app
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(30), conn.read_to_string(&mut answer))
        .await
        .expect("cut off well before the request deadline")
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request-timeout"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(25));

    let http = Http::default();
    let odd = "X".repeat(2000);
    assert_eq!(
        http.send(&odd, &server.url("/healthz"), &[], vec![])
            .await
            .status,
        405
    );
    let metrics = http.get(&server.url("/metrics"), None).await.text();
    assert!(!metrics.contains(&odd));
    assert!(metrics.contains(r#"method="other""#), "{metrics}");
}

#[test]
fn a_release_that_could_not_queue_its_job_is_finished_by_releasing_again() {
    let stack = Stack::new();
    runtime().block_on(release_retry_on(&stack));
}

async fn release_retry_on(stack: &Stack) {
    use common::worker::{free_port, spawn_redis_server};
    // A Redis of the test's own, to stop while the release runs.
    let redis_dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut redis = spawn_redis_server(port, redis_dir.path(), &[]);
    let redis_url = format!("redis://127.0.0.1:{port}");
    let (file, tokens) = tokens_file(stack);
    let env = [
        ("ATTACH_REDIS_URL", redis_url.as_str()),
        ("ATTACH_API_REQUEST_TIMEOUT", "5s"),
    ];
    let server = Server::start(stack, &file, &env);
    let http = Http::default();
    let png = fx::png_rgb(&fx::photo(64, 48, 3));
    let id = http
        .upload(&server, &tokens.app, "p.png", &png, "image/jpeg")
        .await
        .id;
    {
        let _strict = stack.start_worker(&[
            ("ATTACH_REDIS_URL", redis_url.as_str()),
            ("ATTACH_SCAN_SUSPICIOUS", "quarantine"),
        ]);
        assert_eq!(
            settled(&http, &server, &tokens.app, id).await["status"],
            "quarantined"
        );
    }
    redis.kill().unwrap();
    redis.wait().unwrap();
    // The public /readyz says no more than that.
    let deadline = Instant::now() + WAIT;
    let ready = loop {
        let ready = http.get(&server.url("/readyz"), None).await;
        if ready.status == 503 || Instant::now() > deadline {
            break ready;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!((ready.status, ready.text().as_str()), (503, "not ready\n"));
    let release = server.url(&format!("/api/attachments/{id}/release"));
    let reason = json!({ "reason": "false positive" });
    let failed = http.post_json(&release, Some(&tokens.rev), &reason).await;
    assert!(
        [(503, "queue-unavailable"), (408, "request-timeout")]
            .contains(&(failed.status, failed.code().as_str())),
        "{}",
        failed.text()
    );
    assert!(
        !failed.text().contains(&port.to_string()) && !failed.text().contains("redis://"),
        "the answer names Redis: {}",
        failed.text()
    );
    // Released, not queued: releasing again queues it, and is recorded as a repeat.
    let mut redis = spawn_redis_server(port, redis_dir.path(), &[]);
    let deadline = Instant::now() + WAIT;
    let again = loop {
        let again = http.post_json(&release, Some(&tokens.rev), &reason).await;
        if again.status == 202 || Instant::now() > deadline {
            break again;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(again.status, 202, "{}\n{}", again.text(), server.log());
    let _worker = stack.start_worker(&[("ATTACH_REDIS_URL", redis_url.as_str())]);
    let view = settled(&http, &server, &tokens.app, id).await;
    assert_eq!(view["status"], "ready", "{view}");
    let events = db(stack)
        .await
        .events(view["fileKey"].as_str().unwrap())
        .await
        .unwrap();
    let releases: Vec<bool> = events
        .iter()
        .filter(|e| e.decision == "review-released")
        .map(|e| e.details["repeated"] == true)
        .collect();
    assert_eq!(
        releases,
        [false, true],
        "both releases are recorded: {events:?}"
    );
    // Not quarantined and not waiting: a third release is refused.
    refused(
        &http.post_json(&release, Some(&tokens.rev), &reason).await,
        409,
        "not-quarantined",
    );
    redis.kill().unwrap();
    let _ = redis.wait();
}

#[test]
fn the_review_page_needs_its_session_and_csrf_token_and_allows_no_script() {
    let stack = Stack::new();
    runtime().block_on(review_page_on(&stack));
}

async fn review_page_on(stack: &Stack) {
    let (file, tokens) = tokens_file(stack);
    let server = Server::start(stack, &file, &[]);
    let http = Http::default();
    let page = http.get(&server.url("/review"), None).await;
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    assert_eq!(page.header("x-frame-options").as_deref(), Some("DENY"));
    // Logging in with an upload token, or a wrong one, starts no session.
    let login = server.url("/review/login");
    let form = |token: &str| format!("token={token}").into_bytes();
    let urlencoded = [("content-type", "application/x-www-form-urlencoded")];
    for (token, status) in [(tokens.app.as_str(), 403), ("atk_wrong", 401)] {
        let answer = http.send("POST", &login, &urlencoded, form(token)).await;
        assert_eq!(answer.status, status);
        assert!(answer.header("set-cookie").is_none());
    }
    let answer = http
        .send("POST", &login, &urlencoded, form(&tokens.rev))
        .await;
    assert_eq!(answer.status, 303);
    let cookie = answer.header("set-cookie").unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/review"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let session = cookie.split(';').next().unwrap().to_owned();
    // A decision without the session, or with it and a CSRF token that is not its own.
    let release = server.url("/review/attachments/1/release");
    let decision = |csrf: &str| format!("reason=ok&csrf={csrf}").into_bytes();
    let no_session = http
        .send("POST", &release, &urlencoded, decision("x"))
        .await;
    assert_eq!(no_session.status, 401);
    assert!(no_session.text().contains("session-required"));
    let with = [urlencoded[0], ("cookie", session.as_str())];
    let forged = http
        .send("POST", &release, &with, decision("0".repeat(64).as_str()))
        .await;
    assert_eq!(forged.status, 403);
    assert!(forged.text().contains("csrf-mismatch"));
    // A session cookie edited to name another reviewer is no session.
    let edited = session.replacen("rev|", "ops|", 1);
    let with = [("cookie", edited.as_str())];
    let page = http
        .send("GET", &server.url("/review"), &with, vec![])
        .await;
    assert!(page.text().contains("id=\"login\""), "{}", page.text());
}

#[test]
fn attachd_serve_without_a_tokens_file_refuses_to_start() {
    let stack = Stack::new();
    let out = stack
        .attachd()
        .arg("serve")
        .env_remove("ATTACH_API_TOKENS_FILE")
        .env("ATTACH_API_ADDR", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ATTACH_API_TOKENS_FILE"), "{stderr}");
}

#[test]
fn a_client_that_stops_reading_its_answers_is_dropped() {
    let stack = Stack::new();
    runtime().block_on(stops_reading_on(&stack));
}

async fn stops_reading_on(stack: &Stack) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (file, _) = tokens_file(stack);
    let server = Server::start(stack, &file, &[]);
    let document_len = Http::default()
        .get(&server.url("/api/openapi.json"), None)
        .await
        .body
        .len();
    // Thousands of requests in one go, their answers never read: the server's writes stall.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut conn = socket
        .connect(server.base["http://".len()..].parse().unwrap())
        .await
        .unwrap();
    let requests = 3000;
    let flood = "GET /api/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n".repeat(requests);
    conn.write_all(flood.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(20)).await;
    // Dropped: what is left to read ends soon, far short of every answer.
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    let drained = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
    })
    .await;
    assert!(
        drained.is_ok(),
        "the connection was still served after 50 s"
    );
    assert!(
        got < requests * document_len / 2,
        "{got} bytes read of {}",
        requests * document_len
    );
}

#[test]
fn hundreds_of_stalled_local_uploads_leave_the_store_to_everyone_else() {
    let stack = Stack::new();
    runtime().block_on(stalled_uploads_on(&stack));
}

async fn stalled_uploads_on(stack: &Stack) {
    use tokio::io::AsyncWriteExt;
    let (file, tokens) = tokens_file(stack);
    let server = Server::start(
        stack,
        &file,
        &[
            ("ATTACH_API_RATE", "100000"),
            ("ATTACH_API_BURST", "100000"),
        ],
    );
    let http = Http::default();
    // More uploads than the blocking threads a process has (512), each sending one byte of
    // its body and then nothing.
    let stalled = 560;
    let mut held = vec![];
    for i in 0..stalled {
        let signed = http
            .sign(
                &server,
                &tokens.app,
                &format!("s{i}.jpg"),
                428,
                "image/jpeg",
            )
            .await;
        let url = signed["upload"]["url"].as_str().unwrap();
        let path = url[server.base.len()..].to_owned();
        let mut conn = tokio::net::TcpStream::connect(&server.base["http://".len()..])
            .await
            .unwrap();
        let head = format!(
            "PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 428\r\n\r\nX"
        );
        conn.write_all(head.as_bytes()).await.unwrap();
        held.push(conn);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Meanwhile an upload goes through, all the way.
    let started = Instant::now();
    let photo = photo();
    let up = tokio::time::timeout(
        Duration::from_secs(20),
        http.upload(&server, &tokens.app, "victim.jpg", &photo, "image/jpeg"),
    )
    .await
    .expect("an upload went through while the others stalled");
    assert!(up.id > stalled as i64);
    assert!(started.elapsed() < Duration::from_secs(20));
    drop(held);
}
