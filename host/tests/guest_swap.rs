//! Guest releases in a running host: a new release is swapped in between jobs without a
//! restart, a job in flight finishes on the release it started with, a broken release changes
//! nothing, rolling `current` back restores the previous release, and guests of a newer minor
//! WIT serve this host while a 0.2 guest is refused. The releases are signed with a key of the
//! test's own; the components are the real ones (`make guests`), plus the probe built against
//! WIT 0.1.1 and 0.2.0 (`tests/next-guest`).
//!
//! Needs the guests, and for the worker test Redis and npm `bullmq` (`make test` does both).

mod common;

use attachd::config::{GuestPaths, SandboxLimits};
use attachd::error::ErrorCode;
use attachd::sandbox::{Reload, Sandbox};
use common::worker::{wait_for, Stack, WAIT};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// How a release is broken.
#[derive(Debug, Clone, Copy)]
enum Broken {
    /// One byte of `probe.wasm` flipped after signing.
    FlippedByte,
    /// `probe.json` pointed at a changed component, digest and all, after signing.
    EditedManifest,
    /// Signed by a key the host does not trust.
    UntrustedKey,
    /// `probe.json.minisig` missing.
    NoSignature,
}

/// A guest directory in the managed layout (`releases/<name>/`, `current` naming one), with
/// the release key of a test's own.
struct Releases {
    root: tempfile::TempDir,
    _keys: tempfile::TempDir,
    key: minisign::SecretKey,
    trust: attachd::release::Trust,
}

impl Releases {
    fn new() -> Releases {
        let (keys, key, trust) = common::release_key();
        Releases {
            root: tempfile::tempdir().unwrap(),
            _keys: keys,
            key,
            trust,
        }
    }

    fn dir(&self) -> &Path {
        self.root.path()
    }

    /// Release `name`: the real guests, the probe taken from `probe_from` if given (a
    /// directory under the built guests, e.g. `test/next-minor`), the probe's manifest given
    /// `version` if given, signed with the test key, then broken as asked.
    fn add(
        &self,
        name: &str,
        probe_from: Option<&str>,
        version: Option<&str>,
        broken: Option<Broken>,
    ) {
        let release = self.dir().join("releases").join(name);
        std::fs::create_dir_all(&release).unwrap();
        let built = common::guest_dir();
        for (guest, _) in attachd::release::GUESTS {
            let from = match (guest, probe_from) {
                ("probe", Some(sub)) => built.join(sub),
                _ => built.clone(),
            };
            for ext in ["json", "wasm"] {
                let f = format!("{guest}.{ext}");
                std::fs::copy(from.join(&f), release.join(&f)).unwrap();
            }
        }
        if let Some(version) = version {
            edit_manifest(&release.join("probe.json"), |m| {
                m["version"] = json!(version)
            });
        }
        let signer = match broken {
            Some(Broken::UntrustedKey) => common::release_key().1,
            _ => self.key.clone(),
        };
        attachd::release::sign_dir(&release, &signer).unwrap();
        match broken {
            Some(Broken::FlippedByte) => {
                let mut wasm = std::fs::read(release.join("probe.wasm")).unwrap();
                let mid = wasm.len() / 2;
                wasm[mid] ^= 0x01;
                std::fs::write(release.join("probe.wasm"), wasm).unwrap();
            }
            Some(Broken::EditedManifest) => {
                // The attacker's component, and a manifest that vouches for it: only the
                // signature can tell.
                let mut wasm = std::fs::read(release.join("probe.wasm")).unwrap();
                wasm.extend_from_slice(b"\0");
                std::fs::write(release.join("probe.wasm"), &wasm).unwrap();
                let digest = attachd::release::hex(&<sha2::Sha256 as sha2::Digest>::digest(&wasm));
                edit_manifest(&release.join("probe.json"), |m| m["sha256"] = json!(digest));
            }
            Some(Broken::NoSignature) => {
                std::fs::remove_file(release.join("probe.json.minisig")).unwrap();
            }
            Some(Broken::UntrustedKey) | None => {}
        }
    }

    /// Points `current` at release `name` in one rename, as `attachd guests install` does.
    fn switch(&self, name: &str) {
        let tmp = self.dir().join(".current.tmp");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(Path::new("releases").join(name), &tmp).unwrap();
        std::fs::rename(&tmp, self.dir().join("current")).unwrap();
    }

    fn paths(&self) -> GuestPaths {
        GuestPaths {
            dir: self.dir().to_path_buf(),
            cache_dir: Some(common::cache_dir()),
            trust: self.trust.clone(),
        }
    }

    /// The test key's public half, for a worker's `ATTACH_GUEST_TRUSTED_KEYS`.
    fn public_key(&self) -> String {
        self.trust.keys[0].key.to_base64()
    }
}

fn edit_manifest(path: &Path, edit: impl FnOnce(&mut Value)) {
    let mut m: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    edit(&mut m);
    std::fs::write(path, m.to_string()).unwrap();
}

fn probe_version(s: &Sandbox) -> String {
    s.loaded()
        .into_iter()
        .find(|g| g.name == "probe")
        .unwrap()
        .version
}

/// The probe of `s` reads a 4×3 PNG correctly: the set serves.
fn assert_serves(s: &Sandbox) {
    let png = attach_fixtures::png_rgb(&attach_fixtures::photo(4, 3, 1));
    let (info, _) = s.probe(&png, common::roomy_limits()).expect("probe runs");
    let info = info.expect("reads the PNG");
    assert_eq!((info.width, info.height), (4, 3));
}

#[test]
fn a_guest_built_against_a_newer_minor_wit_serves_this_host() {
    let releases = Releases::new();
    releases.add("minor", Some("test/next-minor"), None, None);
    releases.switch("minor");
    let sandbox = Sandbox::load(&releases.paths(), SandboxLimits::default())
        .expect("a 0.1.1 guest loads on a 0.1.0 host");
    assert_eq!(probe_version(&sandbox), "0.1.1");
    let guests = sandbox.guests();
    let probe = guests
        .loaded()
        .iter()
        .find(|g| g.guest.name == "probe")
        .unwrap();
    assert_eq!(probe.world, "attach:media/prober@0.1.1");
    assert_eq!(
        probe.key_id.as_deref(),
        Some(releases.trust.keys[0].id.as_str())
    );
    assert_serves(&sandbox);
    // The whole pipeline runs on it.
    let pipeline = attachd::pipeline::Pipeline::new(
        Arc::new(sandbox),
        attachd::config::InputLimits::default(),
    );
    let jpeg = attach_fixtures::jpeg(&attach_fixtures::photo(320, 240, 7), 85);
    let outcome = pipeline.run(&jpeg, "image/jpeg", &attachd::variant::defaults());
    assert!(outcome.result.is_ok(), "{:?}", outcome.result.err());
    let recorded = outcome.guests.iter().find(|g| g.name == "probe").unwrap();
    assert_eq!(recorded.version, "0.1.1");
}

#[test]
fn a_guest_of_wit_0_2_is_refused_naming_what_this_host_needs() {
    let releases = Releases::new();
    releases.add("major", Some("test/next-major"), None, None);
    releases.switch("major");
    let e = Sandbox::load(&releases.paths(), SandboxLimits::default())
        .err()
        .expect("a 0.2 guest is refused");
    assert_eq!(e.code(), "guest-world-incompatible", "{e}");
    let message = e.to_string();
    assert!(message.contains("attach:media/prober@0.2.0"), "{message}");
    assert!(message.contains("attach:media/prober@0.1.x"), "{message}");
}

#[test]
fn a_guest_of_wit_0_2_whose_manifest_claims_0_1_is_refused_by_its_exports() {
    let releases = Releases::new();
    releases.add("liar", Some("test/next-major"), None, None);
    let release = releases.dir().join("releases/liar");
    edit_manifest(&release.join("probe.json"), |m| {
        m["world"] = json!("attach:media/prober@0.1.0")
    });
    // Signed after the edit: a trusted builder made the mistake, so only the component's own
    // exports can give it away.
    attachd::release::sign_dir(&release, &releases.key).unwrap();
    releases.switch("liar");
    let e = Sandbox::load(&releases.paths(), SandboxLimits::default())
        .err()
        .expect("its exports are refused");
    assert_eq!(e.code(), "guest-unavailable", "{e}");
    assert!(e.to_string().contains("attach:media/prober@0.1.x"), "{e}");
}

#[test]
fn a_guest_that_changes_a_type_the_host_reads_is_refused_at_load_and_on_reload() {
    let releases = Releases::new();
    releases.add("good", None, Some("1.0.0-test"), None);
    releases.add("retyped", Some("test/next-retyped"), None, None);
    releases.switch("retyped");
    let e = Sandbox::load(&releases.paths(), SandboxLimits::default())
        .err()
        .expect("a changed record is refused at load");
    assert_eq!(e.code(), "guest-unavailable", "{e}");
    assert!(e.to_string().contains("types"), "{e}");
    releases.switch("good");
    let sandbox = Sandbox::load(&releases.paths(), SandboxLimits::default()).unwrap();
    releases.switch("retyped");
    assert_eq!(
        sandbox.reload().err().map(|e| e.code()),
        Some("guest-unavailable")
    );
    assert_eq!(probe_version(&sandbox), "1.0.0-test");
    assert_serves(&sandbox);
}

#[test]
fn a_reload_serves_new_sessions_while_a_session_in_flight_keeps_its_release_until_it_ends() {
    let releases = Releases::new();
    releases.add("v1", None, Some("1.0.0-test"), None);
    releases.add("v2", Some("test/next-minor"), Some("2.0.0-test"), None);
    releases.switch("v1");
    let sandbox = Sandbox::load(&releases.paths(), SandboxLimits::default()).unwrap();
    assert_eq!(sandbox.reload().unwrap(), Reload::Unchanged);

    let in_flight = sandbox.session();
    let old = Arc::downgrade(&sandbox.guests());
    releases.switch("v2");
    let Reload::Swapped { from, to } = sandbox.reload().unwrap() else {
        panic!("a new release swaps");
    };
    let version = |set: &[attachd::sandbox::GuestRef]| {
        set.iter()
            .find(|g| g.name == "probe")
            .unwrap()
            .version
            .clone()
    };
    assert_eq!(
        (version(&from), version(&to)),
        ("1.0.0-test".into(), "2.0.0-test".into())
    );
    assert_eq!(probe_version(&sandbox), "2.0.0-test");
    // The job that began on v1 still runs on v1, and its set stays alive while it does.
    assert_eq!(version(&in_flight.guests().refs()), "1.0.0-test");
    let png = attach_fixtures::png_rgb(&attach_fixtures::photo(4, 3, 1));
    let (info, _) = in_flight.probe(&png, common::roomy_limits()).unwrap();
    assert_eq!(info.unwrap().width, 4);
    assert!(old.upgrade().is_some(), "a session keeps its release alive");
    drop(in_flight);
    assert!(
        old.upgrade().is_none(),
        "the old release's compiled code is dropped once no job uses it"
    );
    assert_serves(&sandbox);
}

#[test]
fn each_broken_release_is_refused_on_reload_and_the_running_release_keeps_serving() {
    let releases = Releases::new();
    releases.add("good", None, Some("1.0.0-test"), None);
    releases.switch("good");
    let sandbox = Sandbox::load(&releases.paths(), SandboxLimits::default()).unwrap();
    let cases = [
        (Broken::FlippedByte, "guest-digest-mismatch"),
        (Broken::EditedManifest, "guest-signature-invalid"),
        (Broken::UntrustedKey, "guest-key-untrusted"),
        (Broken::NoSignature, "guest-signature-missing"),
    ];
    for (broken, code) in cases {
        let name = format!("{broken:?}");
        releases.add(&name, None, Some("6.6.6-evil"), Some(broken));
        releases.switch(&name);
        let e = sandbox.reload().err().unwrap_or_else(|| {
            panic!("{broken:?}: the broken release was loaded");
        });
        assert_eq!(e.code(), code, "{broken:?}: {e}");
        assert_eq!(probe_version(&sandbox), "1.0.0-test", "{broken:?}");
        assert_serves(&sandbox);
        // Refused at start as well: nothing loads.
        let at_start = Sandbox::load(&releases.paths(), SandboxLimits::default());
        assert_eq!(at_start.err().map(|e| e.code()), Some(code), "{broken:?}");
    }
}

#[test]
fn a_key_dropped_from_the_trusted_key_file_is_no_longer_trusted_at_the_next_reload() {
    let releases = Releases::new();
    let (_other_keys, _, other) = common::release_key();
    let keys = tempfile::tempdir().unwrap();
    let file = keys.path().join("release.pub");
    let line = |t: &attachd::release::Trust| t.keys[0].key.to_base64();
    std::fs::write(
        &file,
        format!("{}\n{}\n", line(&releases.trust), line(&other)),
    )
    .unwrap();
    let trust = attachd::release::Trust::parse(&file.to_string_lossy(), false).unwrap();
    releases.add("v1", None, Some("1.0.0-test"), None);
    releases.add("v2", None, Some("2.0.0-test"), None);
    releases.switch("v1");
    let paths = GuestPaths {
        trust,
        ..releases.paths()
    };
    let sandbox = Sandbox::load(&paths, SandboxLimits::default()).unwrap();
    // The operator drops the key v2 is signed with (say it was stolen), then reloads.
    std::fs::write(&file, format!("{}\n", line(&other))).unwrap();
    releases.switch("v2");
    let e = sandbox
        .reload()
        .expect_err("the dropped key's release is refused");
    assert_eq!(e.code(), "guest-key-untrusted", "{e}");
    assert_eq!(probe_version(&sandbox), "1.0.0-test");
}

#[test]
fn a_current_that_is_not_a_link_to_a_release_under_releases_is_refused() {
    let releases = Releases::new();
    releases.add("v1", None, Some("1.0.0-test"), None);
    let v1 = releases.dir().join("releases/v1");
    let current = releases.dir().join("current");
    let refused = || {
        Sandbox::load(&releases.paths(), SandboxLimits::default())
            .err()
            .map(|e| (e.code(), e.to_string()))
    };
    // A real directory holding a signed set.
    std::fs::create_dir(&current).unwrap();
    for entry in std::fs::read_dir(&v1).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), current.join(entry.file_name())).unwrap();
    }
    let (code, message) = refused().expect("a directory named current is refused");
    assert_eq!(code, "guest-unavailable");
    assert!(message.contains("not a symlink"), "{message}");
    // A link to a signed set outside releases/.
    std::fs::remove_dir_all(&current).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&v1).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), elsewhere.path().join(entry.file_name())).unwrap();
    }
    std::os::unix::fs::symlink(elsewhere.path(), &current).unwrap();
    let (code, message) = refused().expect("a link out of releases/ is refused");
    assert_eq!(code, "guest-unavailable");
    assert!(
        message.contains("not to a release under releases/"),
        "{message}"
    );
    // A dangling link: refused, never replaced by the files beside it.
    std::fs::remove_file(&current).unwrap();
    std::os::unix::fs::symlink("releases/gone", &current).unwrap();
    assert_eq!(refused().map(|(c, _)| c), Some("guest-unavailable"));
}

#[test]
fn pointing_current_back_at_the_previous_release_rolls_back() {
    let releases = Releases::new();
    releases.add("v1", None, Some("1.0.0-test"), None);
    releases.add("v2", None, Some("2.0.0-test"), None);
    releases.switch("v1");
    let sandbox = Sandbox::load(&releases.paths(), SandboxLimits::default()).unwrap();
    releases.switch("v2");
    assert!(matches!(sandbox.reload(), Ok(Reload::Swapped { .. })));
    assert_eq!(probe_version(&sandbox), "2.0.0-test");
    releases.switch("v1");
    assert!(matches!(sandbox.reload(), Ok(Reload::Swapped { .. })));
    assert_eq!(probe_version(&sandbox), "1.0.0-test");
}

fn millis_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

fn metric(worker: &common::worker::WorkerProcess, line_start: &str) -> Option<f64> {
    let (_, text) = worker.http_get("/metrics");
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// The version of the probe a finished job's summary records.
fn job_probe_version(job: &Value) -> String {
    job["returnvalue"]["guests"]
        .as_array()
        .unwrap_or_else(|| panic!("the summary records the guests: {job:#}"))
        .iter()
        .find(|g| g["name"] == "probe")
        .and_then(|g| g["version"].as_str())
        .expect("the probe's version")
        .to_string()
}

#[test]
fn a_worker_under_a_stream_of_node_jobs_swaps_releases_without_failing_a_job() {
    // A stream that outlasts the refusal and the swap: 60 jobs, 150 ms apart (9 s).
    const JOBS: usize = 60;
    const INTERVAL_MS: u64 = 150;
    // The worker looks at its guest directory this often (the default is 2 s; shorter keeps
    // the stream short).
    const WATCH: &str = "500ms";
    const PROCESS: &str = "attachments.process";
    let releases = Releases::new();
    releases.add("v1", None, Some("1.0.0-test"), None);
    // A new component (the probe built against WIT 0.1.1), so the swap compiles for real.
    releases.add("v2", Some("test/next-minor"), Some("2.0.0-test"), None);
    releases.add(
        "broken",
        None,
        Some("6.6.6-evil"),
        Some(Broken::FlippedByte),
    );
    releases.switch("v1");
    let stack = Stack::new();
    let photo = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../samples"))
        .join("photo-orientation6.jpg");
    let payloads: Vec<Value> = (0..JOBS)
        .map(|i| {
            let up = stack.ingest_file(&format!("uploads/swap-{i}.jpg"), &[], &photo);
            json!({ "fileKey": up["fileKey"], "mimeType": "image/jpeg", "size": up["size"] })
        })
        .collect();
    let guest_dir = releases.dir().to_string_lossy().into_owned();
    let key = releases.public_key();
    let worker = stack.start_worker(&[
        ("ATTACH_GUEST_DIR", &guest_dir),
        ("ATTACH_GUEST_TRUSTED_KEYS", &key),
        ("ATTACH_GUEST_WATCH_INTERVAL", WATCH),
    ]);
    let stream = stack
        .node_command(
            "stream",
            json!({ "queue": PROCESS, "name": PROCESS, "payloads": payloads,
                    "intervalMs": INTERVAL_MS, "opts": { "attempts": 1 } }),
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let completed = |stack: &Stack| -> Vec<Value> {
        stack.node("jobs", json!({ "queue": PROCESS }))["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|j| j["state"] == "completed" || j["state"] == "failed")
            .cloned()
            .collect()
    };
    wait_for("a sixth of the jobs", WAIT, || {
        (completed(&stack).len() >= JOBS / 6).then_some(())
    });

    // A broken release dropped in changes nothing.
    releases.switch("broken");
    wait_for("the broken release's refusal", WAIT, || {
        metric(
            &worker,
            "attachments_guest_refusals_total{reason=\"guest-digest-mismatch\"}",
        )
        .filter(|&n| n >= 1.0)
    });
    assert_eq!(metric(&worker, "attachments_guest_swaps_total"), Some(0.0));

    // The new release.
    let released_at = millis_now();
    let t = Instant::now();
    releases.switch("v2");
    wait_for("the swap", WAIT, || {
        metric(&worker, "attachments_guest_swaps_total").filter(|&n| n >= 1.0)
    });
    let swapped_after = t.elapsed();
    let swapped_at = millis_now();
    let out = stream.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let jobs = wait_for("every job to finish", WAIT, || {
        let done = completed(&stack);
        (done.len() == JOBS).then_some(done)
    });

    let failed: Vec<_> = jobs.iter().filter(|j| j["state"] != "completed").collect();
    assert!(
        failed.is_empty(),
        "no job fails across the swap: {failed:#?}"
    );
    let mut before = 0;
    let mut after = 0;
    for job in &jobs {
        let version = job_probe_version(job);
        let finished = job["finishedOn"].as_f64().unwrap();
        let started = job["processedOn"].as_f64().unwrap();
        assert!(
            version == "1.0.0-test" || version == "2.0.0-test",
            "only the two good releases run: {version}"
        );
        if finished < released_at {
            assert_eq!(
                version, "1.0.0-test",
                "a job done before the release ran v1"
            );
            before += 1;
        }
        if started > swapped_at {
            assert_eq!(version, "2.0.0-test", "a job begun after the swap runs v2");
            after += 1;
        }
    }
    assert!(
        before > 0 && after > 0,
        "jobs on both sides: {before} before, {after} after"
    );
    let (_, metrics) = worker.http_get("/metrics");
    assert!(
        metrics.contains("attachments_guest_info{name=\"probe\",sha256=")
            && metrics.contains("version=\"2.0.0-test\"")
            && !metrics.contains("version=\"1.0.0-test\""),
        "the info metric names the release serving now:\n{metrics}"
    );

    // What the swap cost, for the README and the closing note.
    let first_v2 = jobs
        .iter()
        .filter(|j| job_probe_version(j) == "2.0.0-test")
        .map(|j| j["finishedOn"].as_f64().unwrap())
        .fold(f64::INFINITY, f64::min);
    let duration =
        |j: &Value| j["finishedOn"].as_f64().unwrap() - j["processedOn"].as_f64().unwrap();
    let mut steady: Vec<f64> = Vec::new();
    let mut during: Vec<f64> = Vec::new();
    for j in &jobs {
        let (start, end) = (
            j["processedOn"].as_f64().unwrap(),
            j["finishedOn"].as_f64().unwrap(),
        );
        // A job overlapping the window from the release to the swap shared the CPU with the
        // new release's verification and compilation.
        if end >= released_at && start <= swapped_at {
            during.push(duration(j));
        } else {
            steady.push(duration(j));
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
    };
    eprintln!(
        "guest swap (watch every {WATCH}): release → swap {:.0} ms; release → first job done on it {:.0} ms; job \
         duration median {:.0} ms overlapping the swap ({} jobs) vs {:.0} ms otherwise ({} jobs)",
        swapped_after.as_secs_f64() * 1000.0,
        first_v2 - released_at,
        median(&mut during),
        during.len(),
        median(&mut steady),
        steady.len()
    );

    // The swap and the refusal are in the audit log.
    let url = attachd::db::Db::default_url(&stack.data);
    let decisions: Vec<String> = common::worker::runtime().block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query_scalar(
            "SELECT decision FROM attachment_events WHERE decision LIKE 'guest-%' ORDER BY id",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap()
    });
    assert_eq!(decisions, ["guest-refused", "guest-swapped"]);
    worker.stop();
}

#[test]
fn a_worker_reloads_its_guests_on_sighup_and_a_flat_directory_too() {
    // The flat layout (what `make guests` writes and a package installs): the files replaced
    // in place, no `current` link; the directory is not watched, only SIGHUP reloads.
    let releases = Releases::new();
    releases.add("v1", None, Some("1.0.0-test"), None);
    releases.add("v2", None, Some("2.0.0-test"), None);
    let flat = tempfile::tempdir().unwrap();
    let copy = |name: &str| {
        for entry in std::fs::read_dir(releases.dir().join("releases").join(name)).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), flat.path().join(entry.file_name())).unwrap();
        }
    };
    copy("v1");
    let stack = Stack::new();
    let dir = flat.path().to_string_lossy().into_owned();
    let key = releases.public_key();
    let worker = stack.start_worker(&[
        ("ATTACH_GUEST_DIR", &dir),
        ("ATTACH_GUEST_TRUSTED_KEYS", &key),
        ("ATTACH_GUEST_WATCH_INTERVAL", "0"),
    ]);
    assert_eq!(worker.metric("attachments_guest_swaps_total"), 0.0);
    copy("v2");
    worker.signal("-HUP");
    worker.wait_metric("attachments_guest_swaps_total", 1.0);
    let (_, metrics) = worker.http_get("/metrics");
    assert!(metrics.contains("version=\"2.0.0-test\""), "{metrics}");
    // What it has loaded, as `attachd guests list --worker` asks it.
    let out = stack
        .attachd()
        .args(["guests", "list", "--worker", "--json"])
        .env("ATTACH_METRICS_ADDR", &worker.metrics_addr)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let loaded: Value = serde_json::from_slice(&out.stdout).unwrap();
    let probe = loaded
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "probe")
        .unwrap();
    assert_eq!(probe["version"], "2.0.0-test");
    assert_eq!(probe["key"], releases.trust.keys[0].id.as_str());
    assert!(
        probe["since"].as_str().is_some_and(|s| s.starts_with("20")),
        "{probe}"
    );
    // The process is still the worker: SIGHUP did not end it.
    assert_eq!(worker.http_get("/healthz").0, 200);
    worker.stop();
}

#[test]
fn no_test_guest_verifies_under_the_key_make_test_trusts() {
    // The hostile guests are signed with the test key only: copied into a guest directory
    // where the development key is trusted, they are refused.
    let test_dirs = std::fs::read_dir(common::guest_dir().join("test")).unwrap();
    let mut checked = 0;
    for dir in test_dirs {
        let dir = dir.unwrap().path();
        for (name, world) in attachd::release::GUESTS {
            if !dir.join(format!("{name}.json")).exists() {
                continue;
            }
            let e = attachd::release::verify(&dir, name, world, &common::trust())
                .err()
                .unwrap_or_else(|| panic!("{} {name} verifies", dir.display()));
            assert_eq!(e.code(), "guest-key-untrusted", "{}: {e}", dir.display());
            checked += 1;
        }
    }
    assert!(checked >= 5, "the test guests are there: {checked}");
}

/// The audit table's `decision`s like `pattern`, with their reasons, in order.
fn audited(stack: &Stack, pattern: &str) -> Vec<(String, String)> {
    let url = attachd::db::Db::default_url(&stack.data);
    common::worker::runtime().block_on(async {
        use sqlx::Connection;
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query_as(
            "SELECT decision, reason FROM attachment_events WHERE decision LIKE $1 ORDER BY id",
        )
        .bind(pattern)
        .fetch_all(&mut conn)
        .await
        .unwrap()
    })
}

#[test]
fn a_worker_whose_guests_are_refused_at_start_stops_and_the_audit_log_says_why() {
    let releases = Releases::new();
    releases.add("unsigned", None, None, Some(Broken::NoSignature));
    releases.switch("unsigned");
    let stack = Stack::new();
    let out = stack
        .attachd()
        .arg("worker")
        .env("ATTACH_METRICS_ADDR", "127.0.0.1:0")
        .env("ATTACH_CLEANUP_CRON", "off")
        .env("ATTACH_GUEST_DIR", releases.dir())
        .env("ATTACH_GUEST_TRUSTED_KEYS", releases.public_key())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("no signature"), "{stderr}");
    let events = audited(&stack, "guest-%");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "guest-refused");
    assert!(events[0].1.contains("no signature"), "{events:?}");
}

#[test]
fn without_a_trusted_key_nothing_loads_and_the_refusal_says_how_to_trust_one() {
    let stack = Stack::new();
    let out_dir = tempfile::tempdir().unwrap();
    let photo = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../samples"))
        .join("photo-orientation6.jpg");
    let out = stack
        .attachd()
        .env_remove("ATTACH_GUEST_TRUSTED_KEYS")
        .env_remove("ATTACH_GUEST_ALLOW_UNSIGNED")
        .arg("process")
        .arg(&photo)
        .arg("--out")
        .arg(out_dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("no guest release key is trusted")
            && stderr.contains("ATTACH_GUEST_TRUSTED_KEYS"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(out_dir.path()).unwrap().count(), 0);
}

#[test]
fn the_development_switch_loads_unsigned_guests_and_is_warned_and_audited_at_start() {
    let unsigned = tempfile::tempdir().unwrap();
    for (name, _) in attachd::release::GUESTS {
        for ext in ["json", "wasm"] {
            let f = format!("{name}.{ext}");
            std::fs::copy(common::guest_dir().join(&f), unsigned.path().join(&f)).unwrap();
        }
    }
    let stack = Stack::new();
    let dir = unsigned.path().to_string_lossy().into_owned();
    let worker = stack.start_worker(&[
        ("ATTACH_GUEST_DIR", &dir),
        ("ATTACH_GUEST_ALLOW_UNSIGNED", "1"),
    ]);
    worker.wait_log("ATTACH_GUEST_ALLOW_UNSIGNED=1");
    let warn = worker
        .log()
        .into_iter()
        .find(|l| l.contains("ATTACH_GUEST_ALLOW_UNSIGNED=1"))
        .unwrap();
    assert!(warn.contains("WARN"), "{warn}");
    let (_, guests) = worker.http_get("/guests");
    let guests: Value = serde_json::from_str(&guests).unwrap();
    assert!(
        guests
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["key"].is_null()),
        "loaded unsigned: {guests}"
    );
    let weakened = audited(&stack, "config-weakened");
    assert!(
        weakened
            .iter()
            .any(|(_, reason)| reason.contains("ATTACH_GUEST_ALLOW_UNSIGNED=1")),
        "{weakened:?}"
    );
    worker.stop();
}
