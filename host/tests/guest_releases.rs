//! Signed guest releases: what the loader takes and refuses (and with which code), that the
//! signatures are minisign's both ways, and `attachd guests` verify, install, rollback, list
//! and keygen on real guest directories. The "release builder" here is a key pair made for
//! each test, so nothing depends on the development key `make guests` signs with.

mod common;

use attachd::config::{GuestPaths, SandboxLimits};
use attachd::error::ErrorCode;
use attachd::release::{self, layout, Trust};
use attachd::sandbox::{Sandbox, SandboxError};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tempfile::TempDir;

/// The guests a release holds (`attachd::release::GUESTS`).
const GUESTS: [&str; 4] = ["probe", "scan", "thumbnail", "heif"];

/// A release builder: a fresh key pair, and what it signs.
struct Builder {
    keys: TempDir,
}

impl Builder {
    fn new() -> Builder {
        let keys = tempfile::tempdir().unwrap();
        release::keygen(
            &keys.path().join("release.key"),
            &keys.path().join("release.pub"),
            None,
        )
        .expect("keygen");
        Builder { keys }
    }

    fn public(&self) -> PathBuf {
        self.keys.path().join("release.pub")
    }

    fn secret(&self) -> PathBuf {
        self.keys.path().join("release.key")
    }

    /// Trust in this builder's key only.
    fn trust(&self) -> Trust {
        Trust::parse(self.public().to_str().unwrap(), false).unwrap()
    }

    fn sign(&self, dir: &Path) {
        let key = release::read_secret_key(&self.secret(), None).unwrap();
        release::sign_dir(dir, &key).expect("sign");
    }

    /// The real guests (components and manifests), each manifest given `version`, signed.
    fn release(&self, version: &str) -> TempDir {
        let dir = unsigned_release();
        for g in GUESTS {
            set_manifest(dir.path(), g, "version", version);
        }
        self.sign(dir.path());
        dir
    }
}

/// The real guests' components and manifests, without signatures, in a fresh directory.
fn unsigned_release() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_guests(&common::guest_dir(), dir.path(), &GUESTS, false);
    dir
}

/// Copies guests `names` from `from` to `to` (with their signatures if `signed`).
fn copy_guests(from: &Path, to: &Path, names: &[&str], signed: bool) {
    for g in names {
        let mut files = vec![format!("{g}.wasm"), format!("{g}.json")];
        if signed {
            files.push(format!("{g}.json.minisig"));
        }
        for f in files {
            std::fs::copy(from.join(&f), to.join(&f)).unwrap();
        }
    }
}

/// Sets `field` of guest `name`'s manifest in `dir` (the signature is not renewed).
fn set_manifest(dir: &Path, name: &str, field: &str, value: &str) {
    let path = dir.join(format!("{name}.json"));
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    m[field] = value.into();
    std::fs::write(&path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

/// Flips one byte in the middle of `path`.
fn flip_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 0x55;
    std::fs::write(path, bytes).unwrap();
}

fn sha256_of(path: &Path) -> String {
    release::hex(&Sha256::digest(std::fs::read(path).unwrap()))
}

fn load(dir: &Path, trust: Trust) -> Result<Sandbox, SandboxError> {
    Sandbox::load(
        &GuestPaths {
            dir: dir.to_path_buf(),
            cache_dir: Some(common::cache_dir()),
            trust,
        },
        SandboxLimits::default(),
    )
}

/// The code a load is refused with, and its message.
fn refusal(dir: &Path, trust: Trust) -> (&'static str, String) {
    match load(dir, trust) {
        Ok(_) => panic!("the release in {} loaded", dir.display()),
        Err(e) => (e.code(), e.to_string()),
    }
}

#[test]
fn a_signed_release_loads_and_names_its_versions_and_digests() {
    let builder = Builder::new();
    let dir = builder.release("2.3.4");
    let sandbox = load(dir.path(), builder.trust()).expect("the signed release loads");
    let loaded = sandbox.loaded();
    assert_eq!(
        loaded.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(),
        GUESTS
    );
    for g in &loaded {
        assert_eq!(g.version, "2.3.4", "{}", g.name);
        assert_eq!(
            g.sha256,
            sha256_of(&dir.path().join(format!("{}.wasm", g.name)))
        );
    }
    let key_id = release::read_key_file(&builder.public()).unwrap()[0]
        .id
        .clone();
    for g in sandbox.guests().loaded() {
        assert_eq!(
            g.key_id.as_deref(),
            Some(key_id.as_str()),
            "{}",
            g.guest.name
        );
    }
}

// Each way a release is broken (a flipped byte, an edited manifest, an untrusted key, no
// signature) is refused at start and on reload: host/tests/guest_swap.rs.

#[test]
fn allowing_unsigned_guests_loads_an_unsigned_one_but_still_refuses_a_bad_signature() {
    let builder = Builder::new();
    let allow = || {
        let mut trust = builder.trust();
        trust.allow_unsigned = true;
        trust
    };
    let unsigned = unsigned_release();
    let sandbox = load(unsigned.path(), allow()).expect("unsigned guests load when allowed");
    assert!(sandbox.guests().loaded().iter().all(|g| g.key_id.is_none()));

    // A signature that is present must verify, switch or not.
    let signed = builder.release("1.0.0");
    set_manifest(signed.path(), "probe", "version", "1.0.1");
    let (code, message) = refusal(signed.path(), allow());
    assert_eq!(code, "guest-signature-invalid", "{message}");
    let foreign = Builder::new().release("1.0.0");
    let (code, message) = refusal(foreign.path(), allow());
    assert_eq!(code, "guest-key-untrusted", "{message}");
}

// ----- interop with the minisign tool -----

/// Whether the `minisign` tool is here. Absent, the interop tests are skipped with a
/// message, except under CI, where scripts/setup.sh installs it and its absence is a failure.
fn have_minisign() -> bool {
    let found = Command::new("minisign")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        assert!(
            !ci,
            "CI is set and the minisign tool is not installed (scripts/setup.sh installs it)"
        );
        eprintln!("SKIPPED: the minisign tool is not installed (scripts/setup.sh installs it)");
    }
    found
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run the command");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A key pair made by `minisign -G` (unencrypted) in `dir`: (secret, public).
fn minisign_keygen(dir: &Path) -> (PathBuf, PathBuf) {
    let (secret, public) = (dir.join("tool.key"), dir.join("tool.pub"));
    run(Command::new("minisign")
        .arg("-G")
        .arg("-W")
        .arg("-p")
        .arg(&public)
        .arg("-s")
        .arg(&secret));
    (secret, public)
}

#[test]
fn manifests_signed_by_the_minisign_tool_load_under_its_public_key() {
    if !have_minisign() {
        return;
    }
    let keys = tempfile::tempdir().unwrap();
    let (secret, public) = minisign_keygen(keys.path());
    let dir = unsigned_release();
    for g in GUESTS {
        run(Command::new("minisign")
            .arg("-S")
            .arg("-s")
            .arg(&secret)
            .arg("-m")
            .arg(dir.path().join(format!("{g}.json"))));
    }
    let trust = Trust::parse(public.to_str().unwrap(), false).unwrap();
    let key_id = trust.keys[0].id.clone();
    let sandbox = load(dir.path(), trust).expect("the minisign-signed release loads");
    for g in sandbox.guests().loaded() {
        assert_eq!(g.key_id.as_deref(), Some(key_id.as_str()));
    }
}

#[test]
fn a_legacy_minisign_signature_is_refused() {
    if !have_minisign() {
        return;
    }
    let keys = tempfile::tempdir().unwrap();
    let (secret, public) = minisign_keygen(keys.path());
    let dir = unsigned_release();
    for g in GUESTS {
        // -l: the legacy form, over the raw bytes rather than their BLAKE2b hash.
        run(Command::new("minisign")
            .arg("-S")
            .arg("-l")
            .arg("-s")
            .arg(&secret)
            .arg("-m")
            .arg(dir.path().join(format!("{g}.json"))));
    }
    let trust = Trust::parse(public.to_str().unwrap(), false).unwrap();
    let (code, message) = refusal(dir.path(), trust);
    assert_eq!(code, "guest-signature-invalid", "{message}");
}

#[test]
fn signatures_written_by_attachd_verify_with_the_minisign_tool_as_prehashed() {
    if !have_minisign() {
        return;
    }
    let builder = Builder::new();
    let dir = builder.release("1.0.0");
    for g in GUESTS {
        // -H: the tool accepts only a prehashed signature, the form the host requires.
        run(Command::new("minisign")
            .arg("-V")
            .arg("-H")
            .arg("-p")
            .arg(builder.public())
            .arg("-m")
            .arg(dir.path().join(format!("{g}.json"))));
    }
    // And the tool refuses it once the manifest changes.
    set_manifest(dir.path(), "probe", "version", "1.0.1");
    let out = Command::new("minisign")
        .arg("-V")
        .arg("-p")
        .arg(builder.public())
        .arg("-m")
        .arg(dir.path().join("probe.json"))
        .output()
        .unwrap();
    assert!(!out.status.success());
}

// ----- the command line -----

/// `attachd <args>` on guest directory `guests`, trusting `builder`'s key, with its own data
/// directory (SQLite, for the rollback's audit event) and audit log file, and none of the
/// caller's database or guest settings.
fn attachd(args: &[&str], guests: &Path, builder: &Builder, data: &Path) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_attachd"));
    for var in [
        "ATTACH_DATABASE_URL",
        "ATTACH_GUEST_ALLOW_UNSIGNED",
        "ATTACH_CONFIG",
        "ATTACH_LOG_FORMAT",
    ] {
        cmd.env_remove(var);
    }
    cmd.args(args)
        .env("ATTACH_GUEST_DIR", guests)
        .env("ATTACH_GUEST_TRUSTED_KEYS", builder.public())
        .env("ATTACH_CACHE_DIR", common::cache_dir())
        .env("ATTACH_DATA_DIR", data)
        .env("ATTACH_AUDIT_LOG", data.join("audit.log"))
        .output()
        .expect("run attachd")
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "attachd failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// One test's guest directory (flat, holding `builder`'s release at version `version`) and
/// data directory.
struct Site {
    guests: TempDir,
    data: TempDir,
    builder: Builder,
}

impl Site {
    fn new(version: &str) -> Site {
        let builder = Builder::new();
        let guests = builder.release(version);
        Site {
            guests,
            data: tempfile::tempdir().unwrap(),
            builder,
        }
    }

    fn dir(&self) -> &Path {
        self.guests.path()
    }

    fn attachd(&self, args: &[&str]) -> Output {
        attachd(args, self.dir(), &self.builder, self.data.path())
    }

    /// A release directory holding only `names`, at `version`, signed by this site's key.
    fn new_release(&self, names: &[&str], version: &str) -> TempDir {
        let full = self.builder.release(version);
        let dir = tempfile::tempdir().unwrap();
        copy_guests(full.path(), dir.path(), names, true);
        dir
    }

    fn install(&self, release: &Path) -> Output {
        self.attachd(&["guests", "install", release.to_str().unwrap()])
    }

    fn link(&self, link: &str) -> Option<String> {
        layout::link_target(self.dir(), link)
            .as_deref()
            .and_then(layout::release_of)
    }

    fn list(&self) -> serde_json::Value {
        let out = ok(self.attachd(&["guests", "list", "--json"]));
        serde_json::from_slice(&out.stdout).expect("list --json prints JSON")
    }

    /// What install and rollback change: the links and the releases' directories.
    fn state(&self) -> (Option<String>, Option<String>, Vec<String>) {
        let mut entries = std::fs::read_dir(self.dir().join(layout::RELEASES))
            .map(|rd| {
                rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        entries.sort();
        (
            self.link(layout::CURRENT),
            self.link(layout::PREVIOUS),
            entries,
        )
    }
}

/// Each guest's version in a release as `guests list --json` shows it.
fn versions(release: &serde_json::Value) -> Vec<String> {
    release["guests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            format!(
                "{} {}",
                g["name"].as_str().unwrap(),
                g["version"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn install_makes_a_release_switches_current_and_keeps_previous() {
    let site = Site::new("1.0.0");
    assert_eq!(site.list()["layout"], "flat");

    // First install over the flat directory: no previous. The release carries the probe's
    // licence notice, which travels with it.
    let v2 = site.new_release(&["probe"], "2.0.0");
    std::fs::write(v2.path().join("probe.NOTICE.txt"), "notices of probe 2.0.0").unwrap();
    let out = ok(site.install(v2.path()));
    let first = site.link(layout::CURRENT).expect("current names a release");
    let installed = site.dir().join("releases").join(&first);
    assert_eq!(
        std::fs::read_to_string(installed.join("probe.NOTICE.txt")).unwrap(),
        "notices of probe 2.0.0",
        "the guest's licence notice is installed with it"
    );
    assert!(layout::is_release_id(&first), "{first}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(&first));
    assert_eq!(site.link(layout::PREVIOUS), None);
    let list = site.list();
    assert_eq!(list["layout"], "managed");
    assert_eq!(list["current"]["id"], first.as_str());
    assert_eq!(
        versions(&list["current"]),
        ["probe 2.0.0", "scan 1.0.0", "thumbnail 1.0.0", "heif 1.0.0"],
        "DIR's guest, and the current release's for the others"
    );
    assert!(list["current"]["guests"]
        .as_array()
        .unwrap()
        .iter()
        .all(|g| g["verified"] == true));
    // The release is a copy: the release directory given is left as it was.
    assert!(v2.path().join("probe.wasm").is_file());

    let v3 = site.new_release(&["scan", "thumbnail"], "3.0.0");
    ok(site.install(v3.path()));
    let second = site.link(layout::CURRENT).unwrap();
    assert_ne!(second, first);
    assert_eq!(site.link(layout::PREVIOUS).as_deref(), Some(first.as_str()));
    let list = site.list();
    assert_eq!(
        versions(&list["current"]),
        ["probe 2.0.0", "scan 3.0.0", "thumbnail 3.0.0", "heif 1.0.0"]
    );
    assert_eq!(list["previous"]["id"], first.as_str());
    assert_eq!(
        versions(&list["previous"]),
        ["probe 2.0.0", "scan 1.0.0", "thumbnail 1.0.0", "heif 1.0.0"]
    );
    // The worker's loader reads the new current release.
    let sandbox = load(site.dir(), site.builder.trust()).unwrap();
    assert_eq!(
        sandbox.guests().release(),
        std::fs::canonicalize(layout::release_path(site.dir(), &second)).unwrap()
    );
}

#[test]
fn a_broken_release_is_refused_and_changes_nothing() {
    let site = Site::new("1.0.0");
    ok(site.install(site.new_release(&["probe"], "2.0.0").path()));
    // What an install interrupted midway leaves: cleared by the next install.
    std::fs::create_dir(site.dir().join(layout::RELEASES).join(".incoming-0")).unwrap();
    ok(site.install(site.new_release(&["probe"], "2.1.0").path()));
    let before = site.state();
    assert!(
        before.2.iter().all(|e| layout::is_release_id(e)),
        "{before:?}"
    );

    let broken = site.new_release(&["probe"], "3.0.0");
    flip_byte(&broken.path().join("probe.wasm"));
    let out = site.install(broken.path());
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("guest probe"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("guest-digest-mismatch"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        site.state(),
        before,
        "no link moved, no release left behind"
    );

    // Signed by someone else: refused with its own code, nothing changed either.
    let foreign = Builder::new().release("3.0.0");
    let out = site.install(foreign.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("guest-key-untrusted"),
        "{}",
        stderr(&out)
    );
    assert_eq!(site.state(), before);
}

#[test]
fn install_refuses_a_symlink_leading_out_of_the_release_directory() {
    let site = Site::new("1.0.0");
    let release = site.new_release(&["probe"], "2.0.0");
    let elsewhere = tempfile::tempdir().unwrap();
    let outside = elsewhere.path().join("probe.wasm");
    std::fs::rename(release.path().join("probe.wasm"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, release.path().join("probe.wasm")).unwrap();
    let before = site.state();
    let out = site.install(release.path());
    assert!(!out.status.success());
    assert!(stderr(&out).contains("leads out of"), "{}", stderr(&out));
    assert_eq!(site.state(), before);
    assert!(
        site.list()["current"]["id"].is_null(),
        "still the flat release"
    );
}

#[test]
fn install_refuses_a_hard_link_to_a_file_outside_the_release_directory() {
    // A licence notice is copied unchecked (it is text for people), so a hard link named
    // like one would put any file the installer can read into the release, world-readable.
    let site = Site::new("1.0.0");
    let release = site.new_release(&["probe"], "2.0.0");
    let elsewhere = tempfile::tempdir().unwrap();
    let secret = elsewhere.path().join("secret");
    std::fs::write(&secret, "not for a release").unwrap();
    std::fs::hard_link(&secret, release.path().join("probe.NOTICE.txt")).unwrap();
    let before = site.state();
    let out = site.install(release.path());
    assert!(!out.status.success());
    assert!(stderr(&out).contains("hard links"), "{}", stderr(&out));
    assert_eq!(site.state(), before);
}

#[test]
fn install_refuses_a_fifo_in_the_release_at_once_and_changes_nothing() {
    let site = Site::new("1.0.0");
    let release = site.new_release(&["probe"], "2.0.0");
    let wasm = release.path().join("probe.wasm");
    std::fs::remove_file(&wasm).unwrap();
    // A FIFO no one writes: a blocking open would wait forever, holding the install lock.
    let made = std::process::Command::new("mkfifo")
        .arg(&wasm)
        .status()
        .unwrap();
    assert!(made.success());
    let before = site.state();
    let out = site.install(release.path());
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not a regular file"),
        "{}",
        stderr(&out)
    );
    assert_eq!(site.state(), before);
}

#[test]
fn rollback_restores_the_previous_release() {
    let site = Site::new("1.0.0");
    ok(site.install(site.new_release(&["probe"], "2.0.0").path()));
    let good = site.link(layout::CURRENT).unwrap();
    ok(site.install(site.new_release(&["probe"], "3.0.0").path()));
    let bad = site.link(layout::CURRENT).unwrap();

    let out = ok(site.attachd(&["guests", "rollback"]));
    assert!(
        !stderr(&out).contains("audit log only"),
        "the event is stored in the database too: {}",
        stderr(&out)
    );
    assert_eq!(site.link(layout::CURRENT).as_deref(), Some(good.as_str()));
    assert_eq!(site.link(layout::PREVIOUS).as_deref(), Some(bad.as_str()));
    let list = site.list();
    assert_eq!(
        versions(&list["current"]),
        ["probe 2.0.0", "scan 1.0.0", "thumbnail 1.0.0", "heif 1.0.0"]
    );
    let audit = std::fs::read_to_string(site.data.path().join("audit.log")).unwrap();
    assert!(
        audit
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .any(|e| e["decision"] == "guest-rolled-back"),
        "{audit}"
    );

    // Rolling back again returns to the release rolled back from.
    ok(site.attachd(&["guests", "rollback"]));
    assert_eq!(site.link(layout::CURRENT).as_deref(), Some(bad.as_str()));
}

#[test]
fn rollback_refuses_without_a_previous_release_or_to_a_tampered_one() {
    let site = Site::new("1.0.0");
    let out = site.attachd(&["guests", "rollback"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a flat directory has no previous"
    );
    ok(site.install(site.new_release(&["probe"], "2.0.0").path()));
    let out = site.attachd(&["guests", "rollback"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no previous release"),
        "{}",
        stderr(&out)
    );

    let old = site.link(layout::CURRENT).unwrap();
    ok(site.install(site.new_release(&["probe"], "3.0.0").path()));
    flip_byte(&layout::release_path(site.dir(), &old).join("thumbnail.wasm"));
    let before = site.state();
    let out = site.attachd(&["guests", "rollback"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("guest thumbnail"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("guest-digest-mismatch"),
        "{}",
        stderr(&out)
    );
    assert_eq!(site.state(), before, "the tampered release is not put back");
}

#[test]
fn verify_passes_a_good_release_and_fails_a_bad_one_with_its_code() {
    let site = Site::new("1.0.0");
    let good = site.new_release(&["probe"], "2.0.0");
    let out = ok(site.attachd(&["guests", "verify", good.path().to_str().unwrap()]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("probe") && text.contains("OK"), "{text}");

    let bad = site.new_release(&["probe"], "2.0.0");
    let wasm = bad.path().join("probe.wasm");
    flip_byte(&wasm);
    set_manifest(bad.path(), "probe", "sha256", &sha256_of(&wasm));
    let out = site.attachd(&["guests", "verify", bad.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("guest-signature-invalid"), "{text}");
    assert_eq!(
        site.state(),
        (None, None, vec![]),
        "verify changes nothing in the guest directory"
    );
}

#[test]
fn list_shows_a_guest_that_does_not_verify_with_its_code() {
    let site = Site::new("1.0.0");
    flip_byte(&site.dir().join("scan.wasm"));
    let list = site.list();
    let scan = &list["current"]["guests"][1];
    assert_eq!(scan["name"], "scan");
    assert_eq!(scan["verified"], false);
    assert_eq!(scan["code"], "guest-digest-mismatch");
    assert_eq!(list["current"]["guests"][0]["verified"], true);
}

#[test]
fn keygen_never_overwrites_an_existing_secret_key() {
    let site = Site::new("1.0.0");
    let keys = tempfile::tempdir().unwrap();
    let secret = keys.path().join("k.key");
    let keygen = |public: &str| {
        site.attachd(&[
            "guests",
            "keygen",
            "--secret-key",
            secret.to_str().unwrap(),
            "--public-key",
            keys.path().join(public).to_str().unwrap(),
        ])
    };
    ok(keygen("k.pub"));
    let first = std::fs::read(&secret).unwrap();
    let out = keygen("other.pub");
    assert!(!out.status.success(), "a second keygen over the key fails");
    assert_eq!(
        std::fs::read(&secret).unwrap(),
        first,
        "the key is untouched"
    );
}

#[test]
fn a_release_id_is_its_install_time_and_a_digest_of_its_manifests() {
    let at = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let a = vec![
        ("scan.json".to_string(), b"{}".to_vec()),
        ("probe.json".to_string(), b"{\"a\":1}".to_vec()),
    ];
    let mut b = a.clone();
    b.reverse();
    let id = layout::release_id(at, &a);
    assert!(id.starts_with("20260102T030405Z-"), "{id}");
    assert!(layout::is_release_id(&id), "{id}");
    assert_eq!(
        id,
        layout::release_id(at, &b),
        "the order given does not matter"
    );
    let c = vec![
        ("scan.json".to_string(), b"{}\"a\":1}".to_vec()),
        ("probe.json".to_string(), b"{".to_vec()),
    ];
    assert_ne!(
        id,
        layout::release_id(at, &c),
        "bytes moved between manifests"
    );
    for not_an_id in [
        "..",
        "20260102T030405Z",
        "x-0123456789ab",
        "20260102T030405Z-0123",
    ] {
        assert!(!layout::is_release_id(not_an_id), "{not_an_id}");
    }
}

#[test]
fn a_current_link_naming_a_release_that_is_gone_is_reported_not_replaced_by_the_flat_files() {
    let site = Site::new("1.0.0");
    ok(site.install(site.new_release(&["probe"], "2.0.0").path()));
    let current = site.link(layout::CURRENT).unwrap();
    std::fs::remove_dir_all(layout::release_path(site.dir(), &current)).unwrap();
    // The flat files of 1.0.0 are still at the top of the directory: install must not take
    // them for the current release.
    let out = site.install(site.new_release(&["probe"], "3.0.0").path());
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not in"), "{}", stderr(&out));
    let out = site.attachd(&["guests", "list"]);
    assert!(!out.status.success(), "list says so too");
}

#[test]
fn a_first_install_into_an_empty_guest_directory_needs_every_guest() {
    let builder = Builder::new();
    let root = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let guests = root.path().join("guests");
    let full = builder.release("1.0.0");
    let only_probe = tempfile::tempdir().unwrap();
    copy_guests(full.path(), only_probe.path(), &["probe"], true);

    let install = |dir: &Path| {
        attachd(
            &["guests", "install", dir.to_str().unwrap()],
            &guests,
            &builder,
            data.path(),
        )
    };
    let out = install(only_probe.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("guest scan: guest-unavailable"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_dir(&guests).unwrap().count(),
        0,
        "nothing left"
    );

    ok(install(full.path()));
    let current = layout::link_target(&guests, layout::CURRENT).expect("current is set");
    assert!(layout::release_of(&current).is_some(), "{current:?}");
    assert!(layout::link_target(&guests, layout::PREVIOUS).is_none());
    load(&guests, builder.trust()).expect("the worker's loader reads it");
}
