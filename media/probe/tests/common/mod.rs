//! Byte builders for hand-made test inputs: just enough structure for each format's headers,
//! with placeholder pixel data (the probe never decodes it).
#![allow(dead_code)]

use media_probe::{Limits, MediaError, ProbeInfo};

pub fn probe(data: &[u8]) -> Result<ProbeInfo, MediaError> {
    media_probe::probe(data, &Limits::default())
}

pub fn be16(v: u16) -> [u8; 2] {
    v.to_be_bytes()
}

// ---- TIFF / EXIF ----

/// An IFD entry's value: a number, or the offset of another IFD by index.
#[derive(Clone, Copy)]
pub enum V {
    N(u32),
    Ifd(usize),
}

pub struct Ifd {
    /// (tag, type, count, value)
    pub entries: Vec<(u16, u16, u32, V)>,
    pub next: V,
}

/// A TIFF structure with `ifds` laid out one after another from offset 8.
pub fn tiff(big_endian: bool, ifds: &[Ifd]) -> Vec<u8> {
    let mut offsets = Vec::new();
    let mut at = 8u32;
    for ifd in ifds {
        offsets.push(at);
        at += 2 + 12 * ifd.entries.len() as u32 + 4;
    }
    let resolve = |v: V| match v {
        V::N(n) => n,
        V::Ifd(k) => offsets[k],
    };
    let u16b = |v: u16| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let u32b = |v: u32| {
        if big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let mut out = if big_endian {
        b"MM\0*".to_vec()
    } else {
        b"II*\0".to_vec()
    };
    out.extend(u32b(8));
    for ifd in ifds {
        out.extend(u16b(ifd.entries.len() as u16));
        for &(tag, typ, count, value) in &ifd.entries {
            out.extend(u16b(tag));
            out.extend(u16b(typ));
            out.extend(u32b(count));
            let value = resolve(value);
            if typ == 3 && count == 1 {
                // A lone SHORT sits in the first two bytes of the value field.
                out.extend(u16b(value as u16));
                out.extend([0, 0]);
            } else {
                out.extend(u32b(value));
            }
        }
        out.extend(u32b(resolve(ifd.next)));
    }
    out
}

pub const SHORT: u16 = 3;
pub const LONG: u16 = 4;

/// An EXIF block with an orientation tag and, optionally, a GPS IFD with one entry.
pub fn exif(orientation: u16, gps: bool) -> Vec<u8> {
    let mut ifd0 = vec![(0x0112, SHORT, 1, V::N(orientation.into()))];
    let mut ifds = Vec::new();
    if gps {
        ifd0.push((0x8825, LONG, 1, V::Ifd(1)));
    }
    ifds.push(Ifd {
        entries: ifd0,
        next: V::N(0),
    });
    if gps {
        ifds.push(Ifd {
            entries: vec![(0x0000, 1, 4, V::N(0x0000_0202))],
            next: V::N(0),
        });
    }
    tiff(false, &ifds)
}

// ---- JPEG ----

pub fn segment(code: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0xFF, code];
    out.extend(be16(body.len() as u16 + 2));
    out.extend(body);
    out
}

/// A frame header with three components.
pub fn sof(code: u8, width: u16, height: u16) -> Vec<u8> {
    let mut body = vec![8];
    body.extend(be16(height));
    body.extend(be16(width));
    body.extend([3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1]);
    segment(code, &body)
}

/// A scan header followed by entropy-coded bytes with a stuffed 0xFF and a restart marker.
pub fn sos() -> Vec<u8> {
    let mut out = segment(0xDA, &[1, 1, 0, 0, 63, 0]);
    out.extend([0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56]);
    out
}

pub fn app1_exif(tiff: &[u8]) -> Vec<u8> {
    let mut body = b"Exif\0\0".to_vec();
    body.extend(tiff);
    segment(0xE1, &body)
}

pub fn jpeg(parts: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![0xFF, 0xD8];
    for p in parts {
        out.extend(p);
    }
    out.extend([0xFF, 0xD9]);
    out
}

/// A small baseline JPEG: EXIF (orientation 6, GPS), a table, a frame, one scan.
pub fn small_jpeg() -> Vec<u8> {
    jpeg(&[
        app1_exif(&exif(6, true)),
        segment(0xDB, &[0; 65]),
        sof(0xC0, 640, 480),
        segment(0xC4, &[0; 20]),
        sos(),
    ])
}

// ---- PNG ----

pub fn chunk(ty: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend(ty);
    out.extend(body);
    out.extend(crc32(ty, body).to_be_bytes());
    out
}

fn crc32(ty: &[u8], body: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in ty.iter().chain(body) {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

pub fn ihdr(width: u32, height: u32, depth: u8, colour: u8) -> Vec<u8> {
    let mut body = width.to_be_bytes().to_vec();
    body.extend(height.to_be_bytes());
    body.extend([depth, colour, 0, 0, 0]);
    chunk(b"IHDR", &body)
}

pub fn png(chunks: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1A\n".to_vec();
    for c in chunks {
        out.extend(c);
    }
    out
}

pub fn idat() -> Vec<u8> {
    chunk(
        b"IDAT",
        &[0x78, 0x9C, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
    )
}

pub fn iend() -> Vec<u8> {
    chunk(b"IEND", &[])
}

pub fn small_png() -> Vec<u8> {
    png(&[
        ihdr(32, 16, 8, 2),
        chunk(b"tEXt", b"Comment\0hi"),
        idat(),
        iend(),
    ])
}

pub fn fctl(seq: u32, width: u32, height: u32) -> Vec<u8> {
    let mut body = seq.to_be_bytes().to_vec();
    body.extend(width.to_be_bytes());
    body.extend(height.to_be_bytes());
    body.extend([0; 8]); // x, y offsets
    body.extend([0, 1, 0, 10, 0, 0]); // delay 1/10, dispose, blend
    chunk(b"fcTL", &body)
}

pub fn actl(frames: u32) -> Vec<u8> {
    let mut body = frames.to_be_bytes().to_vec();
    body.extend(0u32.to_be_bytes());
    chunk(b"acTL", &body)
}

// ---- GIF ----

/// A GIF89a with a two-colour global table and one image block per `frames` entry, each
/// preceded by a graphic control extension (transparent if asked).
pub fn gif(width: u16, height: u16, frames: &[(u16, u16)], transparent: bool) -> Vec<u8> {
    let mut out = b"GIF89a".to_vec();
    out.extend(width.to_le_bytes());
    out.extend(height.to_le_bytes());
    out.extend([0x80, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF]);
    for &(w, h) in frames {
        out.extend([0x21, 0xF9, 4, u8::from(transparent), 10, 0, 0, 0]);
        out.push(0x2C);
        out.extend([0, 0, 0, 0]);
        out.extend(w.to_le_bytes());
        out.extend(h.to_le_bytes());
        out.push(0);
        out.extend([2, 2, 0x44, 0x01, 0]);
    }
    out.push(0x3B);
    out
}

/// A GIF with a comment extension, a looping application extension and two frames.
pub fn small_gif() -> Vec<u8> {
    let mut g = gif(20, 10, &[(20, 10), (5, 4)], true);
    let trailer = g.pop().unwrap();
    g.extend([0x21, 0xFE, 3, b'a', b'b', b'c', 0]);
    g.extend([0x21, 0xFF, 11]);
    g.extend(b"NETSCAPE2.0");
    g.extend([3, 1, 0, 0, 0]);
    g.push(trailer);
    g
}

// ---- WebP ----

pub fn riff_chunk(fourcc: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = fourcc.to_vec();
    out.extend((body.len() as u32).to_le_bytes());
    out.extend(body);
    if body.len() % 2 == 1 {
        out.push(0);
    }
    out
}

pub fn webp(chunks: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = chunks.concat();
    let mut out = b"RIFF".to_vec();
    out.extend((body.len() as u32 + 4).to_le_bytes());
    out.extend(b"WEBP");
    out.extend(body);
    out
}

pub fn vp8(width: u16, height: u16) -> Vec<u8> {
    let mut body = vec![0x50, 0x02, 0x00, 0x9D, 0x01, 0x2A];
    body.extend(width.to_le_bytes());
    body.extend(height.to_le_bytes());
    body.extend([0; 8]);
    riff_chunk(b"VP8 ", &body)
}

pub fn vp8l(width: u32, height: u32, alpha: bool) -> Vec<u8> {
    let bits = (width - 1) | ((height - 1) << 14) | (u32::from(alpha) << 28);
    let mut body = vec![0x2F];
    body.extend(bits.to_le_bytes());
    body.extend([0; 4]);
    riff_chunk(b"VP8L", &body)
}

pub fn vp8x(flags: u8, width: u32, height: u32) -> Vec<u8> {
    let mut body = vec![flags, 0, 0, 0];
    body.extend(&(width - 1).to_le_bytes()[..3]);
    body.extend(&(height - 1).to_le_bytes()[..3]);
    riff_chunk(b"VP8X", &body)
}

pub fn anmf(width: u32, height: u32) -> Vec<u8> {
    let mut body = vec![0; 6];
    body.extend(&(width - 1).to_le_bytes()[..3]);
    body.extend(&(height - 1).to_le_bytes()[..3]);
    body.extend([100, 0, 0, 0]);
    body.extend(vp8l(width, height, false));
    riff_chunk(b"ANMF", &body)
}

// ---- TIFF files, BMP, ICO ----

/// A TIFF file whose pages have the given sizes; page 0 also has an orientation.
pub fn tiff_file(big_endian: bool, pages: &[(u32, u32)], orientation: u16) -> Vec<u8> {
    let ifds: Vec<Ifd> = pages
        .iter()
        .enumerate()
        .map(|(i, &(w, h))| {
            let mut entries = vec![(0x0100, LONG, 1, V::N(w)), (0x0101, LONG, 1, V::N(h))];
            if i == 0 {
                entries.push((0x0112, SHORT, 1, V::N(orientation.into())));
            }
            let next = if i + 1 < pages.len() {
                V::Ifd(i + 1)
            } else {
                V::N(0)
            };
            Ifd { entries, next }
        })
        .collect();
    tiff(big_endian, &ifds)
}

pub fn bmp(width: i32, height: i32, bits: u16) -> Vec<u8> {
    let mut out = b"BM".to_vec();
    out.extend(70u32.to_le_bytes());
    out.extend([0; 4]);
    out.extend(54u32.to_le_bytes());
    out.extend(40u32.to_le_bytes());
    out.extend(width.to_le_bytes());
    out.extend(height.to_le_bytes());
    out.extend(1u16.to_le_bytes());
    out.extend(bits.to_le_bytes());
    out.extend([0; 24]);
    out.extend([0; 16]);
    out
}

pub fn ico(sizes: &[(u8, u8)]) -> Vec<u8> {
    let mut out = vec![0, 0, 1, 0];
    out.extend((sizes.len() as u16).to_le_bytes());
    for &(w, h) in sizes {
        out.extend([w, h, 0, 0, 1, 0, 32, 0]);
        out.extend(40u32.to_le_bytes());
        out.extend(22u32.to_le_bytes());
    }
    out
}

// ---- containers and text ----

pub fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
    let mut out = ((16 + 4 * compatible.len()) as u32).to_be_bytes().to_vec();
    out.extend(b"ftyp");
    out.extend(major);
    out.extend([0, 0, 0, 0]);
    for b in compatible {
        out.extend(*b);
    }
    out.extend([0, 0, 0, 8]);
    out.extend(b"free");
    out
}

pub fn ebml(doc_type: &[u8]) -> Vec<u8> {
    let mut children = vec![0x42, 0x86, 0x81, 0x01];
    children.extend([0x42, 0x82, 0x80 | doc_type.len() as u8]);
    children.extend(doc_type);
    let mut out = vec![0x1A, 0x45, 0xDF, 0xA3, 0x80 | children.len() as u8];
    out.extend(children);
    out.extend([
        0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    ]);
    out
}

pub fn pe() -> Vec<u8> {
    let mut out = vec![0; 0x100];
    out[..2].copy_from_slice(b"MZ");
    out[0x3C..0x40].copy_from_slice(&0x80u32.to_le_bytes());
    out[0x80..0x84].copy_from_slice(b"PE\0\0");
    out
}
