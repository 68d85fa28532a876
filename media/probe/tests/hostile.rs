//! Hostile inputs: claims over the limits are refused early, looping or oversized structures
//! are bounded, and no input makes the probe panic.

mod common;

use std::time::{Duration, Instant};

use attach_fixtures::{
    jpeg as fx_encode_jpeg, jpeg_exif_huge_count, jpeg_exif_ifd_loop, jpeg_exif_unreadable, mutate,
    photo, with_exif_gps, with_exif_orientation, ExifFault, Rng, INTERESTING,
};
use common::*;
use media_probe::{exif, image_end, probe, sniff, Limit, Limits, MediaError, MAX_JPEG_SCANS};

fn limit_hit(result: Result<media_probe::ProbeInfo, MediaError>) -> (Limit, u64, u64) {
    match result {
        Err(MediaError::LimitExceeded { limit, actual, max }) => (limit, actual, max),
        other => panic!("expected a limit error, got {other:?}"),
    }
}

fn ok_or_err(data: &[u8]) {
    let _ = probe(data, &Limits::default());
    let _ = image_end(data);
}

// ---- limits ----

#[test]
fn gif_with_20000_frames_on_a_100_megapixel_canvas_is_refused_on_pixels() {
    let data = gif(10_000, 10_000, &vec![(1, 1); 20_000], false);
    let hit = limit_hit(common::probe(&data));
    assert_eq!(
        hit,
        (Limit::Pixels, 100_000_000, Limits::DEFAULT_MAX_PIXELS)
    );
}

#[test]
fn gif_with_20000_frames_is_rejected_before_walking_them_all() {
    let data = gif(500, 500, &vec![(1, 1); 20_000], false);
    let started = Instant::now();
    let hit = limit_hit(common::probe(&data));
    // Refused at the first frame over the limit, not after counting all 20,000.
    assert_eq!(hit, (Limit::Frames, 1_001, 1_000));
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn gif_whose_frames_add_up_past_the_area_limit_is_refused_on_frame_area() {
    let data = gif(5_000, 5_000, &[(5_000, 5_000); 20], false);
    let (limit, actual, max) = limit_hit(common::probe(&data));
    assert_eq!(limit, Limit::FrameArea);
    assert_eq!(actual, 9 * 25_000_000);
    assert_eq!(max, Limits::DEFAULT_MAX_TOTAL_FRAME_AREA);
}

#[test]
fn png_declaring_30000_by_30000_is_refused_on_pixels() {
    let data = png(&[ihdr(30_000, 30_000, 8, 6), idat(), iend()]);
    assert_eq!(
        limit_hit(common::probe(&data)),
        (Limit::Pixels, 900_000_000, 50_000_000)
    );
}

#[test]
fn png_declaring_the_largest_legal_size_is_refused_without_overflow() {
    let side = i32::MAX as u32;
    let data = png(&[ihdr(side, side, 8, 2), iend()]);
    let (limit, actual, _) = limit_hit(common::probe(&data));
    assert_eq!(limit, Limit::Pixels);
    assert_eq!(actual, u64::from(side) * u64::from(side));
}

#[test]
fn apng_declaring_more_frames_than_allowed_is_refused_at_actl() {
    let data = png(&[
        ihdr(10, 10, 8, 6),
        actl(50_000),
        fctl(0, 10, 10),
        idat(),
        iend(),
    ]);
    assert_eq!(
        limit_hit(common::probe(&data)),
        (Limit::Frames, 50_000, 1_000)
    );
}

#[test]
fn apng_frames_larger_than_claimed_are_refused_on_frame_area() {
    let huge = i32::MAX as u32;
    let data = png(&[
        ihdr(10, 10, 8, 6),
        actl(2),
        fctl(0, huge, huge),
        idat(),
        iend(),
    ]);
    assert_eq!(limit_hit(common::probe(&data)).0, Limit::FrameArea);
}

#[test]
fn jpeg_frame_of_65500_by_65500_is_refused_on_pixels() {
    let data = jpeg(&[sof(0xC0, 65_500, 65_500), sos()]);
    assert_eq!(
        limit_hit(common::probe(&data)),
        (Limit::Pixels, 65_500 * 65_500, 50_000_000)
    );
}

#[test]
fn progressive_jpeg_with_300_scans_is_refused_as_too_complex() {
    let mut parts = vec![sof(0xC2, 64, 64)];
    parts.extend((0..300).map(|_| sos()));
    let hit = limit_hit(common::probe(&jpeg(&parts)));
    assert_eq!(
        hit,
        (
            Limit::Structure,
            u64::from(MAX_JPEG_SCANS) + 1,
            MAX_JPEG_SCANS.into()
        )
    );
}

#[test]
fn webp_canvas_and_animation_limits_are_checked() {
    let big = webp(&[vp8x(0, 16_777_216, 16_777_216)]);
    assert_eq!(limit_hit(common::probe(&big)).1, 1 << 48);
    let mut chunks = vec![vp8x(0x02, 100, 100), riff_chunk(b"ANIM", &[0; 6])];
    chunks.extend((0..2_000).map(|_| anmf(1, 1)));
    assert_eq!(
        limit_hit(common::probe(&webp(&chunks))),
        (Limit::Frames, 1_001, 1_000)
    );
}

#[test]
fn tiff_with_more_pages_than_allowed_is_refused_on_frames() {
    let data = tiff_file(false, &vec![(1, 1); 1_200], 1);
    assert_eq!(
        limit_hit(common::probe(&data)),
        (Limit::Frames, 1_001, 1_000)
    );
}

#[test]
fn caller_limits_are_the_ones_applied() {
    let tight = Limits {
        max_pixels: 100,
        max_frames: 1,
        ..Limits::default()
    };
    let hit = limit_hit(probe(&small_png(), &tight));
    assert_eq!(hit, (Limit::Pixels, 512, 100));
    let hit = limit_hit(probe(
        &small_gif(),
        &Limits {
            max_frames: 1,
            ..Limits::default()
        },
    ));
    assert_eq!(hit, (Limit::Frames, 2, 1));
}

// ---- looping and oversized structures ----

#[test]
fn tiff_whose_ifd_points_to_itself_is_malformed() {
    let data = tiff(
        false,
        &[Ifd {
            entries: vec![(0x0100, LONG, 1, V::N(4)), (0x0101, LONG, 1, V::N(4))],
            next: V::Ifd(0),
        }],
    );
    assert_eq!(
        common::probe(&data),
        Err(MediaError::malformed("tiff ifd loop"))
    );
}

#[test]
fn tiff_page_chain_that_loops_back_is_malformed() {
    let mut data = tiff_file(false, &[(4, 4), (4, 4), (4, 4)], 1);
    // Point the last page's next-IFD field back at the second page.
    let second = 8 + 2 + 3 * 12 + 4;
    let last_next = data.len() - 4;
    data[last_next..].copy_from_slice(&(second as u32).to_le_bytes());
    assert_eq!(
        common::probe(&data),
        Err(MediaError::malformed("tiff ifd loop"))
    );
}

fn looping_exif() -> Vec<u8> {
    // IFD0 -> Exif IFD -> (Exif IFD pointer back to) IFD0.
    tiff(
        false,
        &[
            Ifd {
                entries: vec![(0x0112, SHORT, 1, V::N(6)), (0x8769, LONG, 1, V::Ifd(1))],
                next: V::N(0),
            },
            Ifd {
                entries: vec![(0x8769, LONG, 1, V::Ifd(0))],
                next: V::N(0),
            },
        ],
    )
}

#[test]
fn exif_ifd_loop_is_malformed_when_parsed_strictly() {
    assert_eq!(
        exif::parse(&looping_exif()),
        Err(MediaError::malformed("exif ifd loop"))
    );
    let self_loop = tiff(
        false,
        &[Ifd {
            entries: vec![(0x8769, LONG, 1, V::Ifd(0))],
            next: V::N(0),
        }],
    );
    assert_eq!(
        exif::parse(&self_loop),
        Err(MediaError::malformed("exif ifd loop"))
    );
}

#[test]
fn jpeg_with_looping_exif_still_probes_and_keeps_what_was_read() {
    let data = jpeg(&[app1_exif(&looping_exif()), sof(0xC0, 8, 8), sos()]);
    let info = common::probe(&data).unwrap();
    assert!(info.has_exif);
    assert_eq!(info.orientation, 6);
}

#[test]
fn exif_entry_with_count_0xffffffff_is_skipped_without_allocating() {
    let block = tiff(
        false,
        &[Ifd {
            entries: vec![
                (0x010E, 2, u32::MAX, V::N(8)),
                (0x0112, 12, u32::MAX, V::N(8)),
                (0x0112, SHORT, 1, V::N(3)),
            ],
            next: V::N(0),
        }],
    );
    assert_eq!(exif::parse(&block).unwrap().orientation, 3);
    let data = jpeg(&[app1_exif(&block), sof(0xC0, 8, 8), sos()]);
    let info = common::probe(&data).unwrap();
    assert!(info.has_exif);
    assert_eq!(info.orientation, 3);
}

#[test]
fn exif_with_more_entries_than_the_budget_is_too_complex() {
    let entries = vec![(0x9999, SHORT, 1, V::N(0)); 2_000];
    let block = tiff(
        false,
        &[Ifd {
            entries,
            next: V::N(0),
        }],
    );
    assert!(matches!(
        exif::parse(&block),
        Err(MediaError::LimitExceeded {
            limit: Limit::Structure,
            ..
        })
    ));
    let data = jpeg(&[
        segment(
            0xE1,
            &[&b"Exif\0\0"[..], &block[..block.len().min(60_000)]].concat(),
        ),
        sof(0xC0, 8, 8),
        sos(),
    ]);
    assert!(common::probe(&data).unwrap().has_exif);
}

#[test]
fn exif_with_gps_ifd_out_of_bounds_reports_no_gps() {
    let block = tiff(
        false,
        &[Ifd {
            entries: vec![(0x8825, LONG, 1, V::N(0xFFFF_FFF0))],
            next: V::N(0),
        }],
    );
    assert!(!exif::parse_lenient(&block).has_gps);
    assert!(exif::parse(&block).is_err());
}

#[test]
fn garbage_exif_blocks_parse_leniently_to_defaults() {
    for block in [
        &b""[..],
        b"II",
        b"XX*\0\x08\0\0\0",
        b"MM\0*\xFF\xFF\xFF\xFF",
        b"II*\0\x08\0\0\0\xFF\xFF",
    ] {
        assert_eq!(exif::parse_lenient(block), exif::Exif::default());
        assert!(exif::parse(block).is_err());
    }
}

// ---- unreadable EXIF inside an image ----

/// What a probe keeps from a block `fault` breaks: IFD0 (with its Orientation 6) is read whole
/// only when the fault is met after it, in the sub-IFD loop.
/// A real 64x48 JPEG, no metadata.
fn fx_jpeg() -> Vec<u8> {
    fx_encode_jpeg(&photo(64, 48, 7), 80)
}

fn orientation_kept(fault: ExifFault) -> u8 {
    match fault {
        ExifFault::SubIfdLoop => 6,
        ExifFault::Ifd0OutOfBounds | ExifFault::EntryCountOverrun | ExifFault::TruncatedHeader => 1,
    }
}

#[test]
fn jpeg_with_an_unreadable_exif_block_probes_and_says_it_was_unreadable() {
    for fault in ExifFault::ALL {
        let info = common::probe(&jpeg_exif_unreadable(fault))
            .unwrap_or_else(|e| panic!("{fault:?}: {e:?}"));
        assert_eq!((info.width, info.height), (64, 48), "{fault:?}");
        assert!(info.has_exif, "{fault:?}");
        assert!(info.exif_unreadable, "{fault:?}");
        assert_eq!(info.orientation, orientation_kept(fault), "{fault:?}");
        assert!(!info.has_gps, "{fault:?}");
    }
}

#[test]
fn jpeg_with_a_readable_exif_block_or_none_is_not_marked_unreadable() {
    for (what, data) in [
        ("orientation 6", with_exif_orientation(&fx_jpeg(), 6)),
        ("gps", with_exif_gps(&fx_jpeg())),
        ("no exif", fx_jpeg()),
        // A value that does not fit is skipped, as decoders skip it; the IFDs are readable.
        ("entry count past the block", jpeg_exif_huge_count()),
        // IFD1 (the thumbnail IFD) is not walked, so a loop through it is never met.
        ("ifd1 loop", jpeg_exif_ifd_loop()),
    ] {
        let info = common::probe(&data).unwrap();
        assert!(!info.exif_unreadable, "{what}");
    }
}

#[test]
fn only_the_first_jpeg_exif_block_decides_like_its_orientation() {
    let broken = app1_exif(b"II*\0\xFF\0\0\0");
    let good = app1_exif(&exif(3, false));
    let info = common::probe(&jpeg(&[
        good.clone(),
        broken.clone(),
        sof(0xC0, 8, 8),
        sos(),
    ]))
    .unwrap();
    assert_eq!((info.orientation, info.exif_unreadable), (3, false));
    let info = common::probe(&jpeg(&[broken, good, sof(0xC0, 8, 8), sos()])).unwrap();
    assert_eq!((info.orientation, info.exif_unreadable), (1, true));
}

#[test]
fn png_and_webp_with_an_unreadable_exif_chunk_probe_with_orientation_1() {
    // IFD0 offset past the block, and a block that ends inside the header.
    for block in [&b"II*\0\0\x10\0\0\x06\x00"[..], b"MM\0*\0"] {
        let png_data = png(&[ihdr(10, 10, 8, 2), chunk(b"eXIf", block), idat(), iend()]);
        let webp_data = webp(&[vp8x(0x08, 9, 9), vp8(9, 9), riff_chunk(b"EXIF", block)]);
        for data in [png_data, webp_data] {
            let info = common::probe(&data).unwrap();
            assert!(info.has_exif && info.exif_unreadable, "{:?}", info.kind);
            assert_eq!(info.orientation, 1, "{:?}", info.kind);
        }
    }
    let png_data = png(&[
        ihdr(10, 10, 8, 2),
        chunk(b"eXIf", &exif(5, false)),
        idat(),
        iend(),
    ]);
    let info = common::probe(&png_data).unwrap();
    assert_eq!((info.orientation, info.exif_unreadable), (5, false));
}

#[test]
fn tiff_file_with_the_same_faults_is_still_malformed() {
    // In a TIFF file the IFDs are the image: what a JPEG survives, a TIFF does not.
    for data in [
        &b"II*\0\0\x10\0\0\x06\x00"[..],
        b"II*\0\x08\0",
        b"II*\0\x08\0\0\0\xFF\x00",
    ] {
        assert!(
            matches!(common::probe(data), Err(MediaError::Malformed(_))),
            "{data:?}: {:?}",
            common::probe(data)
        );
    }
}

#[test]
fn parse_partial_is_parse_lenient_with_the_fault_parse_reports() {
    let mut blocks = vec![
        exif(6, true),
        looping_exif(),
        b"II*\0\x08\0".to_vec(),
        b"II*\0\0\x10\0\0".to_vec(),
        Vec::new(),
    ];
    blocks.extend(ExifFault::ALL.map(|f| {
        let data = jpeg_exif_unreadable(f);
        let at = data.windows(6).position(|w| w == b"Exif\0\0").unwrap() + 6;
        let len = usize::from(u16::from_be_bytes([data[at - 8], data[at - 7]])) - 8;
        data[at..at + len].to_vec()
    }));
    for block in &blocks {
        let (read, fault) = exif::parse_partial(block);
        assert_eq!(read, exif::parse_lenient(block));
        assert_eq!(fault, exif::parse(block).err());
    }
}

// ---- truncation and mutation ----

fn samples() -> Vec<Vec<u8>> {
    let mut progressive = vec![app1_exif(&exif(8, true)), sof(0xC2, 33, 17)];
    progressive.extend((0..4).map(|_| sos()));
    vec![
        small_jpeg(),
        jpeg(&progressive),
        small_png(),
        png(&[
            ihdr(10, 10, 8, 6),
            actl(2),
            fctl(0, 10, 10),
            chunk(b"eXIf", &exif(2, true)),
            idat(),
            fctl(1, 5, 5),
            chunk(b"fdAT", &[0, 0, 0, 2, 9]),
            iend(),
        ]),
        small_gif(),
        webp(&[
            vp8x(0x3E, 64, 64),
            riff_chunk(b"ANIM", &[0; 6]),
            anmf(64, 64),
            anmf(8, 8),
        ]),
        webp(&[
            vp8x(0x08, 9, 9),
            vp8(9, 9),
            riff_chunk(b"EXIF", &exif(4, true)),
        ]),
        webp(&[vp8l(5, 5, true)]),
        tiff_file(false, &[(9, 9), (3, 3)], 5),
        tiff_file(true, &[(9, 9)], 2),
        bmp(4, -4, 32),
        ico(&[(16, 16), (32, 32)]),
        ebml(b"webm"),
        ftyp(b"mif1", &[b"heic"]),
        b"<?xml version='1.0'?><!DOCTYPE svg [<!ENTITY a 'b'>]><!-- c --><svg/>".to_vec(),
    ]
}

#[test]
fn every_prefix_of_a_valid_file_probes_without_panicking() {
    for sample in samples() {
        for len in 0..=sample.len() {
            ok_or_err(&sample[..len]);
        }
    }
}

#[test]
fn truncated_jpeg_png_and_gif_headers_are_malformed_not_ok() {
    for sample in [small_jpeg(), small_png(), small_gif()] {
        let kind = sniff(&sample);
        for len in 0..20 {
            if let Ok(info) = common::probe(&sample[..len]) {
                assert_ne!(info.kind, kind, "{} prefix {len} probed Ok", kind.name());
            }
        }
    }
}

#[test]
fn mutated_inputs_never_panic() {
    // PROBE_FUZZ_ROUNDS raises the rounds per sample for a longer local run.
    let rounds = std::env::var("PROBE_FUZZ_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok());
    let seed = std::env::var("PROBE_FUZZ_SEED")
        .ok()
        .and_then(|r| r.parse().ok());
    let mut rng = Rng::new(seed.unwrap_or(0x9E37_79B9_7F4A_7C15));
    let limits = Limits::default();
    for sample in samples() {
        for _ in 0..rounds.unwrap_or(400) {
            let data = mutate(&mut rng, &sample);
            let _ = probe(&data, &limits);
            let _ = image_end(&data);
            let _ = sniff(&data);
        }
    }
}

#[test]
fn random_bytes_behind_every_magic_never_panic() {
    let mut rng = Rng::new(42);
    let magics: [&[u8]; 8] = [
        b"\xFF\xD8\xFF",
        b"\x89PNG\r\n\x1A\n",
        b"GIF89a",
        b"RIFF\xFF\xFF\xFF\xFFWEBP",
        b"II*\0",
        b"MM\0*",
        b"BM",
        b"\0\0\x01\0",
    ];
    for magic in magics {
        for _ in 0..300 {
            let mut data = magic.to_vec();
            let len = rng.below(200);
            data.extend(
                (0..len).map(|_| INTERESTING[rng.below(8)] ^ (rng.next_u64() as u8 & 0x0F)),
            );
            ok_or_err(&data);
        }
    }
}
