//! The transcode: one ffmpeg run that decodes the input once and writes both outputs, the MP4
//! (H.264 + AAC, `+faststart`) and the poster frame (PNG, for the thumbnail guest). The host
//! computes every number on the command line from ffprobe's reading and the configuration;
//! nothing from the upload (not even its name) reaches ffmpeg's arguments.

use super::ffprobe::VideoInfo;
use super::{Container, VideoConfig};
use std::ffi::OsString;
use std::path::Path;

/// The MP4's name in the output directory.
pub const MP4_NAME: &str = "video.mp4";
/// The poster frame's name in the output directory.
pub const POSTER_NAME: &str = "poster.png";
/// Every file ffmpeg writes: the host creates them before it runs, and it may write no other.
pub const OUTPUT_NAMES: &[&str] = &[MP4_NAME, POSTER_NAME];
/// Where the poster frame is taken: one second in, past the black or faded-in first frames
/// most clips open with; the first frame of a clip shorter than two seconds or of unknown
/// length (frames before the mark are dropped, and a clip must not end before it).
pub const POSTER_AT_SECONDS: f64 = 1.0;
/// Output frame rate cap: 60 fps plays everywhere; a 240 fps slow-motion clip plays at 60.
pub const MAX_OUTPUT_FPS: u32 = 60;
/// Stereo at most: AAC-LC in browsers is reliably stereo, and surround adds bytes, not value,
/// to a preview.
pub const MAX_AUDIO_CHANNELS: u32 = 2;
/// 48 kHz at most: the AAC encoder's useful ceiling; 96 kHz sources are resampled.
pub const MAX_AUDIO_RATE: u32 = 48_000;

/// The numbers one transcode runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Output frame size (even, inside the configured box, never larger than the source).
    pub width: u32,
    pub height: u32,
    /// Seconds into the clip for the poster frame.
    pub poster_at: f64,
    /// `-ac` when the source has more channels than [`MAX_AUDIO_CHANNELS`].
    pub audio_channels: Option<u32>,
    /// `-ar` when the source's rate is above [`MAX_AUDIO_RATE`].
    pub audio_rate: Option<u32>,
}

pub fn plan(info: &VideoInfo, cfg: &VideoConfig) -> Plan {
    let (w, h) = info.display_size();
    let (width, height) = fit(w, h, cfg.max_long_edge, cfg.max_short_edge);
    let poster_at = match info.duration {
        Some(d) if d >= 2.0 * POSTER_AT_SECONDS => POSTER_AT_SECONDS,
        _ => 0.0,
    };
    let audio = info.audio.as_ref();
    Plan {
        width,
        height,
        poster_at,
        audio_channels: audio
            .and_then(|a| a.channels)
            .filter(|&c| c > MAX_AUDIO_CHANNELS)
            .map(|_| MAX_AUDIO_CHANNELS),
        audio_rate: audio
            .and_then(|a| a.sample_rate)
            .filter(|&r| r > MAX_AUDIO_RATE)
            .map(|_| MAX_AUDIO_RATE),
    }
}

/// Fits `w`×`h` inside a box whose long edge is `long` and short edge `short` (oriented like
/// the frame, so portrait clips stay portrait), keeping the aspect ratio, never upscaling, and
/// rounding down to even sizes as 4:2:0 H.264 requires.
pub fn fit(w: u32, h: u32, long: u32, short: u32) -> (u32, u32) {
    let (w, h) = (w.max(2), h.max(2));
    let (box_w, box_h) = if w >= h { (long, short) } else { (short, long) };
    let scale = (f64::from(box_w) / f64::from(w))
        .min(f64::from(box_h) / f64::from(h))
        .min(1.0);
    let even = |v: f64| ((v.floor() as u32) & !1).max(2);
    (even(f64::from(w) * scale), even(f64::from(h) * scale))
}

/// ffmpeg's arguments for one transcode.
pub fn args(
    cfg: &VideoConfig,
    container: Container,
    input: &Path,
    out_dir: &Path,
    plan: &Plan,
) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::with_capacity(96);
    let mut push = |items: &[&str]| a.extend(items.iter().map(OsString::from));
    let threads = cfg.threads.to_string();
    let max_pixels = cfg.max_pixels.min(i32::MAX as u64).to_string();
    let max_secs = format!("{:.3}", cfg.max_duration.as_secs_f64());
    let scale = format!(
        "scale={}:{}:flags=bicubic,setsar=1",
        plan.width, plan.height
    );
    let fs = cfg.max_output_bytes.to_string();
    push(&[
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-loglevel",
        "error",
        "-y",
        // Decoder threads: one thread cap for the whole process (filters run on one).
        "-threads",
        &threads,
        "-filter_threads",
        "1",
        "-max_pixels",
        &max_pixels,
        // Read no more than the longest accepted clip, whatever the header claimed.
        "-t",
        &max_secs,
    ]);
    let guards = super::input_guards(container);
    a.extend(guards);
    a.push(OsString::from("-i"));
    a.push(super::file_url(input));

    let mut push = |items: &[&str]| a.extend(items.iter().map(OsString::from));
    let maxrate = format!("{}k", cfg.video_kbps);
    let bufsize = format!("{}k", cfg.video_kbps.saturating_mul(2));
    let crf = cfg.crf.to_string();
    let fpsmax = MAX_OUTPUT_FPS.to_string();
    let audio_kbps = format!("{}k", cfg.audio_kbps);
    push(&[
        "-map",
        "0:v:0",
        "-map",
        "0:a:0?",
        // Nothing but pictures and sound: no subtitles, data, attachments, chapters or
        // metadata (phone clips carry GPS coordinates in theirs).
        "-sn",
        "-dn",
        "-map_metadata",
        "-1",
        "-map_chapters",
        "-1",
        "-vf",
        &scale,
        "-pix_fmt",
        "yuv420p",
        "-fpsmax",
        &fpsmax,
        "-c:v",
        "libx264",
        "-preset",
        &cfg.preset,
        "-crf",
        &crf,
        "-maxrate",
        &maxrate,
        "-bufsize",
        &bufsize,
        "-profile:v",
        "high",
        "-threads",
        &threads,
        "-c:a",
        "aac",
        "-b:a",
        &audio_kbps,
    ]);
    if let Some(ch) = plan.audio_channels {
        push(&["-ac", &ch.to_string()]);
    }
    if let Some(rate) = plan.audio_rate {
        push(&["-ar", &rate.to_string()]);
    }
    push(&["-movflags", "+faststart", "-fs", &fs, "-f", "mp4"]);
    a.push(super::file_url(&out_dir.join(MP4_NAME)));

    let mut push = |items: &[&str]| a.extend(items.iter().map(OsString::from));
    let poster_at = format!("{:.3}", plan.poster_at);
    let poster_fs = super::max_poster_bytes(cfg).to_string();
    push(&[
        "-map",
        "0:v:0",
        "-ss",
        &poster_at,
        "-frames:v",
        "1",
        "-vf",
        &scale,
        "-pix_fmt",
        "rgb24",
        "-map_metadata",
        "-1",
        "-fs",
        &poster_fs,
        "-f",
        "image2",
        "-update",
        "1",
        "-c:v",
        "png",
    ]);
    a.push(super::file_url(&out_dir.join(POSTER_NAME)));
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_orientation_aspect_and_even_sizes_and_never_upscales() {
        assert_eq!(fit(1920, 1080, 1280, 720), (1280, 720));
        assert_eq!(fit(1080, 1920, 1280, 720), (720, 1280));
        assert_eq!(fit(640, 360, 1280, 720), (640, 360));
        assert_eq!(fit(8192, 8192, 1280, 720), (720, 720));
        assert_eq!(fit(641, 361, 1280, 720), (640, 360));
        assert_eq!(fit(1, 1, 1280, 720), (2, 2));
        assert_eq!(fit(4000, 10, 1280, 720), (1280, 2));
    }

    #[test]
    fn the_command_pins_the_demuxer_and_names_only_internal_files() {
        let cfg = VideoConfig::default();
        let info = VideoInfo {
            format_name: "matroska,webm".into(),
            video_codec: "vp9".into(),
            width: 1920,
            height: 1080,
            rotation: 0,
            duration: Some(2.0),
            frame_rate: Some(25.0),
            audio: None,
        };
        let p = plan(&info, &cfg);
        assert_eq!((p.width, p.height, p.poster_at), (1280, 720, 1.0));
        let args = args(
            &cfg,
            Container::Matroska,
            Path::new("/w/input"),
            Path::new("/w/out"),
            &p,
        );
        let text: Vec<String> = args.iter().map(|a| a.to_string_lossy().into()).collect();
        let at = |flag: &str| {
            text.iter()
                .position(|a| a == flag)
                .map(|i| text[i + 1].as_str())
        };
        assert_eq!(
            at("-f"),
            Some("matroska"),
            "the demuxer is pinned before -i"
        );
        assert_eq!(at("-protocol_whitelist"), Some("file"));
        assert_eq!(
            at("-format_whitelist"),
            Some(super::super::FORMAT_WHITELIST)
        );
        assert_eq!(at("-i"), Some("file:/w/input"));
        assert!(text.iter().any(|a| a == "-nostdin"));
        assert!(text.iter().any(|a| a == "+faststart"));
        assert!(text.ends_with(&["file:/w/out/poster.png".to_string()]));
        assert!(text.iter().any(|a| a == "file:/w/out/video.mp4"));
    }
}
