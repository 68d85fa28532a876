//! Shared helpers for the host's integration tests: where the built guests are, one shared
//! sandbox per test binary, and decoders to check what the guests wrote.
#![allow(dead_code)]

use attachd::audit::Audit;
use attachd::config::{GuestPaths, InputLimits, SandboxLimits};
use attachd::db::Db;
use attachd::job::{HandlerDeps, DEFAULT_CLAIM_LEASE};
use attachd::metrics::Metrics;
use attachd::pipeline::Pipeline;
use attachd::queue::QueueName;
use attachd::sandbox::{Format, Limits, Sandbox};
use attachd::storage::Storage;
use attachd::{variant, vscan};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// The guests `make guests` built (or `ATTACH_GUEST_DIR`).
pub fn guest_dir() -> PathBuf {
    let dir = std::env::var_os("ATTACH_GUEST_DIR")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_relative() {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(p)
            } else {
                p
            }
        })
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/guests")));
    assert!(
        dir.join("probe.json").is_file(),
        "no guests in {}: run `make guests` first",
        dir.display()
    );
    dir
}

/// A compile cache shared by every test binary, so Cranelift runs once per guest build.
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("guest-cache")
}

pub fn paths() -> GuestPaths {
    paths_in(guest_dir())
}

/// The release keys the tests trust: `ATTACH_GUEST_TRUSTED_KEYS` (which `make test` sets to
/// the development key `make guests` signs with), else that key where `make guests` writes it.
pub fn trust() -> attachd::release::Trust {
    let keys = std::env::var("ATTACH_GUEST_TRUSTED_KEYS").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../target/guest-keys/dev.pub").to_string()
    });
    attachd::release::Trust::parse(&keys, false).expect("the trusted release keys read")
}

/// [`trust`] and the key `make guests` signs the hostile test guests with (`test.pub` beside
/// the development key): only the sandbox suites, which load those guests on purpose, trust
/// it. Nothing else does, so a hostile guest copied into a guest directory never loads.
pub fn test_guest_trust() -> attachd::release::Trust {
    let dev = std::env::var("ATTACH_GUEST_TRUSTED_KEYS").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../target/guest-keys/dev.pub").to_string()
    });
    let test = PathBuf::from(&dev).with_file_name("test.pub");
    attachd::release::Trust::parse(&format!("{dev},{}", test.display()), false)
        .expect("the development and test keys read")
}

/// Guests in `dir`, trusted as the tests trust them, compiled into the shared cache.
pub fn paths_in(dir: PathBuf) -> GuestPaths {
    GuestPaths {
        dir,
        cache_dir: Some(cache_dir()),
        trust: trust(),
    }
}

/// One sandbox with the real guests and default limits, shared by the tests of a binary.
pub fn sandbox() -> Arc<Sandbox> {
    static SANDBOX: OnceLock<Arc<Sandbox>> = OnceLock::new();
    SANDBOX
        .get_or_init(|| {
            Arc::new(Sandbox::load(&paths(), SandboxLimits::default()).expect("load guests"))
        })
        .clone()
}

/// Input limits roomy enough that only the sandbox's own limits (fuel, deadline, memory) stop
/// a guest: what the hostile-guest suites call the guests with.
pub fn roomy_limits() -> Limits {
    Limits {
        max_pixels: 50_000_000,
        max_frames: 1000,
        max_total_frame_area: 200_000_000,
        max_output_bytes: 1024 * 1024,
    }
}

pub fn pipeline() -> Pipeline {
    Pipeline::new(sandbox(), InputLimits::default())
}

/// A job handler's dependencies as `process --store` has them (no scanner, no queue, the
/// default variants and lease, a fresh metrics registry), on `storage` and `db`: a test
/// replaces what it is about with struct update syntax.
pub fn handler_deps(pipeline: Pipeline, storage: Arc<dyn Storage>, db: Db) -> HandlerDeps {
    HandlerDeps {
        pipeline,
        storage,
        audit: Audit::new(Some(db.clone())),
        db,
        default_variants: variant::defaults(),
        lease: DEFAULT_CLAIM_LEASE,
        policy: Arc::new(vscan::Policy::default()),
        queue: None,
        metrics: Metrics::new(&QueueName::labels()),
    }
}

/// A decoded variant: RGB8 pixels.
pub struct Decoded {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl Decoded {
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * self.width + x) * 3) as usize;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }
}

/// Whether each channel of `got` is within 48 of `want`: the same colour after lossy encoding
/// and resizing.
pub fn close(got: [u8; 3], want: [u8; 3]) -> bool {
    got.iter()
        .zip(want)
        .all(|(&g, w)| (i32::from(g) - i32::from(w)).abs() <= 48)
}

/// The colours a quarter in from each corner: top-left, top-right, bottom-left, bottom-right.
pub fn corners(d: &Decoded) -> [[u8; 3]; 4] {
    let (qx, qy) = (d.width / 4, d.height / 4);
    [
        d.pixel(qx, qy),
        d.pixel(3 * qx, qy),
        d.pixel(qx, 3 * qy),
        d.pixel(3 * qx, 3 * qy),
    ]
}

/// Asserts that `d` shows [`attach_fixtures::quadrants`] upright: sampled a quarter in from each
/// corner, top-left, top-right, bottom-left and bottom-right are red, green, blue and yellow.
pub fn assert_quadrants(d: &Decoded, what: &str) {
    for (corner, (got, want)) in corners(d)
        .iter()
        .zip(attach_fixtures::QUADRANT_COLOURS)
        .enumerate()
    {
        assert!(
            close(*got, want),
            "{what}, corner {corner}: got {got:?}, want {want:?}"
        );
    }
}

/// Decodes a variant with decoders independent of the guests'.
pub fn decode(format: Format, data: &[u8]) -> Decoded {
    match format {
        Format::Jpeg => {
            let mut d = jpeg_decoder::Decoder::new(data);
            let px = d.decode().expect("jpeg decodes");
            let info = d.info().unwrap();
            let rgb = match info.pixel_format {
                jpeg_decoder::PixelFormat::RGB24 => px,
                jpeg_decoder::PixelFormat::L8 => px.iter().flat_map(|&l| [l, l, l]).collect(),
                other => panic!("unexpected jpeg pixel format {other:?}"),
            };
            Decoded {
                width: info.width.into(),
                height: info.height.into(),
                rgb,
            }
        }
        Format::Png => {
            let mut d = png::Decoder::new(std::io::Cursor::new(data));
            d.set_transformations(png::Transformations::normalize_to_color8());
            let mut r = d.read_info().expect("png header");
            let mut buf = vec![0; r.output_buffer_size().unwrap()];
            let frame = r.next_frame(&mut buf).expect("png decodes");
            let channels = frame.color_type.samples();
            let rgb = buf[..frame.buffer_size()]
                .chunks(channels)
                .flat_map(|p| match channels {
                    1 | 2 => [p[0], p[0], p[0]],
                    _ => [p[0], p[1], p[2]],
                })
                .collect();
            Decoded {
                width: frame.width,
                height: frame.height,
                rgb,
            }
        }
        Format::Webp => {
            let mut d =
                image_webp::WebPDecoder::new(std::io::Cursor::new(data)).expect("webp header");
            let (w, h) = d.dimensions();
            let mut buf = vec![0; d.output_buffer_size().unwrap()];
            d.read_image(&mut buf).expect("webp decodes");
            let channels = if d.has_alpha() { 4 } else { 3 };
            let rgb = buf
                .chunks(channels)
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect();
            Decoded {
                width: w,
                height: h,
                rgb,
            }
        }
        Format::Auto => panic!("a rendered variant never has format auto"),
    }
}

/// `png` through Debian's avifenc (libavif with libaom: an encoder independent of everything
/// attachd runs), with `args` (`-y 444`, `-d 10`, …) and near-lossless quantizers, so colours
/// survive for the quadrant checks.
pub fn avifenc(png: &[u8], args: &[&str]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join("in.png"), dir.path().join("out.avif"));
    std::fs::write(&input, png).unwrap();
    let out = std::process::Command::new("avifenc")
        .args(["--min", "0", "--max", "10", "-s", "10"])
        .args(args)
        .arg(&input)
        .arg(&output)
        .output()
        .expect("avifenc runs (scripts/setup.sh installs libavif-bin)");
    assert!(
        out.status.success(),
        "avifenc {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(&output).unwrap()
}

/// True when `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
pub mod api;
pub mod clamd;
pub mod clips;
pub mod db;
pub mod job;
pub mod s3;
pub mod store;
pub mod worker;

/// A guest directory with the real guests, except those named in `hostile`, which are the
/// hostile test component (`tests/hostile-guest`) in their place.
pub fn guest_dir_with(hostile: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let real = guest_dir();
    for (name, _) in attachd::release::GUESTS {
        let from = if hostile.contains(&name) {
            real.join("test/hostile")
        } else {
            real.clone()
        };
        for ext in ["json", "json.minisig", "wasm"] {
            let f = format!("{name}.{ext}");
            std::fs::copy(from.join(&f), dir.path().join(&f)).unwrap();
        }
    }
    dir
}

/// A release key of a test's own (in the returned directory) and the trust in it alone: for
/// tests that must sign a release they changed.
pub fn release_key() -> (
    tempfile::TempDir,
    minisign::SecretKey,
    attachd::release::Trust,
) {
    let keys = tempfile::tempdir().unwrap();
    let (secret, public) = (keys.path().join("test.key"), keys.path().join("test.pub"));
    attachd::release::keygen(&secret, &public, None).expect("a test key pair");
    let key = attachd::release::read_secret_key(&secret, None).expect("the test key reads");
    let trust = attachd::release::Trust::keys(
        attachd::release::read_key_file(&public).expect("the test public key reads"),
    );
    (keys, key, trust)
}

/// Runs `f` while twice as many threads as there are cores spin.
pub fn with_all_cores_busy<R>(f: impl FnOnce() -> R) -> R {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = Arc::new(AtomicBool::new(false));
    let n = std::thread::available_parallelism().map_or(2, |n| n.get()) * 2;
    let spinners: Vec<_> = (0..n)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut x = 1u64;
                while !stop.load(Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                }
            })
        })
        .collect();
    let r = f();
    stop.store(true, Ordering::Relaxed);
    for s in spinners {
        s.join().unwrap();
    }
    r
}
