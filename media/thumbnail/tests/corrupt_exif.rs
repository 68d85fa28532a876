//! A JPEG whose EXIF block is corrupt is still rendered, as browsers show it: with the
//! orientation read before the fault (1 when the fault comes first), never refused for it.
//! What is really broken (the frame header) is still refused.
//!
//! Inputs are a 128x64 image of four coloured quadrants encoded here, so a wrong orientation
//! shows as the wrong size and the wrong colour in a corner.

use media_probe::{Limits, MediaError};
use media_thumbnail::{render, Fit, Format, VariantSpec};

const RED: [u8; 3] = attach_fixtures::QUADRANT_COLOURS[0];
const GREEN: [u8; 3] = attach_fixtures::QUADRANT_COLOURS[1];
const BLUE: [u8; 3] = attach_fixtures::QUADRANT_COLOURS[2];
const YELLOW: [u8; 3] = attach_fixtures::QUADRANT_COLOURS[3];

const WIDTH: u32 = 128;
const HEIGHT: u32 = 64;

/// Quadrants: top-left red, top-right green, bottom-left blue, bottom-right yellow.
fn quadrants() -> Vec<u8> {
    attach_fixtures::quadrants(WIDTH, HEIGHT).data
}

/// The quadrants as a JPEG with `tiff` in an `Exif\0\0` APP1 segment.
fn jpeg_with_exif(tiff: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, 92);
    enc.add_app_segment(1, [&b"Exif\0\0"[..], tiff].concat())
        .unwrap();
    enc.encode(
        &quadrants(),
        WIDTH as u16,
        HEIGHT as u16,
        jpeg_encoder::ColorType::Rgb,
    )
    .unwrap();
    out
}

/// A little-endian IFD entry holding one SHORT or LONG value in its value field.
fn entry(tag: u16, typ: u16, value: u32) -> Vec<u8> {
    let mut e = Vec::with_capacity(12);
    e.extend_from_slice(&tag.to_le_bytes());
    e.extend_from_slice(&typ.to_le_bytes());
    e.extend_from_slice(&1u32.to_le_bytes());
    if typ == 3 {
        e.extend_from_slice(&(value as u16).to_le_bytes());
        e.extend_from_slice(&[0, 0]);
    } else {
        e.extend_from_slice(&value.to_le_bytes());
    }
    e
}

/// A little-endian TIFF: header pointing at `ifd0_at`, then IFD0 at offset 8 with `count`
/// written as its entry count, `entries`, and no next IFD.
fn tiff(ifd0_at: u32, count: u16, entries: &[Vec<u8>]) -> Vec<u8> {
    let mut t = b"II*\0".to_vec();
    t.extend_from_slice(&ifd0_at.to_le_bytes());
    t.extend_from_slice(&count.to_le_bytes());
    for e in entries {
        t.extend_from_slice(e);
    }
    t.extend_from_slice(&0u32.to_le_bytes());
    t
}

const ORIENTATION: u16 = 0x0112;
const EXIF_IFD: u16 = 0x8769;
const SHORT: u16 = 3;
const LONG: u16 = 4;

fn orientation_6() -> Vec<u8> {
    entry(ORIENTATION, SHORT, 6)
}

/// (what, TIFF block, orientation the render must apply).
fn corrupt_blocks() -> Vec<(&'static str, Vec<u8>, u8)> {
    vec![
        (
            "IFD0 offset past the block",
            tiff(0x1000, 1, &[orientation_6()]),
            1,
        ),
        (
            "IFD0 entry count past the block",
            tiff(8, 256, &[orientation_6()]),
            1,
        ),
        ("TIFF header cut off", b"II*\0\x08\0".to_vec(), 1),
        ("no TIFF header at all", b"\xFF\xD8\xFF\xD9".to_vec(), 1),
        // IFD0 is read whole, Orientation included, before its Exif IFD pointer leads back
        // to it: the orientation stands, as browsers apply it.
        (
            "Exif IFD pointing back at IFD0",
            tiff(8, 2, &[orientation_6(), entry(EXIF_IFD, LONG, 8)]),
            6,
        ),
    ]
}

fn png_box() -> VariantSpec {
    VariantSpec {
        name: "t".to_string(),
        max_width: 64,
        max_height: 64,
        fit: Fit::Contain,
        format: Format::Png,
        quality: 85,
    }
}

/// (width, height, RGB pixels) of a rendered PNG.
fn decode_png(data: &[u8]) -> (u32, u32, Vec<u8>) {
    let dec = png::Decoder::new(std::io::Cursor::new(data));
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

/// The colours at the centre of each quadrant: TL, TR, BL, BR.
fn corners((w, h, rgb): &(u32, u32, Vec<u8>)) -> [[u8; 3]; 4] {
    let at = |x: u32, y: u32| {
        let i = ((y * w + x) * 3) as usize;
        [rgb[i], rgb[i + 1], rgb[i + 2]]
    };
    [
        at(w / 4, h / 4),
        at(3 * w / 4, h / 4),
        at(w / 4, 3 * h / 4),
        at(3 * w / 4, 3 * h / 4),
    ]
}

fn close(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(&x, y)| x.abs_diff(y) <= 40)
}

/// Renders `data` into a 64x64 box and checks the size and corners orientation `o` gives.
fn assert_rendered_with_orientation(data: &[u8], o: u8, what: &str) {
    let out = render(data, &[png_box()], &Limits::default())
        .unwrap_or_else(|e| panic!("{what}: refused with {e:?}"));
    let r = &out.variants[0];
    let (size, colours) = match o {
        1 => ((64, 32), [RED, GREEN, BLUE, YELLOW]),
        6 => ((32, 64), [BLUE, RED, YELLOW, GREEN]),
        _ => unreachable!("only orientations 1 and 6 are built here"),
    };
    assert_eq!((r.width, r.height), size, "{what}");
    let image = decode_png(&r.data);
    for (got, want) in corners(&image).into_iter().zip(colours) {
        assert!(close(got, want), "{what}: {got:?}, expected about {want:?}");
    }
}

#[test]
fn the_intact_block_rotates_so_the_corrupt_ones_are_seen_to_be_ignored() {
    let intact = jpeg_with_exif(&tiff(8, 1, &[orientation_6()]));
    assert_rendered_with_orientation(&intact, 6, "intact EXIF, orientation 6");
}

#[test]
fn jpeg_with_a_corrupt_exif_block_renders_with_the_orientation_read_before_the_fault() {
    for (what, block, orientation) in corrupt_blocks() {
        assert_rendered_with_orientation(&jpeg_with_exif(&block), orientation, what);
    }
}

#[test]
fn corrupt_exif_does_not_excuse_a_broken_frame_header() {
    for (what, block, _) in corrupt_blocks() {
        let mut data = jpeg_with_exif(&block);
        // Zero the SOF0 component count: no decoder can read this frame.
        let sof = data
            .windows(2)
            .position(|w| w == [0xFF, 0xC0])
            .expect("a baseline frame header");
        data[sof + 9] = 0;
        match render(&data, &[png_box()], &Limits::default()) {
            Err(MediaError::Malformed(_)) => {}
            other => panic!("{what}: expected malformed input, got {other:?}"),
        }
    }
}
