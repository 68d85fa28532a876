//! What the probe reads from each format's headers.

mod common;

use common::*;
use media_probe::{exif, image_end, Kind};

// ---- JPEG ----

#[test]
fn baseline_jpeg_reports_size_exif_gps_and_one_scan() {
    let info = probe(&small_jpeg()).unwrap();
    assert_eq!(info.kind, Kind::Jpeg);
    assert_eq!(info.mime, "image/jpeg");
    assert_eq!((info.width, info.height), (640, 480));
    assert_eq!((info.frames, info.total_frame_area), (1, 640 * 480));
    assert_eq!(info.orientation, 6);
    assert!(info.has_exif && info.has_gps);
    assert!(!info.progressive && !info.has_alpha);
    assert_eq!(info.scans, 1);
}

#[test]
fn jpeg_exif_orientation_reads_all_eight_values() {
    for o in 1..=8 {
        let data = jpeg(&[app1_exif(&exif(o, false)), sof(0xC0, 8, 8), sos()]);
        assert_eq!(
            probe(&data).unwrap().orientation,
            o as u8,
            "orientation {o}"
        );
    }
}

#[test]
fn jpeg_exif_orientation_out_of_range_or_wrong_type_reads_as_1() {
    for o in [0, 9, 0xFFFF] {
        let data = jpeg(&[app1_exif(&exif(o, false)), sof(0xC0, 8, 8), sos()]);
        assert_eq!(probe(&data).unwrap().orientation, 1, "orientation {o}");
    }
    let long = tiff(
        false,
        &[Ifd {
            entries: vec![(0x0112, LONG, 1, V::N(6))],
            next: V::N(0),
        }],
    );
    let data = jpeg(&[app1_exif(&long), sof(0xC0, 8, 8), sos()]);
    assert_eq!(probe(&data).unwrap().orientation, 1);
}

#[test]
fn big_endian_exif_is_read_too() {
    let tiff = tiff(
        true,
        &[Ifd {
            entries: vec![(0x0112, SHORT, 1, V::N(8))],
            next: V::N(0),
        }],
    );
    let data = jpeg(&[app1_exif(&tiff), sof(0xC0, 8, 8), sos()]);
    assert_eq!(probe(&data).unwrap().orientation, 8);
}

#[test]
fn gps_is_reported_only_when_the_gps_ifd_has_entries() {
    let without = jpeg(&[app1_exif(&exif(1, false)), sof(0xC0, 8, 8), sos()]);
    let info = probe(&without).unwrap();
    assert!(info.has_exif && !info.has_gps);

    let with = jpeg(&[app1_exif(&exif(1, true)), sof(0xC0, 8, 8), sos()]);
    assert!(probe(&with).unwrap().has_gps);

    let empty_gps = tiff(
        false,
        &[
            Ifd {
                entries: vec![(0x8825, LONG, 1, V::Ifd(1))],
                next: V::N(0),
            },
            Ifd {
                entries: vec![],
                next: V::N(0),
            },
        ],
    );
    let data = jpeg(&[app1_exif(&empty_gps), sof(0xC0, 8, 8), sos()]);
    assert!(!probe(&data).unwrap().has_gps);
}

#[test]
fn gps_pointer_inside_the_exif_ifd_counts() {
    let block = tiff(
        false,
        &[
            Ifd {
                entries: vec![(0x8769, LONG, 1, V::Ifd(1))],
                next: V::N(0),
            },
            Ifd {
                entries: vec![(0x8825, LONG, 1, V::Ifd(2))],
                next: V::N(0),
            },
            Ifd {
                entries: vec![(0x0002, 5, 3, V::N(0))],
                next: V::N(0),
            },
        ],
    );
    assert!(exif::parse(&block).unwrap().has_gps);
}

#[test]
fn jpeg_without_exif_has_orientation_1_and_no_metadata() {
    let info = probe(&jpeg(&[sof(0xC0, 8, 8), sos()])).unwrap();
    assert_eq!(info.orientation, 1);
    assert!(!info.has_exif && !info.has_gps && !info.has_xmp && !info.has_icc);
    assert!(!info.has_comment);
}

#[test]
fn jpeg_xmp_icc_and_comment_segments_set_their_flags() {
    let mut xmp = b"http://ns.adobe.com/xap/1.0/\0".to_vec();
    xmp.extend(b"<x:xmpmeta/>");
    let mut icc = b"ICC_PROFILE\0".to_vec();
    icc.extend([1, 1, 0, 0]);
    let data = jpeg(&[
        segment(0xE1, &xmp),
        segment(0xE2, &icc),
        segment(0xFE, b"made with love"),
        sof(0xC0, 8, 8),
        sos(),
    ]);
    let info = probe(&data).unwrap();
    assert!(info.has_xmp && info.has_icc && info.has_comment);
    assert!(!info.has_exif);
}

#[test]
fn progressive_jpeg_is_flagged_and_its_scans_counted() {
    let mut parts = vec![sof(0xC2, 100, 50)];
    parts.extend((0..10).map(|_| sos()));
    let info = probe(&jpeg(&parts)).unwrap();
    assert!(info.progressive);
    assert_eq!(info.scans, 10);
    assert_eq!((info.width, info.height), (100, 50));
}

#[test]
fn jpeg_fill_bytes_and_stray_bytes_between_segments_are_skipped() {
    let mut data = vec![0xFF, 0xD8, 0xFF, 0xFF, 0xFF];
    data.extend(&segment(0xFE, b"x")[1..]);
    data.extend([0x00, 0x00]);
    data.extend(sof(0xC1, 3, 2));
    data.extend(sos());
    data.extend([0xFF, 0xFF, 0xD9]);
    let info = probe(&data).unwrap();
    assert_eq!((info.width, info.height), (3, 2));
    assert!(info.has_comment);
    assert_eq!(image_end(&data), Some(data.len()));
}

#[test]
fn dht_dac_and_jpg_markers_are_not_frame_headers() {
    let data = jpeg(&[
        segment(0xC4, &[0; 20]),
        segment(0xCC, &[0; 4]),
        sof(0xC0, 9, 7),
        sos(),
    ]);
    let info = probe(&data).unwrap();
    assert_eq!((info.width, info.height), (9, 7));
}

#[test]
fn jpeg_without_frame_header_is_malformed() {
    let err = probe(&jpeg(&[segment(0xDB, &[0; 65])])).unwrap_err();
    assert_eq!(err.code(), "malformed-input");
}

#[test]
fn jpeg_with_height_deferred_to_dnl_is_malformed() {
    let err = probe(&jpeg(&[sof(0xC0, 8, 0), sos()])).unwrap_err();
    assert_eq!(err.code(), "malformed-input");
}

#[test]
fn image_end_points_past_eoi_so_appended_data_is_visible() {
    let image = small_jpeg();
    let mut data = image.clone();
    data.extend(b"PK\x03\x04 appended archive");
    assert_eq!(image_end(&data), Some(image.len()));
    assert!(probe(&data).is_ok());
}

// ---- PNG ----

#[test]
fn png_reports_size_and_text_chunk_as_comment() {
    let info = probe(&small_png()).unwrap();
    assert_eq!(info.kind, Kind::Png);
    assert_eq!((info.width, info.height, info.frames), (32, 16, 1));
    assert_eq!(info.total_frame_area, 32 * 16);
    assert!(info.has_comment && !info.has_alpha);
    assert_eq!(image_end(&small_png()), Some(small_png().len()));
}

#[test]
fn png_16_bit_and_palette_images_are_accepted() {
    for (depth, colour) in [(16, 2), (16, 0), (16, 6), (8, 3), (1, 3), (4, 0)] {
        let data = png(&[ihdr(7, 5, depth, colour), idat(), iend()]);
        let info = probe(&data).unwrap_or_else(|e| panic!("{depth}/{colour}: {e}"));
        assert_eq!((info.width, info.height), (7, 5));
    }
}

#[test]
fn png_with_invalid_depth_for_colour_type_is_malformed() {
    for (depth, colour) in [(16, 3), (4, 2), (8, 5), (3, 0)] {
        let data = png(&[ihdr(7, 5, depth, colour), idat(), iend()]);
        assert_eq!(
            probe(&data).unwrap_err().code(),
            "malformed-input",
            "{depth}/{colour}"
        );
    }
}

#[test]
fn png_alpha_comes_from_colour_type_or_trns() {
    let rgb = png(&[ihdr(4, 4, 8, 2), idat(), iend()]);
    assert!(!probe(&rgb).unwrap().has_alpha);
    let rgba = png(&[ihdr(4, 4, 8, 6), idat(), iend()]);
    assert!(probe(&rgba).unwrap().has_alpha);
    let grey_alpha = png(&[ihdr(4, 4, 16, 4), idat(), iend()]);
    assert!(probe(&grey_alpha).unwrap().has_alpha);
    let palette_trns = png(&[
        ihdr(4, 4, 8, 3),
        chunk(b"PLTE", &[0, 0, 0, 255, 255, 255]),
        chunk(b"tRNS", &[0]),
        idat(),
        iend(),
    ]);
    assert!(probe(&palette_trns).unwrap().has_alpha);
}

#[test]
fn png_metadata_chunks_set_their_flags() {
    let data = png(&[
        ihdr(4, 4, 8, 2),
        chunk(b"iCCP", b"sRGB\0\0\x78\x9C"),
        chunk(b"eXIf", &exif(3, true)),
        chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0<x:xmpmeta/>"),
        idat(),
        iend(),
    ]);
    let info = probe(&data).unwrap();
    assert!(info.has_icc && info.has_exif && info.has_gps && info.has_xmp);
    assert!(!info.has_comment);
    assert_eq!(info.orientation, 3);
}

#[test]
fn png_exif_with_a_stray_exif_prefix_is_still_read() {
    let mut body = b"Exif\0\0".to_vec();
    body.extend(exif(5, false));
    let data = png(&[ihdr(4, 4, 8, 2), chunk(b"eXIf", &body), idat(), iend()]);
    assert_eq!(probe(&data).unwrap().orientation, 5);
}

#[test]
fn apng_frames_come_from_actl_and_area_from_fctl() {
    let data = png(&[
        ihdr(100, 80, 8, 6),
        actl(3),
        fctl(0, 100, 80),
        idat(),
        fctl(1, 50, 40),
        chunk(b"fdAT", &[0, 0, 0, 2, 1, 2, 3]),
        fctl(3, 10, 10),
        chunk(b"fdAT", &[0, 0, 0, 4, 1, 2, 3]),
        iend(),
    ]);
    let info = probe(&data).unwrap();
    assert_eq!(info.frames, 3);
    assert_eq!(info.total_frame_area, 100 * 80 + 50 * 40 + 10 * 10);
}

#[test]
fn png_without_ihdr_first_is_malformed() {
    let data = png(&[chunk(b"tEXt", b"a\0b"), ihdr(4, 4, 8, 2), iend()]);
    assert_eq!(probe(&data).unwrap_err().code(), "malformed-input");
}

#[test]
fn png_with_zero_or_oversized_dimension_is_malformed() {
    for (w, h) in [(0, 5), (5, 0), (1 << 31, 1)] {
        let data = png(&[ihdr(w, h, 8, 2), iend()]);
        assert_eq!(
            probe(&data).unwrap_err().code(),
            "malformed-input",
            "{w}x{h}"
        );
    }
}

#[test]
fn png_without_iend_still_probes() {
    let data = png(&[ihdr(4, 4, 8, 2), idat()]);
    assert_eq!(probe(&data).unwrap().width, 4);
    assert_eq!(image_end(&data), None);
}

// ---- GIF ----

#[test]
fn gif_counts_frames_and_sums_their_own_areas() {
    let info = probe(&small_gif()).unwrap();
    assert_eq!(info.kind, Kind::Gif);
    assert_eq!((info.width, info.height), (20, 10));
    assert_eq!(info.frames, 2);
    assert_eq!(info.total_frame_area, 20 * 10 + 5 * 4);
    assert!(info.has_alpha && info.has_comment);
    assert_eq!(image_end(&small_gif()), Some(small_gif().len()));
}

#[test]
fn gif_without_transparency_has_no_alpha() {
    let info = probe(&gif(3, 3, &[(3, 3)], false)).unwrap();
    assert!(!info.has_alpha);
    assert_eq!(info.frames, 1);
}

#[test]
fn gif_without_frames_is_malformed() {
    assert_eq!(
        probe(&gif(3, 3, &[], false)).unwrap_err().code(),
        "malformed-input"
    );
}

#[test]
fn gif_cut_off_inside_a_later_frame_reports_the_frames_seen() {
    let g = gif(4, 4, &[(4, 4), (4, 4)], false);
    let info = probe(&g[..g.len() - 4]).unwrap();
    assert_eq!(info.frames, 2);
}

// ---- WebP ----

#[test]
fn lossy_webp_reads_the_vp8_frame_header() {
    let info = probe(&webp(&[vp8(300, 200)])).unwrap();
    assert_eq!(info.kind, Kind::Webp);
    assert_eq!((info.width, info.height, info.frames), (300, 200, 1));
    assert!(!info.has_alpha);
}

#[test]
fn lossless_webp_reads_sizes_and_alpha_hint() {
    let info = probe(&webp(&[vp8l(16383, 2, true)])).unwrap();
    assert_eq!((info.width, info.height), (16383, 2));
    assert!(info.has_alpha);
}

#[test]
fn extended_webp_reads_canvas_flags_and_metadata_chunks() {
    let data = webp(&[
        vp8x(0x20 | 0x08 | 0x04 | 0x10, 1000, 500),
        riff_chunk(b"ICCP", &[0; 12]),
        riff_chunk(b"ALPH", &[0; 3]),
        vp8(1000, 500),
        riff_chunk(b"EXIF", &exif(7, true)),
        riff_chunk(b"XMP ", b"<x/>"),
    ]);
    let info = probe(&data).unwrap();
    assert_eq!((info.width, info.height, info.frames), (1000, 500, 1));
    assert!(info.has_icc && info.has_alpha && info.has_exif && info.has_gps && info.has_xmp);
    assert_eq!(info.orientation, 7);
    assert_eq!(image_end(&data), Some(data.len()));
}

#[test]
fn metadata_chunks_after_a_simple_webp_image_are_flagged() {
    for first in [vp8(8, 8), vp8l(8, 8, false)] {
        let data = webp(&[
            first,
            riff_chunk(b"EXIF", &exif(1, true)),
            riff_chunk(b"XMP ", b"<x/>"),
            riff_chunk(b"ICCP", &[0; 12]),
        ]);
        let info = probe(&data).unwrap();
        assert!(info.has_exif && info.has_xmp && info.has_icc, "{info:?}");
    }
    let plain = probe(&webp(&[vp8(8, 8)])).unwrap();
    assert!(!plain.has_exif && !plain.has_xmp && !plain.has_icc);
}

#[test]
fn animated_webp_counts_anmf_frames() {
    let data = webp(&[
        vp8x(0x02, 64, 64),
        riff_chunk(b"ANIM", &[0; 6]),
        anmf(64, 64),
        anmf(32, 16),
        anmf(1, 1),
    ]);
    let info = probe(&data).unwrap();
    assert_eq!(info.frames, 3);
    assert_eq!(info.total_frame_area, 64 * 64 + 32 * 16 + 1);
}

#[test]
fn animated_webp_without_frames_is_malformed() {
    let data = webp(&[vp8x(0x02, 64, 64), riff_chunk(b"ANIM", &[0; 6])]);
    assert_eq!(probe(&data).unwrap_err().code(), "malformed-input");
}

// ---- TIFF, BMP, ICO ----

#[test]
fn tiff_reads_size_orientation_and_page_count_in_both_byte_orders() {
    for big_endian in [false, true] {
        let data = tiff_file(big_endian, &[(640, 480), (320, 240), (10, 10)], 6);
        let info = probe(&data).unwrap();
        assert_eq!(info.kind, Kind::Tiff);
        assert_eq!((info.width, info.height), (640, 480));
        assert_eq!(info.frames, 3);
        assert_eq!(info.total_frame_area, 640 * 480 + 320 * 240 + 100);
        assert_eq!(info.orientation, 6);
    }
}

#[test]
fn tiff_with_short_size_tags_is_read() {
    let data = tiff(
        false,
        &[Ifd {
            entries: vec![(0x0100, SHORT, 1, V::N(33)), (0x0101, SHORT, 1, V::N(44))],
            next: V::N(0),
        }],
    );
    let info = probe(&data).unwrap();
    assert_eq!((info.width, info.height, info.frames), (33, 44, 1));
}

#[test]
fn tiff_without_size_is_malformed() {
    let data = tiff(
        false,
        &[Ifd {
            entries: vec![(0x0112, SHORT, 1, V::N(1))],
            next: V::N(0),
        }],
    );
    assert_eq!(probe(&data).unwrap_err().code(), "malformed-input");
}

#[test]
fn bigtiff_is_unsupported() {
    let mut data = b"II+\0\x08\0\0\0".to_vec();
    data.extend([0; 16]);
    assert_eq!(probe(&data).unwrap_err().code(), "unsupported-input");
}

#[test]
fn bmp_reads_size_and_top_down_negative_height() {
    let info = probe(&bmp(120, -80, 24)).unwrap();
    assert_eq!(info.kind, Kind::Bmp);
    assert_eq!((info.width, info.height, info.frames), (120, 80, 1));
    let info = probe(&bmp(3, 2, 24)).unwrap();
    assert_eq!((info.width, info.height), (3, 2));
    assert_eq!(
        probe(&bmp(-3, 2, 24)).unwrap_err().code(),
        "malformed-input"
    );
}

#[test]
fn ico_reports_its_largest_image_with_zero_meaning_256() {
    let info = probe(&ico(&[(16, 16), (0, 0), (48, 48)])).unwrap();
    assert_eq!(info.kind, Kind::Ico);
    assert_eq!((info.width, info.height, info.frames), (256, 256, 1));
}

// ---- kinds without pixels ----

#[test]
fn non_raster_kinds_report_kind_and_mime_only() {
    for (data, kind) in [
        (b"%PDF-1.7\n".to_vec(), Kind::Pdf),
        (b"<!doctype html><p>hi".to_vec(), Kind::Html),
        (ftyp(b"isom", &[b"isom", b"mp41"]), Kind::Mp4),
        (
            b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec(),
            Kind::Svg,
        ),
        (b"no magic here".to_vec(), Kind::Unknown),
    ] {
        let info = probe(&data).unwrap();
        assert_eq!((info.kind, info.mime), (kind, kind.mime()));
        assert_eq!(
            (info.width, info.height, info.frames, info.total_frame_area),
            (0, 0, 0, 0)
        );
        assert_eq!(info.orientation, 1);
    }
}
