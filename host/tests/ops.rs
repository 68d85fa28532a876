//! The ops pack (`ops/`): alert rules that load and behave as their unit tests say, a dashboard
//! and rules that only use metrics the worker exports, an Alertmanager configuration that
//! checks and routes the failed-jobs alert (and only it) to Slack, and a systemd unit that
//! verifies.

use std::collections::{BTreeMap, BTreeSet};
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
fn the_cleanup_tile_is_red_below_4_successful_runs_an_hour() {
    let text = std::fs::read_to_string(ops().join("grafana/attachd-dashboard.json")).unwrap();
    let dash: serde_json::Value = serde_json::from_str(&text).unwrap();
    let tile = dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| {
            p["targets"].as_array().is_some_and(|t| {
                t.iter().any(|t| {
                    t["expr"].as_str().is_some_and(|e| {
                        e.contains("attachments_cleanup_runs_total{outcome=\"ok\"}")
                    })
                })
            })
        })
        .expect("a tile of successful cleanup runs");
    let defaults = &tile["fieldConfig"]["defaults"];
    let steps = defaults["thresholds"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert_eq!(steps[0]["color"], "red");
    assert!(
        steps[0]["value"].is_null(),
        "red from the bottom: {steps:?}"
    );
    assert_eq!(steps[1]["value"], 4);
    assert_eq!(steps[1]["color"], "green");
    assert_eq!(defaults["color"]["mode"], "thresholds");
    assert_ne!(defaults["custom"]["thresholdsStyle"]["mode"], "off");
}

/// One alert rule of `attachd-alerts.yml`, as far as routing and these tests need it.
#[derive(Debug)]
struct AlertRule {
    name: String,
    expr: String,
    labels: BTreeMap<String, String>,
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn unquote(value: &str) -> &str {
    let v = value.trim();
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(v)
}

/// The alert rules of `attachd-alerts.yml`, read as text (the tests have no YAML parser): each
/// `- alert:` item's name, its `expr` (inline or a `|` block) and its `labels` map. The rule
/// file's layout is plain block YAML; the checks below fail if a rule is not understood.
fn alert_rules() -> Vec<AlertRule> {
    let text = std::fs::read_to_string(ops().join("prometheus/attachd-alerts.yml")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut rules = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let Some(name) = lines[i].trim_start().strip_prefix("- alert:") else {
            i += 1;
            continue;
        };
        // The rule's keys sit where `alert` does, two columns right of the dash.
        let keys = indent(lines[i]) + 2;
        let mut rule = AlertRule {
            name: unquote(name).to_string(),
            expr: String::new(),
            labels: BTreeMap::new(),
        };
        i += 1;
        while i < lines.len() {
            let line = lines[i];
            let content = line.trim_start();
            if content.is_empty() || content.starts_with('#') {
                i += 1;
                continue;
            }
            if indent(line) < keys {
                break;
            }
            let (key, value) = content.split_once(':').unwrap_or((content, ""));
            i += 1;
            // The lines indented under this key.
            let mut block = Vec::new();
            while i < lines.len() && (lines[i].trim().is_empty() || indent(lines[i]) > keys) {
                block.push(lines[i].trim());
                i += 1;
            }
            match key {
                "expr" if value.trim() == "|" => rule.expr = block.join("\n").trim().to_string(),
                "expr" => rule.expr = unquote(value).to_string(),
                "labels" => {
                    for l in block
                        .iter()
                        .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    {
                        let (k, v) = l.split_once(':').unwrap_or_else(|| panic!("label {l:?}"));
                        rule.labels
                            .insert(k.trim().to_string(), unquote(v).to_string());
                    }
                }
                _ => {}
            }
        }
        rules.push(rule);
    }
    assert_eq!(
        rules.len(),
        text.matches("- alert:").count(),
        "every rule is read"
    );
    for r in &rules {
        assert!(!r.expr.is_empty(), "{}: no expr read", r.name);
        assert!(
            r.labels.contains_key("severity"),
            "{}: no labels read",
            r.name
        );
    }
    rules
}

/// The alert the worker plan routes to Slack `#alerts-storage`: more than 5 failed jobs in 10
/// minutes. Found by what it computes, not by its name, so renaming it breaks the route test.
fn failed_jobs_rule(rules: &[AlertRule]) -> &AlertRule {
    let found: Vec<&AlertRule> = rules
        .iter()
        .filter(|r| {
            r.expr.contains("increase(attachments_jobs_failed_total") && r.expr.contains("[10m]")
        })
        .collect();
    assert_eq!(found.len(), 1, "one failed-jobs alert: {found:?}");
    found[0]
}

const ALERTMANAGER_CONFIG: &str = "alertmanager/alertmanager.yml";
/// The receiver of `ALERTMANAGER_CONFIG` that posts to Slack `#alerts-storage`.
const SLACK_RECEIVER: &str = "slack-alerts-storage";

/// The labels Alertmanager routes an alert of `rule` by: its name and the labels the rule
/// sets. (Labels its expression keeps, such as `dependency` or `queue`, come on top; no route
/// uses them.)
fn alert_labels(rule: &AlertRule) -> BTreeMap<String, String> {
    let mut labels = rule.labels.clone();
    labels.insert("alertname".into(), rule.name.clone());
    labels
}

/// `amtool config routes test` of an alert with `labels` against the shipped configuration;
/// with `verify`, amtool fails unless the alert reaches exactly that receiver.
fn routes_test(labels: &BTreeMap<String, String>, verify: Option<&str>) -> std::process::Output {
    let config = ops().join(ALERTMANAGER_CONFIG);
    let mut cmd = Command::new("amtool");
    cmd.args(["config", "routes", "test"])
        .arg(format!("--config.file={}", config.display()));
    if let Some(receiver) = verify {
        cmd.arg(format!("--verify.receivers={receiver}"));
    }
    for (k, v) in labels {
        assert!(!v.contains(['"', '\\']), "{k}={v}: quote it for amtool");
        cmd.arg(format!("{k}=\"{v}\""));
    }
    run(&mut cmd)
}

/// The receivers an alert with `labels` reaches.
fn routed_to(labels: &BTreeMap<String, String>) -> Vec<String> {
    let out = routes_test(labels, None);
    assert_ok("amtool config routes test", &out);
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .split(',')
        .map(|r| r.trim().to_string())
        .collect()
}

#[test]
fn alertmanager_config_passes_amtool_check_config_without_the_slack_secret_file() {
    let config = ops().join(ALERTMANAGER_CONFIG);
    let text = std::fs::read_to_string(&config).unwrap();
    // The webhook URL is read from a file when Alertmanager sends; none is in the repository.
    let secret = "/etc/alertmanager/secrets/slack-alerts-storage-url";
    assert!(text.contains(&format!("api_url_file: {secret}")));
    assert!(!text.contains("api_url:") && !text.contains("slack_api_url"));
    assert!(!text.contains("hooks.slack.com"));
    assert!(text.contains("channel: \"#alerts-storage\""));
    let check = run(Command::new("amtool").arg("check-config").arg(&config));
    assert_ok("amtool check-config", &check);
    // As shipped, whether or not this machine has the secret: the same file with the secret
    // at a path that surely does not exist checks too.
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-secret");
    let copy = dir.path().join("alertmanager.yml");
    std::fs::write(&copy, text.replace(secret, missing.to_str().unwrap())).unwrap();
    let check = run(Command::new("amtool").arg("check-config").arg(&copy));
    assert_ok("amtool check-config (secret file missing)", &check);
}

#[test]
fn the_failed_jobs_alert_with_its_rule_labels_routes_to_slack_alerts_storage_only() {
    let rules = alert_rules();
    let labels = alert_labels(failed_jobs_rule(&rules));
    let out = routes_test(&labels, Some(SLACK_RECEIVER));
    assert_ok(&format!("routing {labels:?} to {SLACK_RECEIVER}"), &out);
    assert_eq!(routed_to(&labels), [SLACK_RECEIVER]);
}

#[test]
fn no_other_alert_reaches_the_slack_receiver() {
    let rules = alert_rules();
    let failed = failed_jobs_rule(&rules).name.clone();
    let others: Vec<&AlertRule> = rules.iter().filter(|r| r.name != failed).collect();
    assert!(
        others
            .iter()
            .any(|r| r.expr.contains("attachments_cleanup_runs_total")),
        "the cleanup alert is among those checked"
    );
    for rule in others {
        let receivers = routed_to(&alert_labels(rule));
        assert!(!receivers.is_empty() && !receivers[0].is_empty());
        assert!(
            !receivers.iter().any(|r| r == SLACK_RECEIVER),
            "{} goes to {receivers:?}",
            rule.name
        );
    }
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

/// The namespaces the ffmpeg jail creates, read from its code (`UnshareFlags::NEW…`), as
/// systemd names them.
fn jail_namespaces() -> BTreeSet<&'static str> {
    let code =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/jail/confine.rs"))
            .unwrap();
    let names = [
        ("NEWUSER", "user"),
        ("NEWNET", "net"),
        ("NEWPID", "pid"),
        ("NEWNS", "mnt"),
        ("NEWIPC", "ipc"),
        ("NEWUTS", "uts"),
        ("NEWCGROUP", "cgroup"),
    ];
    code.match_indices("UnshareFlags::NEW")
        .map(|(i, _)| {
            let flag: String = code[i + "UnshareFlags::".len()..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase())
                .collect();
            names
                .iter()
                .find(|(f, _)| *f == flag)
                .unwrap_or_else(|| panic!("UnshareFlags::{flag} has no systemd name here"))
                .1
        })
        .collect()
}

#[test]
fn the_service_unit_allows_every_namespace_the_ffmpeg_jail_creates() {
    // Else systemd's seccomp filter refuses the jail's unshare() and, in strict mode (the
    // default), every video upload fails `video-sandbox-unavailable` under the unit.
    let unit = std::fs::read_to_string(ops().join("systemd/attachd-worker.service")).unwrap();
    let allowed: BTreeSet<&str> = unit
        .lines()
        .find_map(|l| l.strip_prefix("RestrictNamespaces="))
        .expect("the unit restricts namespaces")
        .split_whitespace()
        .collect();
    let needed = jail_namespaces();
    assert!(
        needed.contains("pid") && needed.contains("user"),
        "{needed:?}"
    );
    assert!(
        needed.is_subset(&allowed),
        "the jail creates {needed:?}; the unit allows {allowed:?}"
    );
}
