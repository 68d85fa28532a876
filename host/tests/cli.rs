//! `attachd process` end to end: the real binary, real guests, files on disk.

mod common;

use attach_fixtures as fx;
use std::path::Path;
use std::process::Command;

fn attachd(args: &[&str], guest_dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_attachd"))
        .args(args)
        .env("ATTACH_GUEST_DIR", guest_dir)
        .env("ATTACH_CACHE_DIR", common::cache_dir())
        .output()
        .expect("run attachd")
}

fn lines(out: &std::process::Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

#[test]
fn process_prints_one_json_line_per_file_and_publishes_ready_variants() {
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("photo.jpg");
    std::fs::write(
        &photo,
        fx::with_exif_orientation(&fx::jpeg(&fx::photo(600, 400, 1), 85), 6),
    )
    .unwrap();
    let bomb = dir.path().join("bomb.png");
    std::fs::write(&bomb, fx::png_bomb_30000()).unwrap();
    let page = dir.path().join("page.png");
    std::fs::write(&page, fx::html_page()).unwrap();
    let out = dir.path().join("out");

    let run = attachd(
        &[
            "process",
            photo.to_str().unwrap(),
            bomb.to_str().unwrap(),
            page.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &common::guest_dir(),
    );
    assert!(
        run.status.success(),
        "exit 0 when every file was handled: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let lines = lines(&run);
    assert_eq!(lines.len(), 3);

    let photo = &lines[0];
    assert_eq!(photo["status"], "ready");
    assert_eq!(photo["kind"], "jpeg");
    assert_eq!(photo["mime"], "image/jpeg");
    assert_eq!(
        (photo["width"].as_u64(), photo["height"].as_u64()),
        (Some(400), Some(600)),
        "displayed size after orientation 6"
    );
    assert_eq!(photo["verdict"], "clean");
    assert!(photo["placeholder"].as_str().is_some_and(|p| !p.is_empty()));
    let variants = photo["variants"].as_array().unwrap();
    assert_eq!(variants.len(), 2);
    for v in variants {
        let path = Path::new(v["path"].as_str().unwrap());
        let meta = std::fs::metadata(path).expect("variant published");
        assert_eq!(Some(meta.len()), v["bytes"].as_u64());
        assert!(
            v["height"].as_u64() > v["width"].as_u64(),
            "portrait after orientation"
        );
    }

    assert_eq!(lines[1]["status"], "rejected");
    assert_eq!(lines[1]["error_code"], "too-many-pixels");
    assert_eq!(lines[2]["status"], "rejected");
    assert_eq!(lines[2]["error_code"], "scan-rejected");
    assert_eq!(lines[2]["kind"], "html");
    assert!(
        !out.join("bomb").exists() && !out.join("page").exists(),
        "nothing published for rejected files"
    );
}

#[test]
fn rerun_replaces_variants_instead_of_duplicating_them() {
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("p.png");
    std::fs::write(&photo, fx::png_rgb(&fx::photo(300, 300, 8))).unwrap();
    let out = dir.path().join("out");
    for _ in 0..2 {
        let run = attachd(
            &[
                "process",
                photo.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--variant",
                "t:32x32:png",
            ],
            &common::guest_dir(),
        );
        assert!(run.status.success());
    }
    let names: Vec<_> = std::fs::read_dir(out.join("p"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["t.png"]);
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        1,
        "no staging directory left behind"
    );
}

#[test]
fn bad_variant_spec_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = attachd(
        &[
            "process",
            "x.jpg",
            "--out",
            dir.path().to_str().unwrap(),
            "--variant",
            "t:0x0",
        ],
        &common::guest_dir(),
    );
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("invalid variant spec"));
}

#[test]
fn missing_guests_are_an_environment_error_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let run = attachd(
        &["process", "x.jpg", "--out", dir.path().to_str().unwrap()],
        &dir.path().join("nowhere"),
    );
    assert!(!run.status.success());
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("make guests"),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

#[test]
fn unreadable_input_is_reported_and_makes_the_exit_code_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.jpg");
    let run = attachd(
        &[
            "process",
            missing.to_str().unwrap(),
            "--out",
            dir.path().join("o").to_str().unwrap(),
        ],
        &common::guest_dir(),
    );
    assert!(!run.status.success());
    let lines = lines(&run);
    assert_eq!(lines[0]["status"], "failed");
    assert_eq!(lines[0]["error_code"], "read-failed");
}
