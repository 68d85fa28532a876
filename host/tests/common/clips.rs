//! Short test clips, generated with the real ffmpeg's lavfi sources (`make test` installs
//! Debian's ffmpeg): small, so the video tests stay fast.

use std::path::Path;
use std::process::Command;

/// Runs the real ffmpeg, unsandboxed, to make test inputs (and for the control runs).
pub fn ffmpeg(args: &[&str]) -> std::process::Output {
    Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg is installed (make test installs Debian's)")
}

/// Runs ffmpeg with `args` and `out` as its output; the file's bytes.
pub fn generate(out: &Path, args: &[&str]) -> Vec<u8> {
    let mut all: Vec<&str> = args.to_vec();
    let out_s = out.to_str().unwrap();
    all.push(out_s);
    let o = ffmpeg(&all);
    assert!(
        o.status.success(),
        "generating {out_s}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::read(out).unwrap()
}

/// One second of 320×240 H.264 + AAC in MP4.
pub fn h264_clip(dir: &Path) -> Vec<u8> {
    generate(
        &dir.join("h264.mp4"),
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=320x240:r=25:d=1",
            "-f",
            "lavfi",
            "-i",
            "sine=f=440:d=1",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
        ],
    )
}

/// One second of 320×240 VP9 + Opus in WebM.
pub fn vp9_clip(dir: &Path) -> Vec<u8> {
    generate(
        &dir.join("vp9.webm"),
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=320x240:r=25:d=1",
            "-f",
            "lavfi",
            "-i",
            "sine=f=220:d=1",
            "-c:v",
            "libvpx-vp9",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-b:v",
            "200k",
            "-c:a",
            "libopus",
            "-shortest",
        ],
    )
}
