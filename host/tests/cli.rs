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

/// Runs `process` on one small photo with the compiled-guest cache pointed at a plain file, so
/// the cache write fails and the worker logs a warning: a log line every run produces.
fn process_logging(format: Option<&str>) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let photo = dir.path().join("photo.jpg");
    std::fs::write(&photo, fx::jpeg(&fx::photo(64, 48, 2), 80)).unwrap();
    let not_a_dir = dir.path().join("cache-is-a-file");
    std::fs::write(&not_a_dir, b"").unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_attachd"));
    cmd.args(["process", photo.to_str().unwrap(), "--out"])
        .arg(dir.path().join("out"))
        .env("ATTACH_GUEST_DIR", common::guest_dir())
        .env("ATTACH_CACHE_DIR", &not_a_dir)
        .env_remove("ATTACH_LOG_FORMAT");
    if let Some(f) = format {
        cmd.env("ATTACH_LOG_FORMAT", f);
    }
    cmd.output().expect("run attachd")
}

#[test]
fn log_format_json_writes_one_json_object_per_log_line() {
    let run = process_logging(Some("json"));
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    let events: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?} is not JSON: {e}")))
        .collect();
    let warning = events
        .iter()
        .find(|e| e["message"] == "could not cache the compiled component")
        .unwrap_or_else(|| panic!("no cache warning in {stderr}"));
    assert_eq!(warning["level"], "WARN");
    assert!(warning["guest"].is_string(), "{warning}");
    assert!(warning["timestamp"].is_string(), "{warning}");

    let text = process_logging(None);
    let stderr = String::from_utf8_lossy(&text.stderr);
    let line = stderr
        .lines()
        .find(|l| l.contains("could not cache the compiled component"))
        .unwrap_or_else(|| panic!("no cache warning in {stderr}"));
    assert!(
        serde_json::from_str::<serde_json::Value>(line).is_err(),
        "text by default: {line}"
    );
}

#[test]
fn an_unknown_log_format_is_refused_before_any_work() {
    let run = process_logging(Some("yaml"));
    assert!(!run.status.success());
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("ATTACH_LOG_FORMAT"),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

#[test]
fn process_turns_a_video_file_into_an_mp4_and_poster_variants() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.webm");
    // A one-second VP9 clip from ffmpeg's test source.
    std::fs::write(&clip, common::clips::vp9_clip(dir.path())).unwrap();
    let out = dir.path().join("out");

    let run = attachd(
        &[
            "process",
            clip.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &common::guest_dir(),
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let lines = lines(&run);
    assert_eq!(lines[0]["status"], "ready", "{}", lines[0]);
    assert_eq!(lines[0]["mime"], "video/webm");
    let variants = lines[0]["variants"].as_array().unwrap();
    let names: Vec<&str> = variants.iter().filter_map(|v| v["name"].as_str()).collect();
    assert!(
        names.contains(&"video") && names.contains(&"thumb"),
        "{names:?}"
    );

    // The MP4 is on disk, H.264, and ffprobe reads it back; the poster thumbnail is a WebP.
    let mp4 = out.join("clip").join("video.mp4");
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["stream=codec_name,width,height", "-of", "csv=p=0"])
        .arg(&mp4)
        .output()
        .expect("ffprobe is installed");
    assert_eq!(
        String::from_utf8_lossy(&probe.stdout).trim(),
        "h264,320,240"
    );
    let thumb = std::fs::read(out.join("clip").join("thumb.webp")).unwrap();
    assert_eq!(&thumb[..4], b"RIFF");
    assert_eq!(&thumb[8..12], b"WEBP");
}
