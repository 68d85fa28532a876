//! `make fuzz`'s driver, on stable: writes each target's seeds, runs each libFuzzer binary
//! (built by `cargo fuzz build` on the pinned nightly) for a fixed time, minimises what it
//! found back into the committed corpus, and prints one table.
//!
//!   attach-fuzz seeds DIR
//!   attach-fuzz run --bins DIR --seeds DIR --seconds N [TARGET...]

use attach_fuzz::{corpus_dir, repo_root, target, Target, TARGETS};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("seeds") if args.len() == 2 => match write_seeds(Path::new(&args[1])) {
            Ok(n) => {
                eprintln!("attach-fuzz: {n} seeds written to {}", args[1]);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("attach-fuzz: {e}");
                ExitCode::FAILURE
            }
        },
        Some("run") => match run(&args[1..]) {
            Ok(clean) if clean => ExitCode::SUCCESS,
            Ok(_) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("attach-fuzz: {e}");
                ExitCode::from(2)
            }
        },
        _ => {
            eprintln!(
                "usage: attach-fuzz seeds DIR | run --bins DIR --seeds DIR --seconds N [TARGET...]"
            );
            ExitCode::from(2)
        }
    }
}

fn write_seeds(dir: &Path) -> std::io::Result<usize> {
    let mut n = 0;
    for t in TARGETS {
        let d = dir.join(t.name);
        std::fs::create_dir_all(&d)?;
        for (name, data) in attach_fuzz::seeds::for_target(t.name) {
            std::fs::write(d.join(name), data)?;
            n += 1;
        }
    }
    Ok(n)
}

/// What one libFuzzer run reported.
#[derive(Debug, Default, PartialEq)]
struct Stats {
    execs: u64,
    execs_per_sec: u64,
    /// Edges (`cov:`) and features (`ft:`) at the end.
    cov: u64,
    ft: u64,
    corpus: u64,
    peak_rss_mb: u64,
    /// What stopped it early: `crash`, `timeout`, `oom`, `leak`, or nothing.
    finding: Option<String>,
}

fn run(args: &[String]) -> Result<bool, String> {
    let (mut bins, mut seeds, mut seconds, mut names) = (None, None, 60u64, Vec::new());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--bins" => bins = Some(PathBuf::from(value()?)),
            "--seeds" => seeds = Some(PathBuf::from(value()?)),
            "--seconds" => {
                seconds = value()?
                    .parse()
                    .map_err(|_| "--seconds takes a whole number".to_string())?
            }
            name => names.push(name.to_string()),
        }
    }
    let bins = bins.ok_or("--bins is required")?;
    let seeds = seeds.ok_or("--seeds is required")?;
    let targets: Vec<&Target> = if names.is_empty() {
        TARGETS.iter().collect()
    } else {
        names
            .iter()
            .map(|n| target(n).ok_or(format!("no target {n:?}")))
            .collect::<Result<_, _>>()?
    };
    let logs = repo_root().join("target/fuzz-logs");
    std::fs::create_dir_all(&logs).map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    for t in targets {
        eprintln!("attach-fuzz: {} for {seconds} s", t.name);
        let mut stats = fuzz_one(t, &bins, &seeds.join(t.name), seconds, &logs)?;
        let (corpus, merge_finding) = minimise(t, &bins, &logs)?;
        // An input that breaks the target while the corpus is minimised is a finding too
        // (libFuzzer's merge survives it and leaves the input out of the merged corpus).
        stats.finding = stats
            .finding
            .or(merge_finding.map(|f| format!("{f} (while minimising)")));
        rows.push((t.name, stats, corpus));
    }
    println!(
        "{:<13} {:>12} {:>8} {:>7} {:>8} {:>7} {:>8} {:>8}  finding",
        "target", "executions", "execs/s", "edges", "features", "corpus", "kept", "rss MB"
    );
    let mut clean = true;
    for (name, s, kept) in &rows {
        clean &= s.finding.is_none();
        println!(
            "{:<13} {:>12} {:>8} {:>7} {:>8} {:>7} {:>8} {:>8}  {}",
            name,
            s.execs,
            s.execs_per_sec,
            s.cov,
            s.ft,
            s.corpus,
            kept,
            s.peak_rss_mb,
            s.finding.as_deref().unwrap_or("none")
        );
    }
    if !clean {
        println!(
            "inputs that broke a target are in fuzz/artifacts/<target>/; logs in target/fuzz-logs/"
        );
    }
    Ok(clean)
}

fn fuzz_one(
    t: &Target,
    bins: &Path,
    seeds: &Path,
    seconds: u64,
    logs: &Path,
) -> Result<Stats, String> {
    let corpus = corpus_dir(t.name);
    let artifacts = repo_root().join("fuzz/artifacts").join(t.name);
    for d in [&corpus, &artifacts] {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    let log = logs.join(format!("{}.log", t.name));
    let out = Command::new(bins.join(t.name))
        .arg(&corpus)
        .arg(seeds)
        .args(libfuzzer_flags(t))
        .arg(format!("-max_total_time={seconds}"))
        .arg("-print_final_stats=1")
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .output()
        .map_err(|e| {
            format!(
                "{}: {e} (did `cargo fuzz build` run?)",
                bins.join(t.name).display()
            )
        })?;
    let text = String::from_utf8_lossy(&out.stderr);
    std::fs::write(&log, text.as_bytes()).map_err(|e| e.to_string())?;
    let mut stats = parse_stats(&text);
    if stats.finding.is_none() && !out.status.success() {
        stats.finding = Some(format!("exit {}", out.status));
    }
    Ok(stats)
}

/// The flags every run of `t` gets: its dictionary and limits.
fn libfuzzer_flags(t: &Target) -> Vec<String> {
    vec![
        format!(
            "-dict={}",
            repo_root().join("fuzz/dicts").join(t.dict).display()
        ),
        format!("-max_len={}", t.max_len),
        format!("-timeout={}", t.timeout_secs),
        format!("-rss_limit_mb={}", t.rss_limit_mb),
        // A single allocation larger than the guest's whole memory is an out-of-memory too.
        format!("-malloc_limit_mb={}", attach_fuzz::GUEST_MEMORY_MB),
    ]
}

/// Merges the corpus into a minimal set that keeps its coverage, and puts it back in place.
/// Returns the number of inputs kept and what broke the target meanwhile, if anything (its
/// input is in `fuzz/artifacts/<target>/`, and the corpus is then left as it was).
fn minimise(t: &Target, bins: &Path, logs: &Path) -> Result<(usize, Option<String>), String> {
    let corpus = corpus_dir(t.name);
    let artifacts = repo_root().join("fuzz/artifacts").join(t.name);
    let merged = repo_root().join("target/fuzz-merge").join(t.name);
    let _ = std::fs::remove_dir_all(&merged);
    std::fs::create_dir_all(&merged).map_err(|e| e.to_string())?;
    // The smallest set that covers every edge the corpus reaches (hit counts ignored): what
    // is committed stays small, and replaying it in `make test` stays quick.
    let out = Command::new(bins.join(t.name))
        .args(["-merge=1", "-set_cover_merge=1", "-use_counters=0"])
        .arg(&merged)
        .arg(&corpus)
        .args(libfuzzer_flags(t))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .output()
        .map_err(|e| e.to_string())?;
    std::fs::write(logs.join(format!("{}.merge.log", t.name)), &out.stderr)
        .map_err(|e| e.to_string())?;
    let finding = parse_stats(&String::from_utf8_lossy(&out.stderr)).finding;
    if finding.is_some() || !out.status.success() {
        let finding = finding.unwrap_or_else(|| format!("merge {}", out.status));
        return Ok((count(&corpus), Some(finding)));
    }
    std::fs::remove_dir_all(&corpus).map_err(|e| e.to_string())?;
    std::fs::rename(&merged, &corpus).map_err(|e| e.to_string())?;
    Ok((count(&corpus), None))
}

fn count(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

/// Reads libFuzzer's final statistics and its last status line.
fn parse_stats(log: &str) -> Stats {
    let mut s = Stats::default();
    let field = |line: &str, key: &str| -> Option<u64> {
        let rest = &line[line.find(key)? + key.len()..];
        rest.split_whitespace()
            .next()?
            .trim_end_matches("Mb")
            .parse()
            .ok()
    };
    for line in log.lines() {
        if let Some(v) = line.strip_prefix("stat::number_of_executed_units:") {
            s.execs = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("stat::average_exec_per_sec:") {
            s.execs_per_sec = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("stat::peak_rss_mb:") {
            s.peak_rss_mb = v.trim().parse().unwrap_or(0);
        } else if line.starts_with('#') && line.contains(" cov: ") {
            s.cov = field(line, "cov: ").unwrap_or(s.cov);
            s.ft = field(line, "ft: ").unwrap_or(s.ft);
            if let Some(c) = field(line, "corp: ").or_else(|| {
                let rest = &line[line.find("corp: ")? + 6..];
                rest.split('/').next()?.parse().ok()
            }) {
                s.corpus = c;
            }
        }
        for (needle, what) in [
            ("ERROR: libFuzzer: deadly signal", "crash"),
            ("ERROR: AddressSanitizer", "crash (asan)"),
            ("ERROR: libFuzzer: timeout", "timeout"),
            // The RSS limit and `-malloc_limit_mb` ("out-of-memory (malloc(N))") alike.
            ("ERROR: libFuzzer: out-of-memory", "oom"),
            ("ERROR: LeakSanitizer", "leak"),
            ("panicked at", "panic"),
        ] {
            if line.contains(needle) && s.finding.is_none() {
                s.finding = Some(what.to_string());
            }
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libfuzzers_final_statistics_and_last_status_line() {
        let log = "INFO: Seed: 1\n\
            #2\tINITED cov: 10 ft: 12 corp: 1/1b exec/s: 0 rss: 30Mb\n\
            #5000\tDONE   cov: 1234 ft: 5678 corp: 345/12Kb lim: 4096 exec/s: 2500 rss: 99Mb\n\
            stat::number_of_executed_units: 5000\n\
            stat::average_exec_per_sec:     2500\n\
            stat::new_units_added:          344\n\
            stat::peak_rss_mb:              99\n";
        assert_eq!(
            parse_stats(log),
            Stats {
                execs: 5000,
                execs_per_sec: 2500,
                cov: 1234,
                ft: 5678,
                corpus: 345,
                peak_rss_mb: 99,
                finding: None
            }
        );
    }

    #[test]
    fn names_what_stopped_a_run() {
        let log = "#7\tNEW    cov: 3 ft: 3 corp: 2/2b\n\
            thread '<unnamed>' panicked at src/media.rs:1:1:\n\
            ==1== ERROR: libFuzzer: deadly signal\n";
        assert_eq!(parse_stats(log).finding.as_deref(), Some("panic"));
        let log = "==1== ERROR: libFuzzer: timeout after 2 seconds\n";
        assert_eq!(parse_stats(log).finding.as_deref(), Some("timeout"));
    }
}
