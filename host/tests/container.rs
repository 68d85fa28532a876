//! The container deployment (`deploy/`), tested as far as this machine allows: it has no
//! container engine that can pull base images, so nothing here builds or runs the image.
//!
//! - the compose file of the local trial validates with Debian's `docker-compose`, which
//!   checks it against the Compose schema without asking any engine, and says what it must;
//! - the Containerfile's final stage runs as a non-root numeric user, checks its health with
//!   `attachd healthcheck` and installs no compiler: checks on the file's text, which show
//!   what the file says, not what an engine would make of it;
//! - the image's entry point, outside any container: `attachd worker` with the image's
//!   settings (its wildcard metrics address on a free port, this checkout's guests and key),
//!   and `attachd healthcheck` against it, against a worker whose Redis is away, and against
//!   a closed port.

mod common;

use common::worker::{free_port, redis_url, remove_keys, wait_for, WorkerProcess, READY_TIMEOUT};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn run(cmd: &mut Command) -> Output {
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.output().unwrap_or_else(|e| {
        panic!("{program}: {e} (scripts/setup.sh installs it; run `make test`)")
    })
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// ---------------------------------------------------------------------------------------
// The compose file

/// `docker-compose` with no engine anywhere: `DOCKER_HOST` names a socket that does not
/// exist, so a command that needed the engine would fail.
fn compose(file: &Path, args: &[&str]) -> Output {
    let nowhere = tempfile::tempdir().unwrap();
    run(Command::new("docker-compose")
        .arg("-f")
        .arg(file)
        .args(args)
        .env(
            "DOCKER_HOST",
            format!("unix://{}/no-engine.sock", nowhere.path().display()),
        ))
}

/// docker-compose's own interpreter (its `#!` line), which has the PyYAML it runs on: Debian's
/// python3-yaml, a dependency of the package. Not `python3` from `PATH`, which may be another
/// Python without it.
const COMPOSE_PYTHON: &str = "/usr/bin/python3";

/// The compose file as `docker-compose config` resolves it (anchors merged, every service
/// whole), as JSON: docker-compose's own YAML library turns its YAML into JSON.
fn resolved_compose() -> Value {
    let config = compose(&repo().join("deploy/compose.yaml"), &["config"]);
    assert!(config.status.success(), "{}", text(&config));
    let mut python = Command::new(COMPOSE_PYTHON)
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("docker-compose's interpreter, /usr/bin/python3");
    use std::io::Write;
    python
        .stdin
        .take()
        .unwrap()
        .write_all(&config.stdout)
        .unwrap();
    let out = python.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_compose_file_validates_without_a_container_engine_and_a_broken_copy_does_not() {
    let file = repo().join("deploy/compose.yaml");
    let check = compose(&file, &["config", "-q"]);
    assert!(check.status.success(), "{}", text(&check));
    // The control: the same file with one key misspelt fails the same check, so a pass means
    // the schema was applied, not skipped.
    let broken = tempfile::tempdir().unwrap();
    let copy = broken.path().join("compose.yaml");
    let original = read("deploy/compose.yaml");
    assert!(original.contains("read_only: true"));
    std::fs::write(&copy, original.replace("read_only: true", "readonly: true")).unwrap();
    let refused = compose(&copy, &["config", "-q"]);
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("readonly"),
        "{}",
        text(&refused)
    );
}

/// The host of a URL-like setting (`scheme://[user:pass@]host:port/...`).
fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap();
    let host_port = authority.rsplit('@').next().unwrap();
    host_port.split(':').next().unwrap()
}

#[test]
fn the_compose_trial_runs_attachd_read_only_as_non_root_after_migrate_and_wires_every_service() {
    let config = resolved_compose();
    let services = config["services"].as_object().expect("services");
    for name in ["attachd", "migrate", "redis", "postgres", "s3", "clamd"] {
        assert!(services.contains_key(name), "no {name} service");
    }
    for name in ["attachd", "migrate"] {
        let s = &services[name];
        assert_eq!(
            s["image"], services["attachd"]["image"],
            "{name}: one image"
        );
        assert_eq!(s["read_only"], true, "{name}: read-only root");
        let user = s["user"].as_str().expect("a user");
        let uid: u32 = user
            .split(':')
            .next()
            .unwrap()
            .parse()
            .expect("numeric uid");
        assert_ne!(uid, 0, "{name}: not root");
        let tmpfs: Vec<&str> = s["tmpfs"]
            .as_array()
            .map(|t| t.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert!(
            tmpfs.contains(&"/tmp"),
            "{name}: /tmp is a tmpfs: {tmpfs:?}"
        );
        let volumes: Vec<&str> = s["volumes"]
            .as_array()
            .expect("volumes")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for dir in ["/var/lib/attachd", "/var/cache/attachd"] {
            assert!(
                volumes
                    .iter()
                    .any(|v| v.starts_with("attachd-") && v.split(':').nth(1) == Some(dir)),
                "{name}: a named volume at {dir}: {volumes:?}"
            );
        }
        // Every ATTACH_ name is a setting attachd has (a misspelt one would stop it at start).
        for key in s["environment"].as_object().expect("environment").keys() {
            if key.starts_with("ATTACH_") {
                assert!(
                    attachd::settings::all().iter().any(|v| v.name == key),
                    "{name}: {key} is no attachd setting"
                );
            }
        }
    }
    assert_eq!(
        services["migrate"]["command"],
        serde_json::json!(["migrate"])
    );
    let worker = &services["attachd"];
    assert_eq!(worker["command"], serde_json::json!(["worker"]));
    let health: Vec<&str> = worker["healthcheck"]["test"]
        .as_array()
        .expect("a healthcheck")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(health, ["CMD", "attachd", "healthcheck"]);
    let needs = &worker["depends_on"];
    assert_eq!(
        needs["migrate"]["condition"], "service_completed_successfully",
        "the schema before the worker"
    );
    for dep in ["redis", "s3", "clamd"] {
        assert_eq!(needs[dep]["condition"], "service_healthy", "{dep}");
    }
    assert_eq!(
        services["migrate"]["depends_on"]["postgres"]["condition"],
        "service_healthy"
    );
    for dep in ["postgres", "redis", "s3", "clamd"] {
        assert!(
            services[dep]["healthcheck"]["test"].is_array(),
            "{dep}: a healthcheck, for depends_on to wait on"
        );
    }
    // Redis keeps the queues across a restart.
    let redis: Vec<&str> = services["redis"]["command"]
        .as_array()
        .expect("redis command")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        redis.windows(2).any(|w| w == ["--appendonly", "yes"]),
        "{redis:?}"
    );
    // Each service setting names the compose service that provides it.
    let env = &worker["environment"];
    for (var, service) in [
        ("ATTACH_DATABASE_URL", "postgres"),
        ("ATTACH_REDIS_URL", "redis"),
        ("ATTACH_S3_ENDPOINT", "s3"),
        ("ATTACH_VSCAN_ENDPOINT", "clamd"),
    ] {
        let value = env[var].as_str().unwrap_or_else(|| panic!("{var} is set"));
        assert_eq!(url_host(value), service, "{var}={value}");
    }
    assert!(env["ATTACH_S3_BUCKET"].is_string());
    assert!(env["AWS_ACCESS_KEY_ID"].is_string() && env["AWS_SECRET_ACCESS_KEY"].is_string());
    // The ffmpeg jail: either the engine's seccomp profile is lifted so the jail can make its
    // namespaces, or video is off; never a worker whose video jobs fail for want of them.
    let lifted = worker["security_opt"]
        .as_array()
        .is_some_and(|o| o.iter().any(|o| o == "seccomp=unconfined"));
    assert!(lifted || env["ATTACH_VIDEO"] == "off", "{worker}");
}

// ---------------------------------------------------------------------------------------
// The Containerfile, by its text

/// One instruction: its keyword (upper case) and the rest, continuation lines joined.
#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
}

/// The Containerfile's instructions, grouped by stage (each starts at a `FROM`).
fn stages(file: &str) -> Vec<Vec<Instruction>> {
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in file.lines() {
        let trimmed = line.trim();
        // Comment and blank lines are dropped, inside a continuation too, as the engines do.
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let whole = std::mem::take(&mut current);
                let (keyword, args) = whole
                    .split_once(char::is_whitespace)
                    .unwrap_or((&whole, ""));
                instructions.push(Instruction {
                    keyword: keyword.to_ascii_uppercase(),
                    args: args.trim().to_string(),
                });
            }
        }
    }
    let mut stages: Vec<Vec<Instruction>> = Vec::new();
    for i in instructions {
        if i.keyword == "FROM" {
            stages.push(Vec::new());
        }
        if let Some(stage) = stages.last_mut() {
            stage.push(i);
        }
    }
    stages
}

/// The `ARG NAME=default` values before the first stage.
fn global_args(file: &str) -> BTreeMap<String, String> {
    file.lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("FROM"))
        .filter_map(|l| l.strip_prefix("ARG "))
        .filter_map(|a| a.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn args_of<'a>(stage: &'a [Instruction], keyword: &str) -> Vec<&'a str> {
    stage
        .iter()
        .filter(|i| i.keyword == keyword)
        .map(|i| i.args.as_str())
        .collect()
}

/// The packages an `apt-get install` in `run` names (its arguments that are not options).
fn apt_packages(run: &str) -> Vec<String> {
    run.split("&&")
        .filter_map(|cmd| cmd.split_once("apt-get install").map(|(_, rest)| rest))
        .flat_map(|rest| rest.split_whitespace())
        .filter(|w| !w.starts_with('-'))
        .map(str::to_string)
        .collect()
}

/// The image's `ENV` settings (`ENV K=V K=V …`).
fn image_env(stage: &[Instruction]) -> BTreeMap<String, String> {
    args_of(stage, "ENV")
        .iter()
        .flat_map(|a| a.split_whitespace())
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn containerfile() -> (String, Vec<Vec<Instruction>>) {
    let file = read("deploy/Containerfile");
    let stages = stages(&file);
    assert!(stages.len() >= 2, "a build stage and a runtime stage");
    (file, stages)
}

/// What a compiler or a build toolchain is called in Debian's packages.
fn is_toolchain(package: &str) -> bool {
    let name = package.split(['=', ':']).next().unwrap();
    [
        "gcc", "g++", "cpp", "clang", "llvm", "lld", "rustc", "cargo", "binutils",
    ]
    .iter()
    .any(|t| name == *t || name.starts_with(&format!("{t}-")))
        || ["build-essential", "make", "cmake", "libc6-dev", "wasi-libc"].contains(&name)
        || name.ends_with("-dev")
}

#[test]
fn containerfile_final_stage_runs_numeric_non_root_with_attachd_healthcheck_and_no_compiler_by_text(
) {
    let (file, stages) = containerfile();
    let global = global_args(&file);
    let last = stages.last().unwrap();
    let from = args_of(last, "FROM")[0];
    let base = from
        .split_whitespace()
        .next()
        .unwrap()
        .replace("${RUNTIME_IMAGE}", &global["RUNTIME_IMAGE"]);
    assert!(base.ends_with("debian:bookworm-slim"), "{from} = {base}");

    // A numeric user and group, neither root.
    let users = args_of(last, "USER");
    assert_eq!(users.len(), 1, "{users:?}");
    let (uid, gid) = users[0].split_once(':').expect("USER uid:gid");
    let (uid, gid): (u32, u32) = (uid.parse().expect("numeric"), gid.parse().expect("numeric"));
    assert!(uid != 0 && gid != 0, "{uid}:{gid}");
    // After every RUN: nothing the image does at build time is left to run as that user by
    // surprise, and the USER line is the one the container starts with.
    let user_at = last.iter().position(|i| i.keyword == "USER").unwrap();
    assert!(last[user_at..].iter().all(|i| i.keyword != "RUN"));

    // The health check is attachd's own, on /healthz.
    let health = args_of(last, "HEALTHCHECK");
    assert_eq!(health.len(), 1);
    let cmd = health[0]
        .split_once("CMD")
        .expect("HEALTHCHECK … CMD")
        .1
        .trim();
    let cmd: Vec<String> = serde_json::from_str(cmd).expect("exec form");
    assert_eq!(cmd, ["attachd", "healthcheck"]);
    assert!(health[0].contains("--timeout=5s"), "{}", health[0]);

    // No compiler: the only packages are ffmpeg and the CA certificates, installed without
    // their recommendations, and nothing is copied from the toolchain's directories.
    let runs = args_of(last, "RUN");
    let packages: Vec<String> = runs.iter().flat_map(|r| apt_packages(r)).collect();
    assert_eq!(packages, ["ffmpeg", "ca-certificates"], "{runs:?}");
    assert!(runs
        .iter()
        .filter(|r| r.contains("apt-get install"))
        .all(|r| r.contains("--no-install-recommends")));
    assert!(packages.iter().all(|p| !is_toolchain(p)));
    assert!(runs
        .iter()
        .all(|r| !r.contains("rustup") && !r.contains("cargo ")));
    for copy in args_of(last, "COPY") {
        assert!(copy.starts_with("--from=build /out/"), "{copy}");
    }
    assert!(is_toolchain("clang-16") && is_toolchain("gcc") && !is_toolchain("ffmpeg"));

    // The binary, the settings, the port, the volumes, the entry point.
    let binary = "--from=build /out/bin/attachd /usr/local/bin/attachd";
    assert!(args_of(last, "COPY").contains(&binary));
    let env = image_env(last);
    let want = [
        ("ATTACH_GUEST_DIR", "/usr/local/lib/attachd/guests"),
        (
            "ATTACH_GUEST_TRUSTED_KEYS",
            "/usr/local/lib/attachd/release.pub",
        ),
        ("ATTACH_METRICS_ADDR", "0.0.0.0:9464"),
        ("ATTACH_CACHE_DIR", "/var/cache/attachd"),
        ("ATTACH_DATA_DIR", "/var/lib/attachd"),
    ];
    assert_eq!(
        env,
        want.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>()
    );
    assert_eq!(args_of(last, "EXPOSE"), ["9464"]);
    let volumes: Vec<String> =
        serde_json::from_str(args_of(last, "VOLUME")[0]).expect("VOLUME in exec form");
    assert_eq!(volumes, ["/var/lib/attachd", "/var/cache/attachd"]);
    assert_eq!(args_of(last, "ENTRYPOINT"), [r#"["attachd"]"#]);
    assert_eq!(args_of(last, "CMD"), [r#"["worker"]"#]);
}

#[test]
fn containerfile_build_stage_uses_the_workspace_rustc_and_signs_with_a_secret_or_build_key_by_text()
{
    let (file, stages) = containerfile();
    let global = global_args(&file);
    let build = &stages[0];
    assert!(args_of(build, "FROM")[0].contains("AS build"));
    // The Rust image is the workspace's rust-version on bookworm.
    let manifest = read("Cargo.toml");
    let rust_version = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .expect("the workspace's rust-version")
        .trim_matches('"');
    let image = &global["RUST_IMAGE"];
    assert!(
        image.contains(&format!("rust:{rust_version}.")) && image.ends_with("-bookworm"),
        "{image} is not rust {rust_version} on bookworm"
    );
    let runs = args_of(build, "RUN").join("\n");
    for package in ["clang-16", "llvm-16", "wasi-libc"] {
        assert!(runs.contains(package), "{package}");
    }
    for step in [
        "rustup target add wasm32-wasip2",
        "cargo build --release --locked -p attachd",
        "scripts/build-guests.sh",
        "--mount=type=secret,id=guest_key",
        "guests sign",
        "guests keygen",
        "guests verify",
    ] {
        assert!(runs.contains(step), "the build stage runs {step:?}");
    }
    // The build context leaves out build output and npm installs.
    let ignore = read(".dockerignore");
    let entries: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for needed in ["target", "fuzz", "**/node_modules"] {
        assert!(entries.contains(&needed), "{needed} in .dockerignore");
    }
}

// ---------------------------------------------------------------------------------------
// The entry point, outside the container

fn attachd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_attachd"))
}

/// `attachd healthcheck [args]` against `addr`: its exit code and its one line.
fn healthcheck(addr: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = attachd()
        .arg("healthcheck")
        .args(args)
        .env("ATTACH_METRICS_ADDR", addr)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {}", text(&out));
    (out.status.code(), lines[0].to_string())
}

/// The release keys `make test` trusts (its `ATTACH_GUEST_TRUSTED_KEYS`), else the
/// development key where `make guests` writes it.
fn trusted_keys() -> String {
    std::env::var("ATTACH_GUEST_TRUSTED_KEYS").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../target/guest-keys/dev.pub").to_string()
    })
}

/// Removes a test's Redis keys when it ends, however it ends.
struct RedisKeys(String);

impl Drop for RedisKeys {
    fn drop(&mut self) {
        let _ = remove_keys(&self.0);
    }
}

/// `attachd worker` as the image starts it: the image's ENV, with its paths moved to this
/// checkout (the guests `make test` built and the key it trusts, the shared compile cache, a
/// data dir of the test's own) and the metrics port moved to `port` (same wildcard address);
/// Redis is the tests' unless `redis` says otherwise.
fn worker_as_in_the_image(data: &Path, prefix: &str, port: u16, redis: &str) -> Command {
    let (_, stages) = containerfile();
    let env = image_env(stages.last().unwrap());
    let metrics = &env["ATTACH_METRICS_ADDR"];
    let (host, _) = metrics.rsplit_once(':').unwrap();
    assert_eq!(host, "0.0.0.0", "the image listens beyond loopback");
    let mut cmd = common::worker::attachd(data, prefix);
    cmd.arg("worker");
    let here: BTreeMap<&str, String> = [
        (
            "ATTACH_GUEST_DIR",
            common::guest_dir().display().to_string(),
        ),
        ("ATTACH_GUEST_TRUSTED_KEYS", trusted_keys()),
        ("ATTACH_METRICS_ADDR", format!("{host}:{port}")),
        (
            "ATTACH_CACHE_DIR",
            common::cache_dir().display().to_string(),
        ),
        ("ATTACH_DATA_DIR", data.display().to_string()),
    ]
    .into();
    for (var, image_value) in &env {
        let value = here
            .get(var.as_str())
            .unwrap_or_else(|| panic!("the test does not know the image's {var}={image_value}"));
        cmd.env(var, value);
    }
    cmd.env("ATTACH_REDIS_URL", redis)
        .env("ATTACH_QUEUE_PREFIX", prefix)
        .env("ATTACH_CLEANUP_CRON", "off")
        .env("NO_COLOR", "1");
    cmd
}

#[test]
fn healthcheck_exits_0_against_the_image_entrypoint_on_the_wildcard_address_and_1_once_it_stops() {
    let data = tempfile::tempdir().unwrap();
    let keys = RedisKeys(common::worker::redis_prefix());
    let port = free_port();
    let worker = WorkerProcess::start(worker_as_in_the_image(
        data.path(),
        &keys.0,
        port,
        &redis_url(),
    ));
    assert_eq!(worker.metrics_addr, format!("0.0.0.0:{port}"));

    let addr = format!("0.0.0.0:{port}");
    let (code, line) = healthcheck(&addr, &[]);
    assert_eq!(code, Some(0), "{line}");
    assert!(line.starts_with("healthy: "), "{line}");
    assert!(
        line.contains(&format!("http://127.0.0.1:{port}/healthz answered 200")),
        "0.0.0.0 is asked as 127.0.0.1: {line}"
    );
    // Ready: Redis and the database answer.
    let (code, line) = healthcheck(&addr, &["--path", "/readyz"]);
    assert_eq!(code, Some(0), "{line}");
    assert!(line.contains("/readyz answered 200"), "{line}");

    worker.stop();
    // The same address with nothing listening: unhealthy, and why.
    let (code, line) = healthcheck(&addr, &[]);
    assert_eq!(code, Some(1), "{line}");
    assert!(line.starts_with("unhealthy: "), "{line}");
    assert!(line.contains("connection refused"), "{line}");
}

#[test]
fn healthcheck_exits_1_on_readyz_503_while_the_worker_waits_for_redis_and_0_on_healthz() {
    let data = tempfile::tempdir().unwrap();
    let keys = RedisKeys(common::worker::redis_prefix());
    let port = free_port();
    // Redis on a port nobody listens on: the worker serves its endpoints and waits.
    let away = format!("redis://127.0.0.1:{}", free_port());
    let mut worker =
        WorkerProcess::spawn(worker_as_in_the_image(data.path(), &keys.0, port, &away));
    worker.metrics_addr = format!("0.0.0.0:{port}");
    let addr = worker.metrics_addr.clone();
    // Alive as soon as it listens.
    wait_for("/healthz to answer", READY_TIMEOUT, || {
        let (code, _) = healthcheck(&addr, &[]);
        (code == Some(0)).then_some(())
    });
    // Not ready, saying why (once the start reaches Redis: the guests load first).
    let line = wait_for("/readyz to name Redis", READY_TIMEOUT, || {
        let (code, line) = healthcheck(&addr, &["--path", "/readyz"]);
        assert_eq!(code, Some(1), "{line}");
        assert!(line.contains("/readyz answered 503: not ready"), "{line}");
        line.contains("redis").then_some(line)
    });
    assert!(line.starts_with("unhealthy: "), "{line}");
    // SIGTERM before ready: a clean exit.
    worker.signal("-TERM");
    let (code, _) = worker.wait_exit();
    assert_eq!(code, Some(0));
}

#[test]
fn healthcheck_without_a_fixed_port_exits_1_and_a_malformed_path_is_a_usage_error() {
    let (code, line) = healthcheck("127.0.0.1:0", &[]);
    assert_eq!(code, Some(1), "{line}");
    assert!(line.contains("port 0"), "{line}");
    let out = attachd()
        .args(["healthcheck", "--path", "healthz now"])
        .env("ATTACH_METRICS_ADDR", format!("127.0.0.1:{}", free_port()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
