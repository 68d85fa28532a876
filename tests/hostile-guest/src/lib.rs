//! A deliberately hostile component for the host's sandbox tests. It exports both the probe and
//! the thumbnail interface; the tests install it in place of either guest and pick its
//! misbehaviour with the input bytes, proving that each sandbox limit and each check on guest
//! output stops it with its own error code, and that the host carries on afterwards.
//!
//! Thumbnail (`render`):
//!
//! | input            | behaviour                                          | expected host error    |
//! |------------------|----------------------------------------------------|------------------------|
//! | `spin`           | loops forever                                      | `guest-fuel-exhausted` |
//! | `burn:N`         | N rounds of arithmetic, then behaves               | fuel decides           |
//! | `alloc`          | allocates and touches memory without bound         | `guest-memory-limit`   |
//! | `recurse`        | recurses without bound                             | `guest-stack-overflow` |
//! | `big-output:N`   | returns N bytes of output                          | `output-too-large`     |
//! | `panic`          | panics (a trap)                                    | `guest-trap`           |
//! | `give-up`        | writes 64 KiB to stderr, then exits with a failing status | `malformed-input`, reason cut |
//! | `sleep`          | sleeps a minute (clock subscription + block)       | `guest-forbidden-call` |
//! | `poll`           | polls a one-minute timer                           | `guest-forbidden-call` |
//! | `fill`           | `memory.fill`s 32 MiB forever (host time, little fuel) | `guest-fuel-exhausted` |
//! | `random`         | asks the host for random bytes forever             | `guest-fuel-exhausted` |
//! | `random-big`     | asks the host for 4096 random bytes at once        | `guest-trap`           |
//! | `chase:N`        | follows pointers through N MiB forever: each load misses the cache, so fuel burns slowly | `guest-cpu-exhausted` |
//! | `lie:name`       | names its variant `../../evil`                     | `guest-output-invalid` |
//! | `lie:duplicate`  | returns the requested variant twice                | `guest-output-invalid` |
//! | `lie:many`       | returns 200 variants                               | `guest-output-invalid` |
//! | `lie:dims`       | claims 99999×99999                                 | `guest-output-invalid` |
//! | `lie:html`       | returns HTML bytes labelled JPEG                   | `guest-output-invalid` |
//! | `lie:readback`   | claims 2×2 for its 1×1 PNG                         | `guest-output-invalid` |
//! | `lie:polyglot`   | a valid PNG followed by an HTML page               | `guest-output-invalid` |
//! | `lie:eicar`      | a valid PNG followed by the EICAR test signature   | `guest-output-invalid` |
//! | `lie:chunk`      | a valid PNG with an HTML page in a private chunk   | `guest-output-invalid` |
//! | `lie:placeholder`| a 64-character "ThumbHash"                         | `guest-output-invalid` |
//! | `error:N`        | fails with an N-byte error message                 | truncated, or `output-too-large` |
//! | anything else    | one honest 1×1 PNG per requested variant           | success                |
//!
//! Probe (`probe`): `lie:mime` claims a PNG is `text/html`; `lie:orientation` claims EXIF
//! orientation 77 (both `guest-output-invalid`); `lie:huge-mime` returns a 2 MiB MIME type
//! (`output-too-large`, refused before it is copied); anything else reads a PNG's size
//! honestly.

wit_bindgen::generate!({
    world: "attach:hostile/hostile",
    path: ["../../wit", "wit"],
    generate_all,
});

use attach::media::types::{Kind, Limits, MediaError};
use exports::attach::media::probe::{Guest as Probe, ProbeInfo};
use exports::attach::media::thumbnail::{
    Format, Guest as Thumbnail, Rendered, Thumbnails, VariantSpec,
};
use std::hint::black_box;

/// A valid 1×1 greyscale PNG: what the honest mode renders for every variant.
const PIXEL_PNG: [u8; 67] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x00, 0x00, 0x00, 0x00, 0x3a, 0x7e, 0x9b,
    0x55, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60, 0x00, 0x00, 0x00,
    0x02, 0x00, 0x01, 0x48, 0xaf, 0xa4, 0x71, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

/// The antivirus test file, appended after a valid image by `lie:eicar`.
// Assembled from two halves so that this source file does not itself match AV signatures.
const EICAR: &[u8] = concat!(
    r"X5O!P%@AP[4\PZX54(P^)7CC)7}$",
    "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
)
.as_bytes();

struct Component;

fn honest(spec: &VariantSpec) -> Rendered {
    Rendered {
        name: spec.name.clone(),
        format: Format::Png,
        width: 1,
        height: 1,
        data: PIXEL_PNG.to_vec(),
    }
}

fn number(digits: &[u8]) -> u64 {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Ends the instance the way the thumbnail guest does when libjpeg gives up, but with far more
/// on stderr than the host keeps or repeats.
fn give_up() -> ! {
    use std::io::Write;
    let line = format!("malformed-input: {}\n", "x".repeat(64 * 1024));
    let _ = std::io::stderr().write_all(line.as_bytes());
    std::process::exit(1)
}

impl Thumbnail for Component {
    fn render(
        data: Vec<u8>,
        specs: Vec<VariantSpec>,
        _limits: Limits,
    ) -> Result<Thumbnails, MediaError> {
        let mut variants: Vec<Rendered> = specs.iter().map(honest).collect();
        let mut placeholder = String::new();
        match data.as_slice() {
            b"spin" => spin(),
            b"alloc" => alloc(),
            b"recurse" => variants[0].width = recurse(black_box(0)) as u32,
            b"panic" => panic!("hostile guest panics on purpose"),
            b"give-up" => give_up(),
            b"sleep" => std::thread::sleep(std::time::Duration::from_secs(60)),
            b"poll" => poll_a_minute(),
            b"fill" => fill_forever(),
            b"random" => random_forever(),
            b"random-big" => variants[0].width = random_bytes(4096).len() as u32,
            b"lie:name" => variants[0].name = "../../evil".into(),
            b"lie:duplicate" => variants.push(honest(&specs[0])),
            b"lie:many" => {
                for i in 0..200 {
                    let mut v = honest(&specs[0]);
                    v.name = format!("{}-{i}", specs[0].name);
                    variants.push(v);
                }
            }
            b"lie:dims" => (variants[0].width, variants[0].height) = (99_999, 99_999),
            b"lie:html" => {
                variants[0].format = Format::Jpeg;
                variants[0].data = b"<html><script>alert(document.cookie)</script>".to_vec();
            }
            b"lie:readback" => (variants[0].width, variants[0].height) = (2, 2),
            b"lie:polyglot" => variants[0]
                .data
                .extend_from_slice(b"<html><script>alert(document.cookie)</script></html>"),
            b"lie:eicar" => variants[0].data.extend_from_slice(EICAR),
            b"lie:chunk" => {
                // A private chunk before IEND, holding a page no scan rule looks for.
                let body = b"<img src=x onerror=alert(document.domain)>";
                let iend = PIXEL_PNG.len() - 12;
                let mut png = PIXEL_PNG[..iend].to_vec();
                png.extend_from_slice(&(body.len() as u32).to_be_bytes());
                png.extend_from_slice(b"prVt");
                png.extend_from_slice(body);
                png.extend_from_slice(&[0; 4]);
                png.extend_from_slice(&PIXEL_PNG[iend..]);
                variants[0].data = png;
            }
            b"lie:placeholder" => placeholder = "A".repeat(64),
            #[cfg(feature = "sockets")]
            b"network" => variants[0].width = network() as u32,
            other => {
                if let Some(n) = other.strip_prefix(b"big-output:") {
                    variants[0].data = vec![0xAB; number(n) as usize];
                } else if let Some(n) = other.strip_prefix(b"chase:") {
                    chase(number(n) as usize);
                } else if let Some(n) = other.strip_prefix(b"burn:") {
                    burn(number(n));
                } else if let Some(n) = other.strip_prefix(b"error:") {
                    return Err(MediaError::Malformed("e".repeat(number(n) as usize)));
                }
            }
        }
        Ok(Thumbnails {
            variants,
            placeholder,
        })
    }
}

impl Probe for Component {
    fn probe(data: Vec<u8>, _limits: Limits) -> Result<ProbeInfo, MediaError> {
        let be32 = |at: usize| {
            data.get(at..at + 4)
                .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        let mut info = ProbeInfo {
            kind: Kind::Png,
            mime: "image/png".into(),
            width: be32(16),
            height: be32(20),
            frames: 1,
            total_frame_area: u64::from(be32(16)) * u64::from(be32(20)),
            orientation: 1,
            has_exif: false,
            has_gps: false,
            has_xmp: false,
            has_icc: false,
            has_comment: false,
            has_alpha: false,
            progressive: false,
            scans: 1,
        };
        match data.as_slice() {
            b"lie:mime" => info.mime = "text/html".into(),
            b"lie:orientation" => info.orientation = 77,
            b"lie:huge-mime" => info.mime = "x".repeat(2 * 1024 * 1024),
            _ => {}
        }
        Ok(info)
    }
}

fn spin() {
    let mut x: u64 = 1;
    loop {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        if black_box(x) == 0 {
            return;
        }
    }
}

/// Follows a random cycle through `mib` MiB of indices, forever. Each step is a few
/// instructions (a few fuel) but a cache and TLB miss (a hundred nanoseconds): the slowest
/// fuel a guest can burn.
fn chase(mib: usize) {
    let n = (mib.max(1) * 1024 * 1024 / 4) as u32;
    let mut next: Vec<u32> = (0..n).collect();
    // Sattolo's shuffle: one cycle through every slot.
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in (1..n as usize).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = (seed >> 33) as usize % i;
        next.swap(i, j);
    }
    let mut at = 0u32;
    loop {
        at = next[at as usize];
        if black_box(at) == u32::MAX {
            return;
        }
    }
}

/// `rounds` iterations of the same arithmetic as `spin`: a fixed amount of guest work.
fn burn(rounds: u64) {
    let mut x: u64 = 1;
    for _ in 0..rounds {
        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
    black_box(x);
}

fn alloc() {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        // Touch every page so the growth is real, not just reserved.
        hoard.push(black_box(vec![0x5A; 16 * 1024 * 1024]));
        if black_box(hoard.len()) == usize::MAX {
            return;
        }
    }
}

// Unbounded on purpose: the host's stack cap must stop it.
#[allow(unconditional_recursion)]
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    // black_box on the returned value keeps LLVM from turning this into a loop (it would
    // otherwise accumulate the additions). Each frame is mostly on the wasm stack, with only
    // a few bytes on Rust's shadow stack in linear memory, so the host's wasm stack cap is
    // what stops it.
    black_box(recurse(black_box(depth.wrapping_add(1)))).wrapping_add(depth)
}

/// One bulk `memory.fill` (a call into wasmtime's runtime, a single instruction's fuel) per
/// round, forever.
fn fill_forever() {
    let mut buf = vec![0u8; 32 * 1024 * 1024];
    let mut b = 0u8;
    loop {
        b = b.wrapping_add(1);
        // SAFETY: writes within `buf`'s own allocation.
        unsafe { std::ptr::write_bytes(black_box(buf.as_mut_ptr()), b, buf.len()) };
        if black_box(buf[7]) == 0 && black_box(b) == 0 {
            return;
        }
    }
}

#[link(wasm_import_module = "wasi:random/random@0.2.0")]
extern "C" {
    #[link_name = "get-random-bytes"]
    fn get_random_bytes(len: i64, ret: *mut [usize; 2]);
}

/// `len` random bytes from the host, through the raw WASI import.
fn random_bytes(len: i64) -> Vec<u8> {
    let mut ret = [0usize; 2];
    // SAFETY: the canonical ABI of `get-random-bytes: func(len: u64) -> list<u8>`: the list is
    // allocated with this guest's allocator and handed back as pointer and length.
    unsafe {
        get_random_bytes(len, &mut ret);
        Vec::from_raw_parts(ret[0] as *mut u8, ret[1], ret[1])
    }
}

/// A cheap WASI call in a loop: each costs the host real time and the guest a few fuel.
fn random_forever() {
    loop {
        if black_box(random_bytes(16).len()) == usize::MAX {
            return;
        }
    }
}

// The raw WASI 0.2 imports `poll` mode needs; std wraps them only as `thread::sleep`.
#[link(wasm_import_module = "wasi:clocks/monotonic-clock@0.2.0")]
extern "C" {
    #[link_name = "subscribe-duration"]
    fn subscribe_duration(nanos: i64) -> i32;
}
#[link(wasm_import_module = "wasi:io/poll@0.2.0")]
extern "C" {
    #[link_name = "poll"]
    fn wasi_poll(handles: *const i32, len: usize, ret: *mut [usize; 2]);
}

fn poll_a_minute() {
    let mut ret = [0usize; 2];
    // SAFETY: the canonical ABI of `subscribe-duration: func(duration) -> pollable` and of
    // `poll: func(list<borrow<pollable>>) -> list<u32>` (a list is passed as pointer and
    // length; the returned list is written through the return pointer).
    unsafe {
        let timer = subscribe_duration(60_000_000_000);
        wasi_poll(&timer, 1, &mut ret);
    }
    black_box(ret);
}

// Built with `--features sockets` only: a component that imports the network, which the host
// must refuse at load (it gives guests no sockets).
#[cfg(feature = "sockets")]
#[link(wasm_import_module = "wasi:sockets/instance-network@0.2.0")]
extern "C" {
    #[link_name = "instance-network"]
    fn instance_network() -> i32;
}

#[cfg(feature = "sockets")]
fn network() -> i32 {
    // SAFETY: `instance-network: func() -> network` returns a resource handle.
    unsafe { instance_network() }
}

export!(Component);
