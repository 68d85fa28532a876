//! ffprobe, run in the sandbox, reads the container's claims: dimensions, rotation, duration,
//! frame rate and the audio stream. Its JSON is untrusted output too: parsed leniently into a
//! few numbers, and anything missing or absurd is treated as unknown, never trusted.

use super::error::VideoError;
use super::Container;
use serde::Deserialize;
use std::ffi::OsString;
use std::path::Path;

/// What ffprobe says about the first video stream (and the first audio stream).
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// The demuxer ffprobe used (`mov,mp4,m4a,3gp,3g2,mj2`, `matroska,webm`, `avi`).
    pub format_name: String,
    pub video_codec: String,
    /// Coded frame size, before rotation.
    pub width: u32,
    pub height: u32,
    /// Display rotation in degrees, 0, 90, 180 or 270.
    pub rotation: u32,
    /// Seconds, when the container states it.
    pub duration: Option<f64>,
    /// Frames per second, when it can be told.
    pub frame_rate: Option<f64>,
    pub audio: Option<AudioInfo>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AudioInfo {
    pub codec: String,
    pub channels: Option<u32>,
    pub sample_rate: Option<u32>,
}

impl VideoInfo {
    /// The size a player shows: the coded size, turned by the rotation.
    pub fn display_size(&self) -> (u32, u32) {
        if self.rotation % 180 == 90 {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }
}

/// ffprobe's arguments: the same guards as the transcode (pinned demuxer, format and protocol
/// allow-lists, a pixel cap for the decoders it opens to find stream parameters).
pub fn args(container: Container, input: &Path, max_pixels: u64, threads: u32) -> Vec<OsString> {
    let (threads, max_pixels) = (
        threads.to_string(),
        max_pixels.min(i32::MAX as u64).to_string(),
    );
    let head: [&str; 7] = [
        "-hide_banner",
        "-loglevel",
        "error",
        "-threads",
        &threads,
        "-max_pixels",
        &max_pixels,
    ];
    let mut a: Vec<OsString> = head.iter().map(OsString::from).collect();
    a.extend(super::input_guards(container));
    a.extend(
        ["-show_format", "-show_streams", "-of", "json"]
            .iter()
            .map(OsString::from),
    );
    a.push(super::file_url(input));
    a
}

#[derive(Deserialize)]
struct Report {
    #[serde(default)]
    streams: Vec<Stream>,
    format: Option<Format>,
}

#[derive(Deserialize)]
struct Format {
    format_name: Option<String>,
    duration: Option<String>,
}

#[derive(Deserialize)]
struct Stream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u64>,
    height: Option<u64>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    duration: Option<String>,
    nb_frames: Option<String>,
    channels: Option<u64>,
    sample_rate: Option<String>,
    #[serde(default)]
    side_data_list: Vec<serde_json::Value>,
    #[serde(default)]
    tags: serde_json::Map<String, serde_json::Value>,
}

/// Reads ffprobe's JSON.
pub fn parse(json: &[u8]) -> Result<VideoInfo, VideoError> {
    let report: Report = serde_json::from_slice(json)
        .map_err(|e| VideoError::Unreadable(format!("ffprobe's report: {e}")))?;
    let is = |s: &Stream, t: &str| s.codec_type.as_deref() == Some(t);
    let video = report
        .streams
        .iter()
        .find(|s| is(s, "video") && s.width.unwrap_or(0) > 0 && s.height.unwrap_or(0) > 0)
        .ok_or(VideoError::NoVideoStream)?;
    let dim = |v: Option<u64>| u32::try_from(v.unwrap_or(0)).unwrap_or(u32::MAX);
    let format = report.format.as_ref();
    let duration = format
        .and_then(|f| seconds(f.duration.as_deref()))
        .or_else(|| seconds(video.duration.as_deref()));
    let frames = video
        .nb_frames
        .as_deref()
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|&n| n > 0);
    // The average rate is what a player sees; the "real base" rate of a Matroska file is often
    // its timebase (1000/1), so it is only a fallback, and frames ÷ duration before it.
    let frame_rate = ratio(video.avg_frame_rate.as_deref())
        .or_else(|| match (frames, duration) {
            (Some(n), Some(d)) if d > 0.0 => Some(n as f64 / d),
            _ => None,
        })
        .or_else(|| ratio(video.r_frame_rate.as_deref()));
    let audio = report
        .streams
        .iter()
        .find(|s| is(s, "audio"))
        .map(|a| AudioInfo {
            codec: a.codec_name.clone().unwrap_or_default(),
            channels: a
                .channels
                .and_then(|c| u32::try_from(c).ok())
                .filter(|&c| c > 0),
            sample_rate: a
                .sample_rate
                .as_deref()
                .and_then(|r| r.parse::<u32>().ok())
                .filter(|&r| r > 0),
        });
    Ok(VideoInfo {
        format_name: format
            .and_then(|f| f.format_name.clone())
            .unwrap_or_default(),
        video_codec: video.codec_name.clone().unwrap_or_default(),
        width: dim(video.width),
        height: dim(video.height),
        rotation: rotation(video),
        duration,
        frame_rate,
        audio,
    })
}

/// A finite, non-negative number of seconds.
fn seconds(s: Option<&str>) -> Option<f64> {
    s?.trim()
        .parse::<f64>()
        .ok()
        .filter(|d| d.is_finite() && *d >= 0.0)
}

/// `num/den` as a positive finite number.
fn ratio(s: Option<&str>) -> Option<f64> {
    let (n, d) = s?.split_once('/')?;
    let (n, d) = (n.trim().parse::<f64>().ok()?, d.trim().parse::<f64>().ok()?);
    Some(n / d).filter(|r| r.is_finite() && *r > 0.0)
}

/// The display rotation from the display-matrix side data (ffmpeg 5+) or the older `rotate`
/// tag, as a clockwise multiple of 90 degrees.
fn rotation(s: &Stream) -> u32 {
    let from_matrix = s
        .side_data_list
        .iter()
        .find_map(|d| d.get("rotation").and_then(number));
    let from_tag = s.tags.get("rotate").and_then(number);
    let degrees = from_matrix.or(from_tag).unwrap_or(0.0);
    // Display-matrix rotation is counter-clockwise; the tag is clockwise.
    let clockwise = if from_matrix.is_some() {
        -degrees
    } else {
        degrees
    };
    let quarter = (clockwise / 90.0).round() as i64;
    (quarter.rem_euclid(4) * 90) as u32
}

fn number(v: &serde_json::Value) -> Option<f64> {
    match v {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|f: &f64| f.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PHONE: &str = r#"{"streams":[
        {"index":0,"codec_name":"h264","codec_type":"video","width":1920,"height":1080,
         "r_frame_rate":"30/1","avg_frame_rate":"30000/1001","duration":"12.5","nb_frames":"375",
         "side_data_list":[{"side_data_type":"Display Matrix","rotation":-90}]},
        {"index":1,"codec_name":"aac","codec_type":"audio","sample_rate":"48000","channels":2}],
        "format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":"12.512000"}}"#;

    #[test]
    fn a_portrait_phone_clip_reads_as_rotated_with_its_audio() {
        let info = parse(PHONE.as_bytes()).unwrap();
        assert_eq!((info.width, info.height), (1920, 1080));
        assert_eq!(info.rotation, 90);
        assert_eq!(info.display_size(), (1080, 1920));
        assert!((info.duration.unwrap() - 12.512).abs() < 1e-9);
        assert!((info.frame_rate.unwrap() - 29.97).abs() < 0.01);
        let audio = info.audio.unwrap();
        assert_eq!((audio.channels, audio.sample_rate), (Some(2), Some(48000)));
    }

    #[test]
    fn matroska_timebase_rate_is_not_taken_for_the_frame_rate() {
        let json = r#"{"streams":[{"codec_type":"video","codec_name":"vp9","width":640,"height":360,
            "r_frame_rate":"1000/1","avg_frame_rate":"0/0","nb_frames":"50"}],
            "format":{"format_name":"matroska,webm","duration":"2.0"}}"#;
        let info = parse(json.as_bytes()).unwrap();
        assert_eq!(info.frame_rate, Some(25.0));
        assert_eq!(info.rotation, 0);
        assert_eq!(info.audio, None);
    }

    #[test]
    fn no_video_stream_and_garbage_are_errors_not_panics() {
        let audio_only = r#"{"streams":[{"codec_type":"audio","codec_name":"aac"}],"format":{}}"#;
        assert!(matches!(
            parse(audio_only.as_bytes()),
            Err(VideoError::NoVideoStream)
        ));
        assert!(matches!(
            parse(b"{not json"),
            Err(VideoError::Unreadable(_))
        ));
        let absurd = r#"{"streams":[{"codec_type":"video","width":5,"height":5,
            "avg_frame_rate":"1/0","duration":"NaN","tags":{"rotate":"banana"}}]}"#;
        let info = parse(absurd.as_bytes()).unwrap();
        assert_eq!(
            (info.frame_rate, info.duration, info.rotation),
            (None, None, 0)
        );
    }
}
