//! Video uploads and the ffmpeg jail, against Debian's real ffmpeg (`make test` installs
//! it). The clips are generated at test time with ffmpeg's lavfi sources: small and short.
//!
//! Three levels, so each guard is shown to hold on its own:
//! - the job handler (probe → scan → ffprobe → limits → ffmpeg → guests → storage), as
//!   `attachd process --store` and the worker run it;
//! - a *naive* ffmpeg command (`ffmpeg -i input out.mp4`: no pinned demuxer, no allow-lists)
//!   inside the jail, to show the OS layers close the hole even without ffmpeg's guards;
//!   each of these has a control run of the same command outside the jail that does leak,
//!   so the test could fail;
//! - the jail self-test (`attachd __jail-selftest`) under one layer at a time.

mod common;

use attach_fixtures as fx;
use attachd::db::{Backend, Status};
use attachd::error::ErrorCode;
use attachd::jail::SELFTEST_ARG;
use attachd::jail::{Finished, Jail, JailError, Keep, Killed, Layers, Rlimits, Spec, Support};
use attachd::job::{Handler, JobError, ProcessPayload, Summary};
use attachd::storage::{LocalStorage, Storage};
use attachd::video::{Container, Video, VideoConfig, VideoError, WorkDir};
use common::clips::{ffmpeg, generate, h264_clip, vp9_clip};
use common::db::TestDb;
use sha2::Digest;
use std::ffi::OsString;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// Helpers

/// ffprobe's streams of `file` as `codec_type:codec_name` (empty when it reads nothing).
fn streams(file: &Path) -> Vec<String> {
    let o = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()
        .expect("ffprobe is installed");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            let mut f = l.split(',');
            let (name, ty) = (f.next().unwrap_or(""), f.next().unwrap_or(""));
            format!("{ty}:{name}")
        })
        .collect()
}

/// A video path with the default configuration, `tweak`ed, and its own work directory (so a
/// test can check nothing is left in it). Strict mode: every layer must be in force.
fn video(work: &Path, tweak: impl FnOnce(&mut VideoConfig)) -> Arc<Video> {
    let mut cfg = VideoConfig {
        work_dir: work.to_path_buf(),
        ..VideoConfig::default()
    };
    tweak(&mut cfg);
    let v = Video::new(cfg);
    if let Err(e) = v.ready() {
        panic!(
            "the video path is not ready on this machine: {e} (support: {:?})",
            v.support()
        );
    }
    Arc::new(v)
}

/// One job world: local storage and SQLite in temp dirs, the real guests, `video`.
struct World {
    storage: Arc<LocalStorage>,
    handler: Handler,
    db: TestDb,
    _dir: tempfile::TempDir,
}

impl World {
    async fn new(video: Arc<Video>) -> World {
        let (storage, dir) = common::job::temp_store().await;
        let db = TestDb::migrated(Backend::Sqlite).await;
        let pipeline = common::pipeline().with_video(video);
        let handler = Handler::new(common::handler_deps(
            pipeline,
            storage.clone(),
            db.db.clone(),
        ));
        World {
            storage,
            handler,
            db,
            _dir: dir,
        }
    }

    async fn process(&self, name: &str, data: &[u8], mime: &str) -> Result<Summary, JobError> {
        let key = format!("uploads/{}/{name}", uuid::Uuid::new_v4());
        self.storage
            .put(&key, data.to_vec().into(), mime)
            .await
            .unwrap();
        let payload = ProcessPayload {
            file_key: key,
            mime_type: mime.into(),
            size: data.len() as u64,
            variants: vec![],
            checksum: Some(attachd::sandbox::hex(&sha2::Sha256::digest(data))),
            reprocess_guest_digest: None,
        };
        self.handler.process(&payload).await
    }

    async fn row_status(&self, summary_or_key: &str) -> Status {
        self.db
            .db
            .get(summary_or_key)
            .await
            .unwrap()
            .expect("the row exists")
            .status
    }
}

/// A job the handler refused: settled as not ready (quarantined or failed), or a permanent
/// error.
async fn assert_refused(world: &World, result: Result<Summary, JobError>) {
    match result {
        Ok(s) => {
            assert_ne!(s.status, Status::Ready);
            let status = world.row_status(&s.file_key).await;
            assert!(
                matches!(status, Status::Quarantined | Status::Failed),
                "{status:?}"
            );
        }
        Err(e) => assert_eq!(e.class(), attachd::error::Class::Permanent, "{e}"),
    }
    assert_eq!(variant_objects(&world.storage).await, 0);
}

/// What a refused job leaves: no variant objects at all.
async fn variant_objects(storage: &LocalStorage) -> usize {
    storage
        .list("variants/", None, 100)
        .await
        .map(|l| l.len())
        .unwrap_or(0)
}

/// Pids of live processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| common::contains(&c, needle.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

fn empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none())
}

/// Runs `ffmpeg <opts> -i <input> <out>/video.mp4` (no pinned demuxer, no allow-lists unless
/// `opts` adds some; the MP4's name: besides the poster, the one file it may write) in the
/// sandbox on `input`. Returns the run and the output's bytes (empty when none was written).
fn naive_in_sandbox(
    video: &Video,
    opts: &[&str],
    input: &[u8],
) -> (Result<Finished, VideoError>, Vec<u8>) {
    let jail = video.jail().unwrap();
    let work = WorkDir::create(&video.config().work_dir, jail.run_as()).unwrap();
    work.write_input(input).unwrap();
    let out = work.out().join(attachd::video::transcode::MP4_NAME);
    let mut args: Vec<OsString> = vec!["-hide_banner".into(), "-nostdin".into(), "-y".into()];
    args.extend(opts.iter().map(OsString::from));
    args.extend(["-i".into(), work.input().into(), out.clone().into()]);
    let run = video.run_ffmpeg(&work, &args);
    let bytes = std::fs::read(&out).unwrap_or_default();
    (run, bytes)
}

/// The same naive command, bare, on `input` written as `dir/name`.
fn naive_bare(dir: &Path, opts: &[&str], name: &str, input: &[u8]) -> (bool, PathBuf) {
    let path = dir.join(name);
    std::fs::write(&path, input).unwrap();
    let out = dir.join(format!("{name}.out.mp4"));
    let mut args = opts.to_vec();
    args.extend(["-i", path.to_str().unwrap(), out.to_str().unwrap()]);
    let o = ffmpeg(&args);
    (o.status.success(), out)
}

/// A world-readable directory (so only the sandbox, never file permissions, can keep a
/// process running as `nobody` out of it).
fn open_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

// ---------------------------------------------------------------------------------------
// Real clips through the job handler

#[tokio::test]
async fn h264_and_vp9_clips_become_an_mp4_ffprobe_reads_back_and_a_poster_thumbnail() {
    let src = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let world = World::new(video(work.path(), |_| {})).await;
    for (name, data, mime) in [
        ("clip.mp4", h264_clip(src.path()), "video/mp4"),
        ("clip.webm", vp9_clip(src.path()), "video/webm"),
    ] {
        let summary = world
            .process(name, &data, mime)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(summary.status, Status::Ready, "{name}");
        assert_eq!(
            (summary.width, summary.height),
            (Some(320), Some(240)),
            "{name}"
        );
        let names: Vec<&str> = summary.variants.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["thumb", "preview", "video"], "{name}");

        let mp4 = &summary.variants[2];
        assert_eq!(
            (mp4.format.as_str(), mp4.width, mp4.height),
            ("mp4", 320, 240)
        );
        let bytes = world.storage.get(&mp4.key, u64::MAX).await.unwrap();
        let file = src.path().join(format!("{name}.variant.mp4"));
        std::fs::write(&file, &bytes).unwrap();
        assert_eq!(streams(&file), ["video:h264", "audio:aac"], "{name}");
        // +faststart: the index (moov) comes before the media (mdat).
        let at = |tag: &[u8]| bytes.windows(4).position(|w| w == tag).unwrap();
        assert!(at(b"moov") < at(b"mdat"), "{name}: moov after mdat");

        let thumb = &summary.variants[0];
        let data = world.storage.get(&thumb.key, u64::MAX).await.unwrap();
        let decoded = common::decode(attachd::sandbox::Format::Webp, &data);
        assert_eq!((decoded.width, decoded.height), (256, 192), "{name}");
        assert!(summary.placeholder.is_some());
    }
    assert!(empty_dir(work.path()), "work directories are removed");
}

#[tokio::test]
async fn a_portrait_phone_clip_comes_out_upright_and_an_audio_only_file_is_refused() {
    let src = tempfile::tempdir().unwrap();
    h264_clip(src.path());
    // A landscape-coded clip with a 90° display rotation, as phones record portrait video.
    let rotated = generate(
        &src.path().join("rotated.mp4"),
        &[
            "-i",
            src.path().join("h264.mp4").to_str().unwrap(),
            "-c",
            "copy",
            "-metadata:s:v:0",
            "rotate=90",
        ],
    );
    let work = tempfile::tempdir().unwrap();
    let world = World::new(video(work.path(), |_| {})).await;
    let summary = world
        .process("portrait.mp4", &rotated, "video/mp4")
        .await
        .unwrap();
    assert_eq!((summary.width, summary.height), (Some(240), Some(320)));
    let mp4 = summary.variants.iter().find(|v| v.name == "video").unwrap();
    assert_eq!((mp4.width, mp4.height), (240, 320));
    let thumb = summary.variants.iter().find(|v| v.name == "thumb").unwrap();
    assert_eq!((thumb.width, thumb.height), (192, 256));

    let audio = generate(
        &src.path().join("audio.mp4"),
        &["-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac"],
    );
    let err = world
        .process("audio.mp4", &audio, "video/mp4")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "no-video-stream", "{err}");
}

#[tokio::test]
async fn a_one_frame_clip_still_gets_its_poster() {
    let src = tempfile::tempdir().unwrap();
    let one = generate(
        &src.path().join("one.mp4"),
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=64x48:r=25",
            "-frames:v",
            "1",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    let work = tempfile::tempdir().unwrap();
    let world = World::new(video(work.path(), |_| {})).await;
    let summary = world.process("one.mp4", &one, "video/mp4").await.unwrap();
    assert_eq!(summary.status, Status::Ready);
    assert_eq!(summary.variants.len(), 3);
}

// ---------------------------------------------------------------------------------------
// Playlists and scripts that name other files

/// A five-line HLS playlist whose one segment is `target`.
fn playlist_naming(target: &str) -> Vec<u8> {
    format!("#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{target}\n#EXT-X-ENDLIST\n")
        .into_bytes()
}

#[tokio::test]
async fn hls_playlist_disguised_as_mp4_naming_a_local_video_leaks_nothing() {
    let secret_dir = open_dir();
    h264_clip(secret_dir.path());
    // Index first (+faststart), as web-ready MP4s are: HLS reads segments front to back.
    let secret = secret_dir.path().join("secret.mp4");
    generate(
        &secret,
        &[
            "-i",
            secret_dir.path().join("h264.mp4").to_str().unwrap(),
            "-c",
            "copy",
            "-movflags",
            "+faststart",
        ],
    );
    let playlist = playlist_naming(secret.to_str().unwrap());
    let work = tempfile::tempdir().unwrap();
    let video = video(work.path(), |_| {});

    // Control: the bare naive command follows the playlist and copies the secret clip.
    let (ok, out) = naive_bare(secret_dir.path(), &[], "upload.mp4", &playlist);
    assert!(
        ok && streams(&out).contains(&"video:h264".to_string()),
        "control did not leak"
    );

    // The job: the probe sniffs HLS, the scan rejects it, nothing is written.
    let world = World::new(video.clone()).await;
    let result = world.process("upload.mp4", &playlist, "video/mp4").await;
    assert_refused(&world, result).await;

    // ffmpeg's own guards, if the sniffing were fooled into calling it an MP4: the pinned
    // demuxer reads the text as a (broken) MP4 and fails.
    let err = video.process(&playlist, Container::Mov).unwrap_err();
    assert_eq!(err.code(), "malformed-input", "{err}");

    // The OS layers alone: the naive command in the sandbox cannot read the secret.
    let (_, leaked) = naive_in_sandbox(&video, &[], &playlist);
    assert!(leaked.len() < 1024, "{} bytes of output", leaked.len());
    assert!(empty_dir(work.path()));
}

#[tokio::test]
async fn hls_playlist_naming_a_file_under_etc_leaks_nothing() {
    let work = tempfile::tempdir().unwrap();
    let video = video(work.path(), |_| {});
    let playlist = playlist_naming("/etc/passwd");
    let world = World::new(video.clone()).await;
    let result = world.process("upload.mp4", &playlist, "video/mp4").await;
    assert_refused(&world, result).await;
    assert!(video.process(&playlist, Container::Mov).is_err());
    let (_, leaked) = naive_in_sandbox(&video, &[], &playlist);
    assert!(
        !common::contains(&leaked, b"root:"),
        "passwd reached the output"
    );
}

#[tokio::test]
async fn ffconcat_script_naming_a_sibling_file_leaks_nothing() {
    let dir = open_dir();
    std::fs::write(dir.path().join("secret.mp4"), h264_clip(dir.path())).unwrap();
    let script = b"ffconcat version 1.0\nfile 'secret.mp4'\n".to_vec();
    let (ok, out) = naive_bare(dir.path(), &[], "upload.mp4", &script);
    assert!(
        ok && streams(&out).contains(&"video:h264".to_string()),
        "control did not leak"
    );

    let work = tempfile::tempdir().unwrap();
    let video = video(work.path(), |_| {});
    let world = World::new(video.clone()).await;
    let err = world
        .process("upload.mp4", &script, "video/mp4")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "unsupported-type", "{err}");
    assert!(video.process(&script, Container::Mov).is_err());
    // In the sandbox the sibling of the input is the work directory's, and unreadable anyway.
    let (_, leaked) = naive_in_sandbox(&video, &[], &script);
    assert!(leaked.len() < 1024);
}

/// A loopback HTTP server that counts the connections it accepts.
struct Listener {
    port: u16,
    hits: Arc<AtomicUsize>,
}

fn listen() -> Listener {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = hits.clone();
    std::thread::spawn(move || {
        for stream in l.incoming().flatten() {
            seen.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    Listener { port, hits }
}

#[tokio::test]
async fn playlist_with_a_loopback_http_segment_makes_no_request() {
    let server = listen();
    let playlist = playlist_naming(&format!("http://127.0.0.1:{}/seg.ts", server.port));
    let dir = tempfile::tempdir().unwrap();
    // ffmpeg refuses http segments in a local playlist by default; a build or a command that
    // allowed them is the worst case, so both runs allow them.
    let allow_http = ["-protocol_whitelist", "file,http,tcp,crypto,data"];
    // Control: bare, that command does call the server.
    naive_bare(dir.path(), &allow_http, "upload.mp4", &playlist);
    assert!(
        server.hits.load(Ordering::SeqCst) > 0,
        "control made no request"
    );
    server.hits.store(0, Ordering::SeqCst);

    let work = tempfile::tempdir().unwrap();
    let video = video(work.path(), |_| {});
    let world = World::new(video.clone()).await;
    let result = world.process("upload.mp4", &playlist, "video/mp4").await;
    assert_refused(&world, result).await;
    assert!(video.process(&playlist, Container::Mov).is_err());
    let _ = naive_in_sandbox(&video, &allow_http, &playlist);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        server.hits.load(Ordering::SeqCst),
        0,
        "the sandbox let a request out"
    );
}

// ---------------------------------------------------------------------------------------
// Deadlines

#[tokio::test]
async fn never_ending_live_playlist_is_killed_at_the_timeout_with_no_process_left() {
    let work = tempfile::tempdir().unwrap();
    let timeout = Duration::from_secs(2);
    let video = video(work.path(), |c| c.transcode_timeout = timeout);
    // Live (no ENDLIST), segments that never appear: ffmpeg reloads it for ever.
    let live = b"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:1.0,\nseg0.ts\n#EXTINF:1.0,\nseg1.ts\n";
    let started = Instant::now();
    let (run, _) = naive_in_sandbox(&video, &[], live);
    let err = run.unwrap_err();
    assert_eq!(err.code(), "sandbox-timeout", "{err}");
    let took = started.elapsed();
    assert!(
        took >= timeout && took < timeout + Duration::from_secs(3),
        "{took:?}"
    );
    let root = work.path().to_str().unwrap();
    assert_eq!(
        processes_mentioning(root),
        Vec::<i32>::new(),
        "a process survived"
    );
    assert!(empty_dir(work.path()));
}

#[tokio::test]
async fn cpu_burning_input_is_killed_at_the_timeout_with_sandbox_timeout() {
    let src = tempfile::tempdir().unwrap();
    // 720p noise: as hard as pictures get for an encoder, at a slow preset.
    let clip = generate(
        &src.path().join("noise.mp4"),
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=1280x720:r=30:d=2,noise=alls=100:allf=t",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    let work = tempfile::tempdir().unwrap();
    let timeout = Duration::from_secs(1);
    let video = video(work.path(), |c| {
        c.transcode_timeout = timeout;
        c.preset = "slow".into();
    });
    let world = World::new(video).await;
    let started = Instant::now();
    let err = world
        .process("noise.mp4", &clip, "video/mp4")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "sandbox-timeout", "{err}");
    assert_eq!(err.class(), attachd::error::Class::Permanent);
    assert!(started.elapsed() < Duration::from_secs(20));
    let root = work.path().to_str().unwrap();
    assert_eq!(
        processes_mentioning(root),
        Vec::<i32>::new(),
        "a process survived"
    );
    assert!(empty_dir(work.path()), "the work directory was left behind");
}

// ---------------------------------------------------------------------------------------
// Limits before the transcode

#[tokio::test]
async fn an_8192x8192_frame_is_refused_before_the_transcode() {
    let src = tempfile::tempdir().unwrap();
    let big = generate(
        &src.path().join("big.mkv"),
        &[
            "-f",
            "lavfi",
            "-i",
            "color=c=black:s=8192x8192:r=1:d=1",
            "-frames:v",
            "1",
            "-c:v",
            "ffv1",
        ],
    );
    let work = tempfile::tempdir().unwrap();
    let world = World::new(video(work.path(), |_| {})).await;
    let started = Instant::now();
    let err = world
        .process("big.mkv", &big, "video/x-matroska")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "too-many-pixels", "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(variant_objects(&world.storage).await, 0);
}

#[tokio::test]
async fn a_20000_frame_gif_is_refused_by_the_limits_before_any_decoder() {
    let gif = fx::gif_many_frames(20_000, 64, 64);
    let work = tempfile::tempdir().unwrap();
    let world = World::new(video(work.path(), |_| {})).await;
    let started = Instant::now();
    let err = world
        .process("anim.gif", &gif, "image/gif")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "too-many-frames", "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        empty_dir(work.path()),
        "ffmpeg's work directory was never needed"
    );
}

#[tokio::test]
async fn video_longer_than_the_limit_is_refused_before_the_transcode() {
    let src = tempfile::tempdir().unwrap();
    let clip = h264_clip(src.path());
    let work = tempfile::tempdir().unwrap();
    let world = World::new(video(work.path(), |c| {
        c.max_duration = Duration::ZERO;
    }))
    .await;
    let err = world
        .process("clip.mp4", &clip, "video/mp4")
        .await
        .unwrap_err();
    assert_eq!(err.code(), "video-too-long", "{err}");
}

// ---------------------------------------------------------------------------------------
// The jail itself, with a program of ours (its self-test)

const ATTACHD: &str = env!("CARGO_BIN_EXE_attachd");

/// What the tests keep of the self-test's stdout: its longest report (`fds`) is a few KiB.
const SELFTEST_STDOUT_BYTES: usize = 1 << 20;

/// Runs `attachd __jail-selftest <action> <arg>` in `jail`, with `readable` readable and the
/// output files ffmpeg gets in `out` (those that exist) writable; returns how it ended and
/// what it printed.
fn selftest(
    jail: &Jail,
    action: &str,
    arg: &Path,
    readable: &[&Path],
    out: &Path,
) -> (Result<Finished, JailError>, String) {
    selftest_with(jail, action, &[arg.as_os_str()], readable, out)
}

/// [`selftest`] with any number of arguments after the action.
fn selftest_with(
    jail: &Jail,
    action: &str,
    rest: &[&std::ffi::OsStr],
    readable: &[&Path],
    out: &Path,
) -> (Result<Finished, JailError>, String) {
    let mut args: Vec<OsString> = vec![SELFTEST_ARG.into(), action.into()];
    args.extend(rest.iter().map(OsString::from));
    let program = PathBuf::from(ATTACHD).canonicalize().unwrap();
    let outputs: Vec<PathBuf> = attachd::video::transcode::OUTPUT_NAMES
        .iter()
        .map(|name| out.join(name))
        .filter(|p| p.exists())
        .collect();
    let writable: Vec<&Path> = outputs.iter().map(PathBuf::as_path).collect();
    let run = jail.run(Spec {
        step: "selftest",
        program: &program,
        args: &args,
        read_files: readable,
        write_files: &writable,
        cwd: out,
        timeout: Duration::from_secs(10),
        rlimits: Rlimits {
            cpu_seconds: 10,
            address_space_bytes: attachd::video::DEFAULT_MEMORY_BYTES,
            file_size_bytes: 1 << 20,
            open_files: attachd::video::OPEN_FILES,
            tasks: attachd::video::max_tasks(attachd::video::DEFAULT_THREADS),
        },
        stdout: Keep::Head(SELFTEST_STDOUT_BYTES),
        stderr: Keep::Tail(attachd::video::STDERR_KEPT_BYTES),
    });
    let printed = run
        .as_ref()
        .map(|f| String::from_utf8_lossy(&f.stdout.bytes).into_owned())
        .unwrap_or_default();
    (run, printed)
}

/// A jail and a work directory whose output files (ffmpeg's) exist, as before a transcode.
fn jail_with_out(layers: Layers) -> (Jail, WorkDir, tempfile::TempDir) {
    let jail = Jail::new(layers).unwrap();
    let parent = open_dir();
    let work = WorkDir::create(parent.path(), jail.run_as()).unwrap();
    work.create_outputs(attachd::video::transcode::OUTPUT_NAMES)
        .unwrap();
    (jail, work, parent)
}

#[test]
fn a_program_in_the_sandbox_is_killed_when_it_opens_a_socket() {
    let (jail, work, _p) = jail_with_out(Layers::ALL);
    let (run, printed) = selftest(&jail, "socket", Path::new(""), &[], work.out());
    let finished = run.unwrap();
    assert!(
        printed.contains("socket: trying"),
        "the self-test never got there: {printed:?}"
    );
    assert!(!printed.contains("socket: opened") && !printed.contains("socket: error"));
    let killed = finished.killed().expect("a signal ended it");
    let err = VideoError::killed("selftest", killed, 0);
    assert_eq!(err.code(), "sandbox-violation", "{err}");
}

#[test]
fn a_program_in_the_sandbox_writes_only_its_output_files_and_reads_only_its_input() {
    let (jail, work, _p) = jail_with_out(Layers::ALL);
    let outside = open_dir();
    std::fs::set_permissions(outside.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let escaped = outside.path().join("escaped");
    let (run, printed) = selftest(&jail, "write", &escaped, &[], work.out());
    assert!(run.unwrap().status.success());
    assert!(printed.contains("write: error 13"), "{printed:?}");
    assert!(!escaped.exists(), "the sandbox wrote outside its directory");
    // Nor may it create a file beside its outputs: the attacker's way past the per-file
    // size limit was many files, each just under it.
    let extra = work.out().join("extra");
    let (_, printed) = selftest(&jail, "write", &extra, &[], work.out());
    assert!(printed.contains("write: error 13"), "{printed:?}");
    assert!(!extra.exists(), "the sandbox created a file in out/");
    // The output files the host made it can write, so the self-test would have noticed.
    let poster = work.out().join(attachd::video::transcode::POSTER_NAME);
    let (_, printed) = selftest(&jail, "write", &poster, &[], work.out());
    assert!(printed.contains("write: ok"), "{printed:?}");
    assert_eq!(std::fs::read(&poster).unwrap(), b"escaped");

    let secret = outside.path().join("secret");
    std::fs::write(&secret, b"secret").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (_, printed) = selftest(&jail, "read", &secret, &[], work.out());
    assert!(printed.contains("read: error 13"), "{printed:?}");
    let (_, printed) = selftest(&jail, "read", &secret, &[&secret], work.out());
    assert!(printed.contains("read: ok 6"), "{printed:?}");
    let (_, printed) = selftest(&jail, "read", Path::new("/etc/passwd"), &[], work.out());
    assert!(printed.contains("read: error 13"), "{printed:?}");
}

#[test]
fn network_namespace_alone_keeps_a_program_off_the_hosts_loopback() {
    let server = listen();
    let addr = PathBuf::from(format!("127.0.0.1:{}", server.port));
    let only_ns = Layers {
        landlock: false,
        namespaces: true,
        pid_namespace: false,
        seccomp: false,
    };
    let (jail, work, _p) = jail_with_out(only_ns);
    let (_, printed) = selftest(&jail, "connect", &addr, &[], work.out());
    assert!(printed.contains("connect: error"), "{printed:?}");
    assert_eq!(server.hits.load(Ordering::SeqCst), 0);
    // Control: with no optional layer, the same self-test reaches the server.
    let none = Layers {
        landlock: false,
        namespaces: false,
        pid_namespace: false,
        seccomp: false,
    };
    let (jail, work, _p) = jail_with_out(none);
    let (_, printed) = selftest(&jail, "connect", &addr, &[], work.out());
    assert!(printed.contains("connect: ok"), "{printed:?}");
}

#[test]
fn landlock_alone_blocks_reads_and_tcp_outside_the_rules() {
    let only_landlock = Layers {
        landlock: true,
        namespaces: false,
        pid_namespace: false,
        seccomp: false,
    };
    let (jail, work, _p) = jail_with_out(only_landlock);
    let dir = open_dir();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, b"secret").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (_, printed) = selftest(&jail, "read", &secret, &[], work.out());
    assert!(printed.contains("read: error 13"), "{printed:?}");
    let server = listen();
    let addr = PathBuf::from(format!("127.0.0.1:{}", server.port));
    let (_, printed) = selftest(&jail, "connect", &addr, &[], work.out());
    let abi = jail_support().landlock_abi.unwrap_or(0);
    if abi >= 4 {
        // Landlock's TCP rights (ABI 4+): connect is denied with EACCES.
        assert!(printed.contains("connect: error 13"), "{printed:?}");
        assert_eq!(server.hits.load(Ordering::SeqCst), 0);
    }
}

/// The number of threads a `threads` self-test started before it was stopped, and the errno.
fn threads_started(printed: &str) -> (String, u64) {
    let line = printed
        .lines()
        .find_map(|l| l.strip_prefix("threads: error "))
        .unwrap_or_else(|| panic!("the self-test was not stopped: {printed:?}"));
    let (errno, started) = line.split_once(" after ").expect("errno after N");
    (errno.to_string(), started.parse().unwrap())
}

#[test]
fn a_sandboxed_program_is_stopped_at_the_task_cap_per_jail_and_the_worker_is_not() {
    let cap = attachd::video::max_tasks(attachd::video::DEFAULT_THREADS);
    let want = (cap * 4).to_string();
    let (jail, work, _p) = jail_with_out(Layers::ALL);
    // Two jails at once, as with concurrent jobs: all `nobody` as root, yet each has the
    // whole cap, because the kernel counts tasks per user namespace. The self-test holds its
    // threads a moment after starting them, so the two runs overlap.
    let second = std::thread::scope(|s| {
        let other = s.spawn(|| {
            let (jail, work, _p) = jail_with_out(Layers::ALL);
            selftest_with(&jail, "threads", &[want.as_ref()], &[], work.out())
        });
        let (run, printed) = selftest_with(&jail, "threads", &[want.as_ref()], &[], work.out());
        assert!(run.unwrap().status.success(), "{printed:?}");
        // EAGAIN from clone: the watcher and the program (pid 1) count, so cap − 2 threads.
        assert_eq!(
            threads_started(&printed),
            ("11".into(), cap - 2),
            "{printed:?}"
        );
        other.join().unwrap()
    });
    let (run, printed) = second;
    assert!(run.unwrap().status.success(), "{printed:?}");
    assert_eq!(
        threads_started(&printed),
        ("11".into(), cap - 2),
        "{printed:?}"
    );
    // The worker's own limit is its own: it still starts threads.
    let workers: Vec<_> = (0..cap).map(|i| std::thread::spawn(move || i)).collect();
    assert_eq!(
        workers.into_iter().map(|t| t.join().unwrap()).sum::<u64>(),
        cap * (cap - 1) / 2
    );
}

#[test]
fn an_fd_the_worker_leaves_inheritable_never_reaches_the_sandboxed_program() {
    use std::os::fd::AsRawFd;
    let null = std::fs::File::open("/dev/null").unwrap();
    // A copy without FD_CLOEXEC, at 100 or above (the lowest free: no other test's fd is
    // touched), as a library or the worker's parent might leave one.
    // SAFETY: duplicates an fd this test owns; closed below.
    let leaked = unsafe { libc::fcntl(null.as_raw_fd(), libc::F_DUPFD, 100) };
    assert!(leaked >= 100, "{}", std::io::Error::last_os_error());
    let no_pid_ns = Layers {
        pid_namespace: false,
        ..Layers::ALL
    };
    let mut seen = Vec::new();
    for layers in [Layers::ALL, no_pid_ns] {
        let (jail, work, _p) = jail_with_out(layers);
        let (run, printed) = selftest_with(&jail, "fds", &[], &[], work.out());
        assert!(run.unwrap().status.success(), "{printed:?}");
        assert!(printed.contains("fds: done"), "{printed:?}");
        seen.push(
            printed
                .lines()
                .filter_map(|l| l.strip_prefix("fd: "))
                .map(|n| n.parse::<i32>().unwrap())
                .collect::<Vec<_>>(),
        );
    }
    // SAFETY: closes the copy made above.
    unsafe { libc::close(leaked) };
    // Its stdio, nothing else.
    assert_eq!(
        seen,
        [vec![0, 1, 2], vec![0, 1, 2]],
        "the planted fd was {leaked}"
    );
}

// ---------------------------------------------------------------------------------------
// The worker's own process, out of the sandboxed program's reach

/// The test process's (the worker's, here) soft and hard RLIMIT_NOFILE and RLIMIT_FSIZE.
fn worker_limits() -> [(u64, u64); 2] {
    [libc::RLIMIT_NOFILE, libc::RLIMIT_FSIZE].map(|resource| {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: reads this process's limit into a local.
        assert_eq!(unsafe { libc::getrlimit(resource, &mut l) }, 0);
        (l.rlim_cur, l.rlim_max)
    })
}

/// This process's pid, as the self-test's argument: the worker the sandboxed program aims at.
fn worker_pid() -> OsString {
    std::process::id().to_string().into()
}

/// How a self-test's `action` ended: `killed` by the seccomp filter (`sandbox-violation`), or
/// what it printed after `<action>: ` (`ok`, `error <errno>`).
fn ending(action: &str, run: Result<Finished, JailError>, printed: &str) -> String {
    assert!(
        printed.contains(&format!("{action}: trying")),
        "{action}: the self-test never got there: {printed:?}"
    );
    match run.unwrap().killed() {
        Some(Killed::Forbidden) => "killed".into(),
        Some(other) => panic!("{action}: {other:?}"),
        None => printed
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("{action}: ")))
            .find(|r| *r != "trying")
            .unwrap_or("nothing printed")
            .to_string(),
    }
}

#[test]
fn a_sandboxed_program_can_neither_change_the_workers_rlimits_nor_reach_it_by_pid() {
    let (jail, work, _p) = jail_with_out(Layers::ALL);
    let before = worker_limits();
    let pid = worker_pid();
    for (action, expected) in [
        // The reviewer's attack: lowering the worker's RLIMIT_NOFILE and RLIMIT_FSIZE.
        ("prlimit", "killed"),
        // Reading another process's affinity is refused (EPERM), not killed: see `Filters`.
        ("affinity", "error 1"),
        ("kill", "killed"),
        ("tgkill", "killed"),
        ("pidfd", "killed"),
        ("ptrace", "killed"),
        ("vmread", "killed"),
        ("fsetown", "killed"),
        ("fiosetown", "killed"),
    ] {
        let (run, printed) = selftest_with(&jail, action, &[&pid], &[], work.out());
        assert_eq!(
            ending(action, run, &printed),
            expected,
            "{action}: {printed:?}"
        );
    }
    assert_eq!(
        worker_limits(),
        before,
        "the sandboxed program changed the worker's limits"
    );
}

#[test]
fn a_sandboxed_program_still_reads_its_own_limits_and_affinity_as_pid_0() {
    // The control for the test above: the calls themselves are allowed, the pid is refused.
    let (jail, work, _p) = jail_with_out(Layers::ALL);
    let (run, printed) = selftest_with(&jail, "self", &[], &[], work.out());
    assert!(run.unwrap().status.success(), "{printed:?}");
    assert!(
        printed.contains("self-prlimit: ok") && printed.contains("self-affinity: ok"),
        "{printed:?}"
    );
    // In its PID namespace it is pid 1, and its parent (the watcher, outside) has no number.
    assert!(
        printed.contains("pid: 1\n") && printed.contains("ppid: 0\n"),
        "{printed:?}"
    );
    // An exit code comes through the watcher unchanged (2: an unknown action).
    let (run, _) = selftest_with(&jail, "no-such-action", &[], &[], work.out());
    assert_eq!(run.unwrap().status.code(), Some(2));
}

#[test]
fn a_pid_namespace_alone_leaves_the_program_no_number_that_names_the_worker() {
    let pid = worker_pid();
    // The user namespace too: without root it is what permits a PID namespace.
    let only_pid_ns = Layers {
        landlock: false,
        namespaces: true,
        pid_namespace: true,
        seccomp: false,
    };
    let before = worker_limits();
    let (jail, work, _p) = jail_with_out(only_pid_ns);
    let (_, printed) = selftest_with(&jail, "self", &[], &[], work.out());
    assert!(
        printed.contains("pid: 1\n") && printed.contains("ppid: 0\n"),
        "{printed:?}"
    );
    for action in ["prlimit", "kill", "pidfd", "affinity"] {
        let (run, printed) = selftest_with(&jail, action, &[&pid], &[], work.out());
        // ESRCH: no process has that number in the program's namespace.
        assert_eq!(ending(action, run, &printed), "error 3", "{action}");
    }
    assert_eq!(worker_limits(), before);
    // Control: without it the same number names the worker. As root the program (`nobody`)
    // may not signal it (EPERM); under the worker's own uid it may.
    let only_ns = Layers {
        pid_namespace: false,
        ..only_pid_ns
    };
    let (jail, work, _p) = jail_with_out(only_ns);
    let (_, printed) = selftest_with(&jail, "self", &[], &[], work.out());
    assert!(!printed.contains("pid: 1\n"), "{printed:?}");
    let (run, printed) = selftest_with(&jail, "kill", &[&pid], &[], work.out());
    let ended = ending("kill", run, &printed);
    assert!(ended == "ok" || ended == "error 1", "{ended}");
}

#[test]
fn a_non_dumpable_worker_keeps_a_program_of_its_own_uid_out_of_its_proc_files() {
    // No optional layer: Landlock would refuse /proc on its own, and so would the user
    // namespace (the kernel lets only a process in the target's user namespace, or one with
    // CAP_SYS_PTRACE over it, read its memory or environment). Dumpability is what is left.
    let none = Layers {
        landlock: false,
        namespaces: false,
        pid_namespace: false,
        seccomp: false,
    };
    let (jail, work, _p) = jail_with_out(none);
    let environ = PathBuf::from(format!("/proc/{}/environ", std::process::id()));
    if !rustix_is_root() {
        // Control (a worker that is not root: the program runs under its uid): while the
        // worker is dumpable its environment is readable. As root the program is `nobody`,
        // refused either way.
        // SAFETY: sets this process's dumpable flag; no other test here depends on it.
        assert_eq!(unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) }, 0);
        let (_, printed) = selftest(&jail, "read", &environ, &[], work.out());
        assert!(printed.contains("read: ok"), "control: {printed:?}");
        // The user namespace alone refuses it too, dumpable or not.
        let only_ns = Layers {
            namespaces: true,
            ..none
        };
        let (ns_jail, ns_work, _q) = jail_with_out(only_ns);
        let (_, printed) = selftest(&ns_jail, "read", &environ, &[], ns_work.out());
        assert!(printed.contains("read: error 13"), "{printed:?}");
    }
    attachd::jail::make_worker_non_dumpable().unwrap();
    // SAFETY: PR_GET_DUMPABLE takes no arguments.
    assert_eq!(unsafe { libc::prctl(libc::PR_GET_DUMPABLE) }, 0);
    let (_, printed) = selftest(&jail, "read", &environ, &[], work.out());
    assert!(printed.contains("read: error 13"), "{printed:?}");
}

#[test]
fn ffmpeg_transcodes_under_seccomp_without_the_pid_namespace() {
    // libgomp asks for its own thread's affinity by thread id: outside a PID namespace the
    // filter cannot know that number, refuses it (EPERM), and ffmpeg must carry on.
    let src = tempfile::tempdir().unwrap();
    let clip = h264_clip(src.path());
    let work = tempfile::tempdir().unwrap();
    let cfg = VideoConfig {
        work_dir: work.path().to_path_buf(),
        ..VideoConfig::default()
    };
    let layers = Layers {
        pid_namespace: false,
        ..Layers::ALL
    };
    let video = Video::with_layers(cfg, layers);
    let out = video.process(&clip, Container::Mov).unwrap();
    assert_eq!((out.width, out.height), (320, 240));
}

#[test]
fn an_output_over_the_file_size_limit_is_output_too_large_with_or_without_the_pid_namespace() {
    // The self-test stands in for ffmpeg and fills its output past the 1 MiB limit. Without the
    // PID namespace the kernel kills it with SIGXFSZ; as pid 1 of its namespace it is not
    // killed but refused (EFBIG) and exits 1. Both are the size limit.
    const LIMIT: u64 = 1 << 20;
    for pid_namespace in [false, true] {
        let work = tempfile::tempdir().unwrap();
        let cfg = VideoConfig {
            ffmpeg: PathBuf::from(ATTACHD).canonicalize().unwrap(),
            work_dir: work.path().to_path_buf(),
            max_output_bytes: LIMIT,
            ..VideoConfig::default()
        };
        let video = Video::with_layers(
            cfg,
            Layers {
                pid_namespace,
                ..Layers::ALL
            },
        );
        let jail = video.jail().unwrap();
        let dir = WorkDir::create(work.path(), jail.run_as()).unwrap();
        dir.write_input(b"x").unwrap();
        let out = dir.out().join(attachd::video::transcode::MP4_NAME);
        let args: Vec<OsString> = vec![SELFTEST_ARG.into(), "fill".into(), out.clone().into()];
        let err = video.run_ffmpeg(&dir, &args).unwrap_err();
        assert_eq!(
            err.code(),
            "output-too-large",
            "pid namespace {pid_namespace}: {err}"
        );
        assert_eq!(std::fs::metadata(&out).unwrap().len(), LIMIT);
    }
}

// ---------------------------------------------------------------------------------------
// What ffmpeg leaves behind

#[test]
fn a_link_planted_at_an_output_name_is_refused_and_its_target_never_read() {
    use attachd::video::transcode::{MP4_NAME, POSTER_NAME};
    // The worst case: neither Landlock nor seccomp, each of which forbids making a link.
    let layers = Layers {
        landlock: false,
        seccomp: false,
        ..Layers::ALL
    };
    let (jail, work, _p) = jail_with_out(layers);
    let dir = open_dir();
    let secret = dir.path().join("another-upload");
    std::fs::write(&secret, b"another upload's bytes").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let link = work.out().join(MP4_NAME);
    // What a program without Landlock may do in the directory it owns: replace its output.
    std::fs::remove_file(&link).unwrap();
    let (_, printed) = selftest_with(
        &jail,
        "symlink",
        &[link.as_os_str(), secret.as_os_str()],
        &[],
        work.out(),
    );
    assert!(printed.contains("symlink: ok"), "{printed:?}");
    let err = work.read_output(MP4_NAME, 1 << 20).unwrap_err();
    assert_eq!(err.code(), "sandbox-violation", "{err}");
    assert!(err.to_string().contains("symbolic link"), "{err}");
    // Control: a regular file the program wrote at the other output name reads back.
    let poster = work.out().join(POSTER_NAME);
    let (_, printed) = selftest(&jail, "write", &poster, &[], work.out());
    assert!(printed.contains("write: ok"), "{printed:?}");
    assert_eq!(work.read_output(POSTER_NAME, 1 << 20).unwrap(), b"escaped");
}

#[test]
fn as_root_only_the_output_directory_is_handed_to_nobody() {
    use std::os::unix::fs::MetadataExt;
    if !rustix_is_root() {
        eprintln!("not root: the program runs under the worker's uid, nothing is handed over");
        return;
    }
    // Without Landlock, which would stop the writes below on its own.
    let layers = Layers {
        landlock: false,
        seccomp: false,
        ..Layers::ALL
    };
    let (jail, work, _p) = jail_with_out(layers);
    work.write_input(b"upload").unwrap();
    let uid = |p: &Path| std::fs::metadata(p).unwrap().uid();
    assert_eq!(
        (uid(work.root()), uid(work.input()), uid(work.out())),
        (0, 0, attachd::jail::NOBODY)
    );
    // `nobody` cannot rewrite the input ffprobe checked before ffmpeg reads it…
    let (_, printed) = selftest(&jail, "write", work.input(), &[], work.out());
    assert!(printed.contains("write: error 13"), "{printed:?}");
    assert_eq!(std::fs::read(work.input()).unwrap(), b"upload");
    // …nor plant a link in the work directory (where ffmpeg's stdio once was captured)…
    let planted = work.root().join("ffmpeg.stderr");
    let (_, printed) = selftest_with(
        &jail,
        "symlink",
        &[planted.as_os_str(), "/etc/shadow".as_ref()],
        &[],
        work.out(),
    );
    assert!(printed.contains("symlink: error 13"), "{printed:?}");
    // …and still reads the input and writes its directory.
    let (_, printed) = selftest(&jail, "read", work.input(), &[], work.out());
    assert!(printed.contains("read: ok 6"), "{printed:?}");
    let (_, printed) = selftest(&jail, "write", &work.out().join("x"), &[], work.out());
    assert!(printed.contains("write: ok"), "{printed:?}");
}

/// Bytes of the regular files under `dir`, links not followed.
fn bytes_under(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => bytes_under(&e.path()),
                    Ok(m) if m.is_file() => m.len(),
                    _ => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn a_program_flooding_stdout_and_stderr_leaves_only_the_capped_tail_on_the_host() {
    // 24 MiB on each stream, under the run's 32 MiB file-size limit: stdio that counted
    // as writable files would leave 48 MiB in the work directory.
    const FLOOD: usize = 24 << 20;
    let parent = open_dir();
    let program = PathBuf::from(ATTACHD).canonicalize().unwrap();
    let video = video(parent.path(), |c| {
        c.ffmpeg = program.clone();
        c.max_output_bytes = 32 << 20;
    });
    let work = WorkDir::create(parent.path(), video.jail().unwrap().run_as()).unwrap();
    work.write_input(b"upload").unwrap();
    let args: Vec<OsString> = vec![
        SELFTEST_ARG.into(),
        "flood".into(),
        FLOOD.to_string().into(),
    ];
    let finished = video.run_ffmpeg(&work, &args).unwrap();
    assert!(finished.status.success(), "{:?}", finished.status);
    // Nothing of either stream on disk: the work directory holds the input and the two
    // empty output files.
    let stored = bytes_under(work.root());
    assert_eq!(
        stored, 6,
        "the work directory holds {stored} bytes of a {FLOOD}-byte flood per stream"
    );
    // ffmpeg's stdout is /dev/null; of its stderr the host read all and kept the tail.
    assert_eq!(finished.stdout, Default::default());
    assert_eq!(finished.stderr.total, FLOOD as u64);
    assert_eq!(
        finished.stderr.bytes,
        vec![b'e'; attachd::video::STDERR_KEPT_BYTES]
    );
}

#[test]
fn a_program_flooding_stdio_without_end_is_killed_at_its_deadline() {
    // Reading the pipes must never keep the host from its deadline (nor a full pipe the
    // program from running into it).
    let (jail, work, _p) = jail_with_out(Layers::ALL);
    let started = Instant::now();
    let (run, _) = selftest(
        &jail,
        "flood",
        Path::new(&usize::MAX.to_string()),
        &[],
        work.out(),
    );
    let took = started.elapsed();
    let err = run.unwrap_err();
    assert_eq!(err.code(), "sandbox-timeout", "{err}");
    assert!(
        took < Duration::from_secs(10) + Duration::from_secs(3),
        "{took:?}"
    );
}

#[test]
fn a_report_longer_than_its_cap_is_kept_to_the_cap_and_counted_whole() {
    // Eight times ffprobe's report cap on stdout and on stderr, with a file-size limit of
    // one byte: pipes are not files, and the host keeps the caps only.
    const FLOOD: usize = 8 * attachd::video::MAX_PROBE_REPORT_BYTES as usize;
    let (jail, work, _p) = jail_with_out(Layers::ALL);
    let program = PathBuf::from(ATTACHD).canonicalize().unwrap();
    let args: Vec<OsString> = vec![
        SELFTEST_ARG.into(),
        "flood".into(),
        FLOOD.to_string().into(),
    ];
    let finished = jail
        .run(Spec {
            step: "selftest",
            program: &program,
            args: &args,
            read_files: &[],
            write_files: &[],
            cwd: work.out(),
            timeout: Duration::from_secs(10),
            rlimits: Rlimits {
                cpu_seconds: 10,
                address_space_bytes: attachd::video::DEFAULT_MEMORY_BYTES,
                file_size_bytes: 1,
                open_files: attachd::video::OPEN_FILES,
                tasks: attachd::video::max_tasks(attachd::video::DEFAULT_THREADS),
            },
            stdout: Keep::Head(attachd::video::MAX_PROBE_REPORT_BYTES as usize),
            stderr: Keep::Tail(attachd::video::STDERR_KEPT_BYTES),
        })
        .unwrap();
    assert!(finished.status.success(), "{:?}", finished.status);
    assert_eq!(finished.stdout.total, FLOOD as u64);
    assert_eq!(
        finished.stdout.bytes,
        vec![b'o'; attachd::video::MAX_PROBE_REPORT_BYTES as usize]
    );
    assert_eq!(finished.stderr.total, FLOOD as u64);
    assert_eq!(
        finished.stderr.bytes,
        vec![b'e'; attachd::video::STDERR_KEPT_BYTES]
    );
    assert_eq!(bytes_under(work.root()), 0);
}

fn jail_support() -> Support {
    Support::detect()
}

#[test]
fn this_machine_supports_every_layer_and_the_detection_says_so() {
    let s = jail_support();
    // Printed for the CI log: what the sandbox runs with here.
    eprintln!("sandbox support: {s:?}");
    assert_eq!(s.root, rustix_is_root());
    assert!(s.seccomp, "no seccomp on {}", std::env::consts::ARCH);
    let v = Video::new(VideoConfig::default());
    match (s.landlock_abi, s.namespaces, s.pid_namespace) {
        (Some(_), true, true) => assert!(v.ready().is_ok(), "{:?}", v.ready()),
        _ => assert_eq!(v.ready().unwrap_err().code(), "video-sandbox-unavailable"),
    }
}

fn rustix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        .unwrap()
}

/// Runs `attachd __jail-selftest support` in a process where the kernel seems to lack
/// Landlock (its syscalls answer ENOSYS) and namespaces (unshare answers EPERM), as on an old
/// kernel or in a container that forbids them; returns what the self-test printed.
fn support_without_landlock_and_namespaces(mode: &str) -> String {
    use seccompiler::{SeccompAction, SeccompFilter, TargetArch};
    use std::os::unix::process::CommandExt;
    let arch = TargetArch::try_from(std::env::consts::ARCH).unwrap();
    let deny = |nrs: &[libc::c_long], errno: i32| -> seccompiler::BpfProgram {
        SeccompFilter::new(
            nrs.iter().map(|&n| (n, vec![])).collect(),
            SeccompAction::Allow,
            SeccompAction::Errno(errno as u32),
            arch,
        )
        .unwrap()
        .try_into()
        .unwrap()
    };
    let no_landlock = deny(
        &[
            libc::SYS_landlock_create_ruleset,
            libc::SYS_landlock_add_rule,
            libc::SYS_landlock_restrict_self,
        ],
        libc::ENOSYS,
    );
    let no_unshare = deny(&[libc::SYS_unshare], libc::EPERM);
    let mut cmd = Command::new(ATTACHD);
    cmd.args([SELFTEST_ARG, "support", mode]);
    // SAFETY: installing a filter is two raw system calls; nothing allocates.
    unsafe {
        cmd.pre_exec(move || {
            for p in [&no_landlock, &no_unshare] {
                seccompiler::apply_filter(p).map_err(|_| std::io::Error::other("filter"))?;
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn missing_layers_are_detected_and_strict_mode_refuses_while_best_effort_warns() {
    let strict = support_without_landlock_and_namespaces("strict");
    assert!(strict.contains("landlock_abi: None"), "{strict}");
    assert!(strict.contains("namespaces: false"), "{strict}");
    assert!(strict.contains("pid_namespace: false"), "{strict}");
    assert!(
        strict.contains("ready: error video-sandbox-unavailable"),
        "strict mode must refuse: {strict}"
    );
    let lenient = support_without_landlock_and_namespaces("best-effort");
    assert!(lenient.contains("ready: ok"), "{lenient}");
    assert!(lenient.contains("warning: Landlock"), "{lenient}");
    assert!(
        lenient.contains("warning: user and network namespaces"),
        "{lenient}"
    );
    assert!(lenient.contains("warning: a PID namespace"), "{lenient}");
    // The same self-test on this machine, unimpaired.
    let here = Command::new(ATTACHD)
        .args([SELFTEST_ARG, "support", "strict"])
        .output()
        .unwrap();
    let here = String::from_utf8_lossy(&here.stdout);
    assert!(here.contains("seccomp: true"), "{here}");
    assert!(here.contains("pid_namespace: true"), "{here}");
}
