//! The ops pack (`ops/`): alert rules that load and behave as their unit tests say, a dashboard
//! and rules that only use metrics the worker exports, and a systemd unit that verifies.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn ops() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops")
}

fn run(cmd: &mut Command) -> std::process::Output {
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.output().unwrap_or_else(|e| {
        panic!("{program}: {e} (scripts/setup.sh installs it; run `make test`)")
    })
}

fn assert_ok(what: &str, out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn alert_rules_load_and_pass_their_promtool_unit_tests() {
    let dir = ops().join("prometheus");
    let check = run(Command::new("promtool")
        .args(["check", "rules", "attachd-alerts.yml"])
        .current_dir(&dir));
    assert_ok("promtool check rules", &check);
    let test = run(Command::new("promtool")
        .args(["test", "rules", "attachd-alerts.test.yml"])
        .current_dir(&dir));
    assert_ok("promtool test rules", &test);
}

/// `attachments_*` names in a text, with histogram series suffixes folded into their family.
fn metric_names(text: &str, histograms: &BTreeSet<String>) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("attachments_") {
        let start = i + at;
        let preceded_by_ident =
            start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let mut end = start;
        while end < bytes.len()
            && (bytes[end].is_ascii_lowercase()
                || bytes[end].is_ascii_digit()
                || bytes[end] == b'_')
        {
            end += 1;
        }
        if !preceded_by_ident {
            let name = &text[start..end];
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| {
                    name.strip_suffix(s)
                        .filter(|base| histograms.contains(*base))
                })
                .unwrap_or(name);
            names.insert(family.to_string());
        }
        i = end;
    }
    names
}

#[test]
fn rules_and_dashboard_use_only_metrics_the_worker_exports() {
    let metrics = attachd::metrics::Metrics::new(&attachd::queue::QueueName::labels());
    let exported: BTreeSet<String> = metrics.family_names().iter().cloned().collect();
    let histograms: BTreeSet<String> = exported
        .iter()
        .filter(|n| n.ends_with("_seconds"))
        .cloned()
        .collect();
    for file in [
        "prometheus/attachd-alerts.yml",
        "grafana/attachd-dashboard.json",
    ] {
        let text = std::fs::read_to_string(ops().join(file)).unwrap();
        let used = metric_names(&text, &histograms);
        assert!(used.len() >= 5, "{file}: found only {used:?}");
        let unknown: Vec<_> = used.difference(&exported).collect();
        assert!(
            unknown.is_empty(),
            "{file} uses metrics the worker does not export: {unknown:?}"
        );
    }
}

#[test]
fn the_dashboard_stacks_waiting_depth_per_queue() {
    let text = std::fs::read_to_string(ops().join("grafana/attachd-dashboard.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).unwrap();
    let panels = dash["panels"].as_array().unwrap();
    let depth = panels
        .iter()
        .find(|p| {
            p["targets"].as_array().is_some_and(|t| {
                t.iter().any(|t| {
                    t["expr"].as_str().is_some_and(|e| {
                        e.contains("attachments_queue_depth") && e.contains("state=\"waiting\"")
                    })
                })
            })
        })
        .expect("a waiting-depth panel");
    assert_eq!(
        depth["fieldConfig"]["defaults"]["custom"]["stacking"]["mode"],
        "normal"
    );
    assert_eq!(depth["targets"][0]["legendFormat"], "{{queue}}");
}

#[test]
fn systemd_unit_verifies_without_warnings() {
    let unit = std::fs::read_to_string(ops().join("systemd/attachd-worker.service")).unwrap();
    // systemd-analyze checks that ExecStart exists: point it at the binary under test.
    let unit = unit.replace("/usr/local/bin/attachd", env!("CARGO_BIN_EXE_attachd"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("attachd-worker.service");
    std::fs::write(&path, unit).unwrap();
    let out = run(Command::new("systemd-analyze").arg("verify").arg(&path));
    assert_ok("systemd-analyze verify", &out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let own: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("attachd-worker.service"))
        .collect();
    assert!(own.is_empty(), "warnings about the unit: {own:?}");
}
