use super::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn layers(env: &[(&str, &str)], file: Option<&Path>, flags: &[(&'static str, &str)]) -> Layers {
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let flags = flags.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    Layers::resolve(
        |name| env.get(name).cloned(),
        file.map(Path::to_owned),
        flags,
    )
    .expect("layers")
}

fn defaults() -> Settings {
    Settings::from_layers(&layers(&[], None, &[])).expect("the defaults load")
}

fn repo_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_defaults_are_the_ones_each_module_names() {
    let s = defaults();
    assert_eq!(s.guests.limits, SandboxLimits::default());
    assert_eq!(s.guests.input, InputLimits::default());
    assert_eq!(s.video, Some(VideoConfig::default()));
    assert_eq!(
        format!("{:?}", s.vscan),
        format!("{:?}", vscan::Policy::default())
    );
    let worker = crate::worker::WorkerConfig::default();
    assert_eq!(s.queue.concurrency, worker.concurrency);
    assert_eq!(s.queue.lock_duration, worker.lock_duration);
    assert_eq!(s.queue.stalled_interval, worker.stalled_interval);
    assert_eq!(s.queue.default_retry, worker.default_retry);
    assert_eq!(s.worker.shutdown_grace, worker.shutdown_grace);
    assert_eq!(s.worker.cleanup_schedule, worker.cleanup_schedule);
    assert_eq!(s.worker.max_bytes_in_flight, worker.max_bytes_in_flight);
    assert_eq!(s.worker.claim_lease, crate::job::DEFAULT_CLAIM_LEASE);
    assert_eq!(
        s.cleanup.orphan_max_age,
        crate::cleanup::CleanupOptions::default().max_age
    );
    assert_eq!(
        s.store.storage,
        StorageConfig::from_lookup(|_| None).expect("storage defaults")
    );
    assert_eq!(
        s.log,
        LogSettings {
            level: "warn".into(),
            json: false,
            audit_file: None
        }
    );
    assert!(s.queue.enabled);
    assert_eq!(s.process_jobs, None);
}

#[test]
fn every_setting_is_read_and_every_read_is_a_setting() {
    // Local storage leaves the S3 settings unread; a bucket reads them all.
    let local = layers(&[], None, &[]);
    Settings::from_layers(&local).expect("local");
    let s3 = layers(&[("ATTACH_S3_BUCKET", "b")], None, &[]);
    Settings::from_layers(&s3).expect("s3");
    let read: BTreeSet<&str> = local.read().union(&s3.read()).copied().collect();
    let all: BTreeSet<&str> = vars::all()
        .iter()
        .map(|v| v.name)
        .filter(|n| *n != vars::CONFIG_VAR)
        .collect();
    assert_eq!(read, all);
}

#[test]
fn a_flag_wins_over_the_environment_over_the_file_over_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("attachd.env");
    std::fs::write(
        &file,
        "# comment\n\nATTACH_QUEUE_PREFIX=from-file\nexport ATTACH_ORPHAN_MAX_AGE=\"3h\"\n\
         ATTACH_CLAIM_LEASE='7m'\nATTACH_QUEUE_CONCURRENCY=9\nATTACH_SHUTDOWN_GRACE=45s  # a comment\n",
    )
    .unwrap();
    let l = layers(
        &[
            ("ATTACH_ORPHAN_MAX_AGE", "4h"),
            ("ATTACH_QUEUE_CONCURRENCY", "5"),
        ],
        Some(&file),
        &[("ATTACH_QUEUE_CONCURRENCY", "6")],
    );
    let s = Settings::from_layers(&l).unwrap();
    assert_eq!(s.queue.prefix, "from-file");
    assert_eq!(s.worker.claim_lease, Duration::from_secs(7 * 60));
    assert_eq!(s.cleanup.orphan_max_age, Duration::from_secs(4 * 3600));
    assert_eq!(s.queue.concurrency, 6);
    assert_eq!(s.worker.shutdown_grace, Duration::from_secs(45));
    assert_eq!(l.source("ATTACH_QUEUE_PREFIX"), Some(&Source::File(file)));
    assert_eq!(l.source("ATTACH_ORPHAN_MAX_AGE"), Some(&Source::Env));
    assert_eq!(l.source("ATTACH_QUEUE_CONCURRENCY"), Some(&Source::Flag));
    assert_eq!(l.source("ATTACH_REDIS_URL"), Some(&Source::Default));
    assert_eq!(l.source("ATTACH_VSCAN_ENDPOINT"), None);
}

#[test]
fn the_config_file_comes_from_attach_config_unless_a_flag_names_one() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.env"), dir.path().join("b.env"));
    std::fs::write(&a, "ATTACH_QUEUE_PREFIX=a\n").unwrap();
    std::fs::write(&b, "ATTACH_QUEUE_PREFIX=b\n").unwrap();
    let from_env = layers(&[(vars::CONFIG_VAR, a.to_str().unwrap())], None, &[]);
    assert_eq!(from_env.get("ATTACH_QUEUE_PREFIX"), Some("a"));
    assert_eq!(from_env.source(vars::CONFIG_VAR), Some(&Source::Env));
    let from_flag = layers(&[(vars::CONFIG_VAR, a.to_str().unwrap())], Some(&b), &[]);
    assert_eq!(from_flag.get("ATTACH_QUEUE_PREFIX"), Some("b"));
    assert_eq!(from_flag.get(vars::CONFIG_VAR), b.to_str());
    assert_eq!(from_flag.source(vars::CONFIG_VAR), Some(&Source::Flag));
}

#[test]
fn a_config_file_naming_no_setting_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("attachd.env");
    std::fs::write(&file, "ATTACH_QUEUE_PREFIX=x\nATTACH_QUEUE_PERFIX=typo\n").unwrap();
    let err = Layers::resolve(|_| None, Some(file.clone()), vec![]).unwrap_err();
    assert!(
        err.to_string().contains("line 2: ATTACH_QUEUE_PERFIX"),
        "{err}"
    );
    // A line that is not NAME=value is refused without being echoed: it may hold a password.
    std::fs::write(&file, "postgres://u:s3cret@db/x?sslmode=require\n").unwrap();
    let err = Layers::resolve(|_| None, Some(file.clone()), vec![]).unwrap_err();
    assert!(!err.to_string().contains("s3cret"), "{err}");
    std::fs::write(&file, "ATTACH_QUEUE_PREFIX=a\nATTACH_QUEUE_PREFIX=b\n").unwrap();
    let err = Layers::resolve(|_| None, Some(file.clone()), vec![]).unwrap_err();
    assert!(
        err.to_string()
            .contains("line 2: ATTACH_QUEUE_PREFIX is set twice"),
        "{err}"
    );
    let missing = dir.path().join("missing.env");
    assert!(Layers::resolve(|_| None, Some(missing), vec![]).is_err());
}

#[test]
fn a_malformed_value_is_refused_naming_its_variable() {
    for (name, value) in [
        ("ATTACH_CLAIM_LEASE", "5 minutes"),
        ("ATTACH_QUEUE_ENABLED", "maybe"),
        ("ATTACH_VIDEO_CRF", "52"),
        ("ATTACH_VIDEO_PRESET", "placebo"),
        ("ATTACH_SCAN_SUSPICIOUS", "ignore"),
        ("ATTACH_LOG_FORMAT", "xml"),
        ("ATTACH_CLEANUP_CRON", "sometimes"),
        ("ATTACH_VSCAN_ENDPOINT", "http://clamd"),
        ("ATTACH_STORAGE", "ftp"),
    ] {
        let err = Settings::from_layers(&layers(&[(name, value)], None, &[]))
            .expect_err(name)
            .to_string();
        assert!(err.contains(name), "{name}={value}: {err}");
    }
}

#[test]
fn the_commands_that_run_jobs_refuse_a_scanner_wait_longer_than_the_orphan_age() {
    let s = Settings::from_layers(&layers(&[("ATTACH_VSCAN_RETRY_CAP", "3h")], None, &[]))
        .expect("a command that runs no job does not check it");
    let err = s.job_policy().expect_err("cap over the orphan age");
    assert!(err.to_string().contains("ATTACH_ORPHAN_MAX_AGE"), "{err}");
    assert!(defaults().job_policy().is_ok());
}

#[test]
fn an_empty_value_is_refused_unless_empty_means_the_default() {
    for name in [
        "ATTACH_CLAIM_LEASE",
        "ATTACH_QUEUE_ENABLED",
        "ATTACH_GUEST_MEMORY",
    ] {
        let err = Settings::from_layers(&layers(&[(name, "")], None, &[]))
            .expect_err(name)
            .to_string();
        assert!(err.contains(name), "{err}");
    }
    // Given empty, a URL is not replaced by the default: it is refused at start, loudly.
    let err = Settings::from_layers(&layers(&[("ATTACH_DATABASE_URL", "")], None, &[]))
        .expect_err("an empty database URL")
        .to_string();
    assert!(err.contains("ATTACH_DATABASE_URL"), "{err}");
    // Empty means the default for these, and hides a config file's value.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("attachd.env");
    std::fs::write(&file, "ATTACH_VSCAN_ENDPOINT=tcp://127.0.0.1:3310\n").unwrap();
    let l = layers(
        &[("ATTACH_VSCAN_ENDPOINT", ""), ("ATTACH_S3_REGION", "")],
        Some(&file),
        &[],
    );
    let s = Settings::from_layers(&l).unwrap();
    assert!(s.vscan.scanner.is_none());
    assert_eq!(l.get("ATTACH_S3_REGION"), Some("us-east-1"));
}

#[test]
fn attachd_config_redacts_passwords_in_urls() {
    assert_eq!(
        crate::redact::redact("postgres://app:s3cret@db:5432/x"),
        "postgres://app:***@db:5432/x"
    );
    assert_eq!(
        crate::redact::redact("redis://pw@cache:6379"),
        "redis://***@cache:6379"
    );
    assert_eq!(
        crate::redact::redact("redis://cache:6379/0"),
        "redis://cache:6379/0"
    );
    // Unescaped characters in a password do not cut the redaction short.
    for (url, shown) in [
        ("redis://:pa/ss@h:6379", "redis://:***@h:6379"),
        ("postgres://u:p?ss@h/db", "postgres://u:***@h/db"),
        ("redis://:pa,ss@h:6379", "redis://:***@h:6379"),
        ("redis://:p@ss@h:6379/0", "redis://:***@h:6379/0"),
        (
            "postgres://u:pw@h/db?password=x&sslmode=require",
            "postgres://u:***@h/db?password=***&sslmode=require",
        ),
        ("pw@h:6379", "***@h:6379"),
        (
            "postgres://u@h/db?p%61ssword=x",
            "postgres://***@h/db?p%61ssword=***",
        ),
        ("redis+unix:///s?PA%53S=x", "redis+unix:///s?PA%53S=***"),
    ] {
        assert_eq!(crate::redact::redact(url), shown, "{url}");
    }
    let l = layers(
        &[("ATTACH_DATABASE_URL", "postgres://app:s3cret@db/x")],
        None,
        &[],
    );
    let printed = effective(&l);
    assert!(!printed.contains("s3cret"), "{printed}");
    assert!(
        printed.contains("ATTACH_DATABASE_URL=postgres://app:***@db/x  # environment"),
        "{printed}"
    );
}

#[test]
fn env_example_is_what_attachd_config_prints() {
    assert_eq!(
        repo_file(".env.example"),
        env_example(),
        "regenerate it: attachd config --env-example > .env.example"
    );
}

#[test]
fn env_example_read_as_a_config_file_changes_nothing() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.env.example");
    let l = layers(&[], Some(&path), &[]);
    assert!(vars::all()
        .iter()
        .all(|v| !matches!(l.source(v.name), Some(Source::File(_)))));
}

/// The README's settings tables: those with a `variable` or `env` column. Returns each
/// variable named in that column with the text of its row's variable and default cells.
fn readme_settings() -> BTreeMap<String, String> {
    let readme = repo_file("README.md");
    let mut documented = BTreeMap::new();
    let mut columns: Option<(usize, usize)> = None;
    for line in readme.lines() {
        if !line.starts_with('|') {
            columns = None;
            continue;
        }
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.iter().all(|c| c.chars().all(|ch| "-: ".contains(ch))) {
            continue;
        }
        let Some((var_col, default_col)) = columns else {
            let find = |names: &[&str]| {
                cells
                    .iter()
                    .position(|c| names.contains(&c.to_ascii_lowercase().as_str()))
            };
            columns = find(&["variable", "env"])
                .zip(find(&["default"]))
                .or(Some((usize::MAX, usize::MAX)));
            continue;
        };
        let (Some(var_cell), Some(default_cell)) = (cells.get(var_col), cells.get(default_col))
        else {
            continue;
        };
        for name in var_cell.split('`').filter(|w| {
            w.starts_with("ATTACH_")
                && w.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        }) {
            documented.insert(name.to_owned(), format!("{var_cell} {default_cell}"));
        }
    }
    documented
}

#[test]
fn the_readme_tables_list_every_setting_with_its_default() {
    let documented = readme_settings();
    let names: BTreeSet<&str> = documented.keys().map(String::as_str).collect();
    let all: BTreeSet<&str> = vars::all().iter().map(|v| v.name).collect();
    assert_eq!(
        names.difference(&all).collect::<Vec<_>>(),
        Vec::<&&str>::new(),
        "in the README, not settings"
    );
    assert_eq!(
        all.difference(&names).collect::<Vec<_>>(),
        Vec::<&&str>::new(),
        "settings the README's tables do not list"
    );
    for var in vars::all() {
        if let Some(default) = &var.default {
            let row = &documented[var.name];
            assert!(
                row.contains(&format!("`{default}`")),
                "README: {} should show its default `{default}`: {row}",
                var.name
            );
        }
    }
}

#[test]
fn an_error_about_a_secret_setting_hides_its_password() {
    let l = layers(
        &[("ATTACH_REDIS_URL", "redis://u:s3cret@cache:6379")],
        None,
        &[],
    );
    let err = l
        .with("ATTACH_REDIS_URL", |_| Err::<(), _>("refused".to_owned()))
        .unwrap_err()
        .to_string();
    assert!(!err.contains("s3cret"), "{err}");
    assert!(err.contains("redis://u:***@cache:6379"), "{err}");
}

#[test]
fn a_url_that_does_not_parse_is_a_settings_error_not_an_outage() {
    for (name, value) in [
        ("ATTACH_DATABASE_URL", "mysql://app:pw@db/x"),
        ("ATTACH_DATABASE_URL", "postgres://app:pw@db:notaport/x"),
        ("ATTACH_REDIS_URL", "http://cache:6379"),
    ] {
        let err = Settings::from_layers(&layers(&[(name, value)], None, &[]))
            .expect_err(value)
            .to_string();
        assert!(err.contains(name), "{err}");
        assert!(!err.contains(":pw@"), "no password in {err}");
    }
}

#[test]
fn the_claim_on_an_upload_follows_the_queue_lock_unless_set() {
    // A job is taken over from a dead worker once its lock lapses; a longer claim would make
    // it find the upload still held by the dead worker.
    let s =
        Settings::from_layers(&layers(&[("ATTACH_QUEUE_LOCK_DURATION", "5s")], None, &[])).unwrap();
    assert_eq!(s.worker.claim_lease, Duration::from_secs(5));
    let s = Settings::from_layers(&layers(
        &[
            ("ATTACH_QUEUE_LOCK_DURATION", "5s"),
            ("ATTACH_CLAIM_LEASE", "1m"),
        ],
        None,
        &[],
    ))
    .unwrap();
    assert_eq!(s.worker.claim_lease, Duration::from_secs(60));
    assert_eq!(
        defaults().worker.claim_lease,
        crate::worker::DEFAULT_LOCK_DURATION
    );
}
