//! The fuzzing's regression net, on stable: every target's seeds, its committed corpus
//! (`fuzz/corpus/<target>`) and the inputs that once broke it (`fuzz/regressions/<target>`),
//! through the same functions libFuzzer drives. A failure names the target and the file.

use attach_fuzz::{corpus_dir, regressions_dir, Target, TARGETS};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

fn inputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .map(|e| e.expect("a readable corpus directory").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let data = std::fs::read(&p).expect("a readable corpus file");
            (p.display().to_string(), data)
        })
        .collect()
}

/// Runs every input through `t`, and fails with the list of those that broke it.
fn replay(t: &Target, inputs: Vec<(String, Vec<u8>)>) -> usize {
    let n = inputs.len();
    let broken: Vec<String> = inputs
        .into_iter()
        .filter_map(|(name, data)| {
            // Whole: a regression input is replayed as it broke the target.
            catch_unwind(AssertUnwindSafe(|| (t.run)(&data)))
                .err()
                .map(|e| {
                    let why = e
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    format!("{name}: {why}")
                })
        })
        .collect();
    assert!(
        broken.is_empty(),
        "{}: {} of {n} inputs broke it:\n{}",
        t.name,
        broken.len(),
        broken.join("\n")
    );
    n
}

fn replay_target(name: &str) {
    let t = attach_fuzz::target(name).expect("a target");
    let seeds = attach_fuzz::seeds::for_target(name);
    assert!(!seeds.is_empty(), "{name} has no seeds");
    let mut all = seeds;
    all.extend(inputs(&corpus_dir(name)));
    all.extend(inputs(&regressions_dir(name)));
    let n = replay(t, all);
    eprintln!("{name}: {n} inputs replayed");
}

#[test]
fn every_seed_fits_its_target_whole() {
    for t in TARGETS {
        for (name, data) in attach_fuzz::seeds::for_target(t.name) {
            assert!(
                data.len() <= t.max_len,
                "{}: seed {name} is {} bytes, over -max_len {}: libFuzzer would cut it",
                t.name,
                data.len(),
                t.max_len
            );
        }
    }
}

/// A corpus or regression folder whose name is no target's would never be replayed, and a
/// target without a committed corpus would replay only its seeds.
#[test]
fn every_committed_folder_belongs_to_a_target_and_every_target_has_a_corpus() {
    let root = attach_fuzz::repo_root().join("fuzz");
    for kind in ["corpus", "regressions"] {
        let dir = std::fs::read_dir(root.join(kind))
            .unwrap_or_else(|e| panic!("fuzz/{kind} is committed: {e}"));
        for entry in dir {
            let name = entry.unwrap().file_name().into_string().unwrap();
            assert!(
                attach_fuzz::target(&name).is_some(),
                "fuzz/{kind}/{name} is no target's: it would never be replayed"
            );
        }
    }
    for t in TARGETS {
        assert!(
            !inputs(&corpus_dir(t.name)).is_empty(),
            "{} has no committed corpus in fuzz/corpus/{}",
            t.name,
            t.name
        );
    }
}

#[test]
fn every_target_has_a_replay_test_here() {
    let me = include_str!("replay.rs");
    for t in TARGETS {
        assert!(
            me.contains(&format!("replay_target(\"{}\")", t.name)),
            "add a test replaying {}",
            t.name
        );
    }
}

#[test]
fn probe_replays_clean() {
    replay_target("probe");
}

#[test]
fn scan_replays_clean() {
    replay_target("scan");
}

#[test]
fn thumbnail_replays_clean() {
    replay_target("thumbnail");
}

#[test]
fn thumbhash_replays_clean() {
    replay_target("thumbhash");
}

#[test]
fn payload_replays_clean() {
    replay_target("payload");
}

#[test]
fn storage_key_replays_clean() {
    replay_target("storage_key");
}

#[test]
fn clamd_reply_replays_clean() {
    replay_target("clamd_reply");
}

#[test]
fn ffprobe_replays_clean() {
    replay_target("ffprobe");
}

#[test]
fn manifest_replays_clean() {
    replay_target("manifest");
}

#[test]
fn sandbox_replays_clean() {
    replay_target("sandbox");
}

#[test]
fn differential_replays_clean() {
    replay_target("differential");
}
