//! Through the wasm boundary: the real guest components (what `make guests` built and signed)
//! in the real host sandbox, a fresh instance per call, as a job runs them.
//!
//! libFuzzer sees no coverage inside a guest (wasm code is compiled by Cranelift at load, not
//! instrumented). So both targets also run the same libraries natively: their coverage
//! steers the fuzzer towards inputs that reach new code in the guests too.

use crate::media;
use attachd::config::{GuestPaths, InputLimits, SandboxLimits};
use attachd::error::{Class, ErrorCode};
use attachd::pipeline::{media_code, Pipeline};
use attachd::release::Trust;
use attachd::sandbox::{self, truncate_guest_string, Sandbox, GUEST_STRING_MAX};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// The guests `make guests` built (`ATTACH_GUEST_DIR`, relative to the repository or
/// absolute), trusted with `ATTACH_GUEST_TRUSTED_KEYS` or the development key beside them.
fn load() -> Arc<Sandbox> {
    let root = crate::repo_root();
    let dir = std::env::var_os("ATTACH_GUEST_DIR")
        .map(PathBuf::from)
        .map(|p| if p.is_relative() { root.join(p) } else { p })
        .unwrap_or_else(|| root.join("target/guests"));
    assert!(
        dir.join("probe.json").is_file(),
        "no guests in {}: run `make guests` first",
        dir.display()
    );
    let keys = std::env::var("ATTACH_GUEST_TRUSTED_KEYS").unwrap_or_else(|_| {
        root.join("target/guest-keys/dev.pub")
            .to_string_lossy()
            .into_owned()
    });
    let paths = GuestPaths {
        dir,
        cache_dir: Some(root.join("target/fuzz-guest-cache")),
        trust: Trust::parse(&keys, false).expect("the trusted release keys read"),
    };
    Arc::new(Sandbox::load(&paths, SandboxLimits::default()).expect("the guests load"))
}

/// Loads (and, on a cold cache, compiles) the guests before the first input: libFuzzer's
/// initialisation hook calls it, so the compile is not charged to an input's time limit (on
/// a loaded machine it can take longer than the limit itself).
pub fn warm_up() {
    shared();
}

fn shared() -> Arc<Sandbox> {
    static SANDBOX: OnceLock<Arc<Sandbox>> = OnceLock::new();
    SANDBOX.get_or_init(load).clone()
}

fn host_specs() -> Vec<sandbox::VariantSpec> {
    attachd::variant::parse_all(media::SPECS).expect("the fuzz specs parse")
}

/// Every field the probe guest's WIT record shares with the library's reading, one list for
/// both types.
macro_rules! reading {
    ($p:expr) => {
        format!(
            "{} {}x{} frames {} area {} orientation {} exif {} gps {} xmp {} icc {} comment {} alpha {} progressive {} scans {}",
            $p.mime, $p.width, $p.height, $p.frames, $p.total_frame_area, $p.orientation,
            $p.has_exif, $p.has_gps, $p.has_xmp, $p.has_icc, $p.has_comment, $p.has_alpha,
            $p.progressive, $p.scans
        )
    };
}

/// An upload through probe → scan → thumbnail in the sandbox, as a job runs it, twice.
/// Every outcome is variants within their boxes and the output cap, or a permanent error
/// with a code; never a guest the sandbox had to stop (a trap is a decoder panic, fuel or
/// memory exhausted on a 64 KiB input is a missing limit); and the second run gives exactly
/// the first's outcome.
pub fn pipeline(data: &[u8]) {
    let data = &with_png_crcs(data);
    // Coverage for the fuzzer: the same libraries, natively.
    media::probe(data);
    media::thumbnail(data);

    let pipeline = Pipeline::new(shared(), InputLimits::default());
    let specs = host_specs();
    let outcome = pipeline.run(data, "", &specs);
    match &outcome.result {
        Ok(thumbs) => {
            let native = to_native(thumbs);
            media::check_thumbnails(&native, &media::specs(), pipeline.limits().max_output_bytes);
        }
        Err(e) => {
            assert_eq!(
                e.class(),
                Class::Permanent,
                "a retryable error for an input: {e}"
            );
            assert!(
                !e.code().starts_with("guest-"),
                "the sandbox had to stop a guest: {} ({e})",
                e.code()
            );
            assert!(
                e.to_string().len() <= 2 * GUEST_STRING_MAX,
                "an unbounded error"
            );
        }
    }
    let again = pipeline.run(data, "", &specs);
    assert_eq!(
        format!("{outcome:?}"),
        format!("{again:?}"),
        "the same upload gave two outcomes"
    );
}

/// The sandboxed guests against the same libraries native: the probe's reading, the scan's
/// report and the thumbnails are the same, byte for byte, or fail with the same code.
pub fn differential(data: &[u8]) {
    let data = &with_png_crcs(data);
    let sandbox = shared();
    let limits = media::limits();
    let wit_limits = sandbox::Limits {
        max_pixels: limits.max_pixels,
        max_frames: limits.max_frames,
        max_total_frame_area: limits.max_total_frame_area,
        max_output_bytes: limits.max_output_bytes,
    };
    let session = sandbox.session();

    let native = media_probe::probe(data, &limits);
    let (guest, _) = session
        .probe(data, wit_limits)
        .expect("the probe guest ran");
    let source_pixels = match (&native, &guest) {
        (Ok(n), Ok(g)) => {
            assert_eq!(
                reading!(n),
                reading!(g),
                "probe: native and sandboxed readings differ"
            );
            attachd::pipeline::source_pixels(g)
        }
        (Err(n), Err(g)) => {
            assert_eq!(n.code(), media_code(g).as_str(), "probe: different errors");
            0
        }
        (n, g) => panic!("probe: native {n:?}, sandboxed {g:?}"),
    };

    let native = media_scan::scan(data, "", &limits).expect("the native scan ran");
    let (guest, _) = session
        .scan(data, "", wit_limits)
        .expect("the scan guest ran");
    let guest = guest.expect("the scan guest reported");
    assert_eq!(
        native.kind.mime(),
        guest.kind.library().mime(),
        "scan: kinds differ"
    );
    let guest_verdict = match guest.verdict {
        sandbox::Verdict::Clean => media_scan::Verdict::Clean,
        sandbox::Verdict::Suspicious => media_scan::Verdict::Suspicious,
        sandbox::Verdict::Reject => media_scan::Verdict::Reject,
    };
    assert_eq!(native.verdict, guest_verdict, "scan: verdicts differ");
    let native_findings: Vec<(String, String)> = native
        .findings
        .iter()
        .map(|f| (f.rule.to_string(), truncate_guest_string(f.detail.clone())))
        .collect();
    let guest_findings: Vec<(String, String)> = guest
        .findings
        .iter()
        .map(|f| (f.rule.clone(), f.detail.clone()))
        .collect();
    assert_eq!(native_findings, guest_findings, "scan: findings differ");

    let native = media_thumbnail::render(data, &media::specs(), &limits);
    // A guest that gives up (libjpeg's data-loss warnings end the instance, a heif decoder's
    // panic too) is the sandbox's `malformed-input`, as the library's own error is natively.
    // HEIC and AVIF go to the heif guest, as the pipeline sends them; the native library here
    // has both decoder sets.
    let heif = matches!(
        media_probe::sniff(data),
        media_probe::Kind::Heic | media_probe::Kind::Avif
    );
    let call = if heif {
        session.heif(data, &host_specs(), wit_limits, source_pixels)
    } else {
        session.thumbnail(data, &host_specs(), wit_limits, source_pixels)
    };
    let guest = match call {
        Ok((guest, _)) => guest.map_err(|e| media_code(&e).as_str()),
        Err(e) if e.code() == "malformed-input" => Err(e.code()),
        Err(e) => panic!("the sandbox had to stop the rendering guest: {e}"),
    };
    match (native, guest) {
        (Ok(n), Ok(g)) => {
            let g = to_native(&g);
            for (a, b) in n.variants.iter().zip(&g.variants) {
                assert!(
                    a == b,
                    "thumbnail: variant {} differs: native {:?} {}x{} {} bytes, sandboxed {:?} {}x{} {} bytes",
                    a.name, a.format, a.width, a.height, a.data.len(), b.format, b.width, b.height, b.data.len()
                );
            }
            assert_eq!(
                n.variants.len(),
                g.variants.len(),
                "thumbnail: variant counts differ"
            );
            assert!(
                same_thumbhash(&n.placeholder, &g.placeholder),
                "thumbnail: placeholders {} and {} differ by more than float rounding",
                n.placeholder,
                g.placeholder
            );
        }
        (Err(n), Err(g)) => assert_eq!(n.code(), g, "thumbnail: different errors"),
        (n, g) => panic!(
            "thumbnail: native {:?}, sandboxed {:?}",
            n.map(|_| "variants"),
            g.map(|_| "variants")
        ),
    }
}

/// `data` with every PNG chunk's CRC recomputed (other inputs unchanged). libFuzzer builds
/// with `--cfg fuzzing`, under which the `png` crate skips its CRC checks so that mutations
/// get past them; the guests, built for production, check them. With real CRCs both sides see
/// the same file, and mutated PNGs reach the guests' decoders instead of stopping at a CRC.
pub fn with_png_crcs(data: &[u8]) -> Vec<u8> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    let mut out = data.to_vec();
    if !data.starts_with(SIGNATURE) {
        return out;
    }
    let mut at = SIGNATURE.len();
    while at + 12 <= out.len() {
        let len = u32::from_be_bytes(out[at..at + 4].try_into().unwrap()) as usize;
        let Some(end) = (at + 8).checked_add(len).filter(|&e| e + 4 <= out.len()) else {
            break;
        };
        let crc = crc32fast::hash(&out[at + 4..end]);
        out[end..end + 4].copy_from_slice(&crc.to_be_bytes());
        at = end + 4;
    }
    out
}

/// Whether two ThumbHashes are the same up to one quantisation step per value. ThumbHash's
/// cosine transform calls the platform's `cosf` (glibc natively, wasi-libc in the guest),
/// and the two differ in the last bit for some arguments: a value that lands on a rounding
/// boundary quantises one step apart. Found by this target on the first run (an RGBA PNG);
/// the variants themselves are compared byte for byte.
fn same_thumbhash(a: &str, b: &str) -> bool {
    let (Some(a), Some(b)) = (unbase64(a), unbase64(b)) else {
        return false;
    };
    a.len() == b.len()
        && a.iter()
            .zip(&b)
            .all(|(x, y)| (x >> 4).abs_diff(y >> 4) <= 1 && (x & 15).abs_diff(y & 15) <= 1)
}

fn unbase64(s: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let (mut n, mut out) = (0, Vec::new());
    for c in s.bytes().take_while(|&c| c != b'=') {
        bits = bits << 6 | ALPHABET.iter().position(|&a| a == c)? as u32;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    Some(out)
}

/// The guest's thumbnails in the library's types, to compare and check them alike.
fn to_native(t: &sandbox::Thumbnails) -> media_thumbnail::Thumbnails {
    use media_thumbnail::Format as F;
    media_thumbnail::Thumbnails {
        variants: t
            .variants
            .iter()
            .map(|v| media_thumbnail::Rendered {
                name: v.name.clone(),
                format: match v.format {
                    sandbox::Format::Webp => F::Webp,
                    sandbox::Format::Jpeg => F::Jpeg,
                    sandbox::Format::Png => F::Png,
                    sandbox::Format::Auto => F::Auto,
                },
                width: v.width,
                height: v.height,
                data: v.data.clone(),
            })
            .collect(),
        placeholder: t.placeholder.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_chunks_get_their_real_crcs_and_other_inputs_stay_as_they_are() {
        let png = attach_fixtures::png_rgb(&attach_fixtures::photo(8, 8, 1));
        let mut broken = png.clone();
        let ihdr_crc = 8 + 8 + 13;
        broken[ihdr_crc] ^= 0xFF;
        assert_eq!(with_png_crcs(&broken), png);
        assert_eq!(with_png_crcs(b"GIF89a\0\0\0\0"), b"GIF89a\0\0\0\0");
    }

    #[test]
    fn thumbhashes_one_quantisation_step_apart_are_the_same_and_two_are_not() {
        // "gA" and "cA" decode to 0x80 and 0x70 (one step in the high nibble); "wA" to 0xC0.
        assert!(same_thumbhash("4seNgA==", "4seNgA=="));
        assert!(same_thumbhash("4seNgA==", "4seNcA=="));
        assert!(!same_thumbhash("4seNgA==", "4seNwA=="));
        assert!(!same_thumbhash("4seNgA==", "4seN"));
    }
}
