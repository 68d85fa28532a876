//! Where each target starts: the fixtures generator's inputs (every format, every EXIF
//! orientation, every hostile case the tests know) and real-shaped host documents. `make fuzz`
//! writes them next to the committed corpus; `make test` replays them too.

use attach_fixtures as fx;

/// The seeds of `target`, each with a name that says what it is.
pub fn for_target(target: &str) -> Vec<(String, Vec<u8>)> {
    match target {
        "probe" | "scan" | "thumbnail" | "sandbox" | "differential" => media(),
        "thumbhash" => thumbhash(),
        "payload" => payloads(),
        "storage_key" => keys(),
        "clamd_reply" => clamd_replies(),
        "ffprobe" => ffprobe_reports(),
        "manifest" => manifests(),
        _ => Vec::new(),
    }
}

fn named(items: Vec<(&str, Vec<u8>)>) -> Vec<(String, Vec<u8>)> {
    items.into_iter().map(|(n, d)| (n.to_string(), d)).collect()
}

/// Small images of every format and variation, and the hostile files. Sizes stay small (a
/// 40×30 photo) so each seed decodes in well under a millisecond natively.
pub fn media() -> Vec<(String, Vec<u8>)> {
    let photo = fx::photo(40, 30, 7);
    let jpeg = fx::jpeg(&photo, 75);
    let mut seeds = named(vec![
        ("jpeg-baseline", jpeg.clone()),
        ("jpeg-progressive", fx::jpeg_progressive(&photo, 75)),
        ("jpeg-arithmetic", fx::jpeg_arithmetic(&photo, 75)),
        ("jpeg-gps", fx::with_exif_gps(&jpeg)),
        ("jpeg-xmp", fx::with_xmp(&jpeg)),
        ("jpeg-comment", fx::with_comment(&jpeg, "a comment")),
        ("jpeg-icc", fx::with_icc(&jpeg)),
        ("jpeg-quadrants-6", fx::oriented_quadrants_jpeg(24, 16, 6)),
        ("png-rgb", fx::png_rgb(&photo)),
        ("png-rgba", fx::png_rgba(&fx::alpha_vignette(&photo))),
        ("png-16bit", fx::png_16bit(&photo)),
        ("png-palette", fx::png_palette(&photo)),
        (
            "png-text-exif",
            fx::png_with_text_and_exif(&fx::png_rgb(&photo)),
        ),
        ("gif", fx::gif(&photo)),
        (
            "gif-animated",
            fx::gif_animated(&[photo.clone(), fx::photo(40, 30, 8)]),
        ),
        ("webp-lossy", fx::webp_lossy(&photo, 70)),
        ("webp-lossless", fx::webp_lossless(&photo)),
        ("heic", fx::heic(&photo, 70)),
        ("heic-10bit", fx::heic_10bit(&photo, 70)),
        ("heic-alpha", fx::heic_rgba(&fx::alpha_vignette(&photo), 70)),
        ("heic-metadata", fx::heic_with_metadata(&photo)),
        ("heic-display-p3", fx::heic_display_p3(&photo)),
        (
            "heic-grid-rotated",
            fx::heic_transformed(&fx::photo(160, 96, 7), 3, Some(fx::Mirror::TopBottom), true),
        ),
        // Hostile: sizes, structures and types that attack a decoder or a type check.
        ("png-bomb", fx::png_bomb_30000()),
        ("png-max-dims", fx::png_max_dims()),
        ("jpeg-sof-65500", fx::jpeg_sof_65500()),
        ("jpeg-many-scans", fx::jpeg_many_scans(40)),
        ("jpeg-truncated", fx::truncated(&jpeg, 0.6)),
        ("gif-many-frames", fx::gif_many_frames(50, 8, 8)),
        ("tiff-ifd-loop", fx::tiff_ifd_loop()),
        ("jpeg-exif-ifd-loop", fx::jpeg_exif_ifd_loop()),
        ("jpeg-exif-huge-count", fx::jpeg_exif_huge_count()),
        ("html", fx::html_page()),
        ("pdf", fx::pdf_doc()),
        ("svg-script", fx::svg_with_script()),
        ("svg-external-entity", fx::svg_with_external_entity()),
        ("jpeg-zip-appended", fx::jpeg_with_zip_appended()),
        ("eicar", fx::eicar()),
        ("zip-bomb-declared", fx::zip_bomb_declared()),
        ("jpeg-bogus-huffman", fx::jpeg_bogus_huffman_table()),
        ("jpeg-corrupt-scan", fx::jpeg_corrupt_scan()),
        ("jpeg-huge-marker", fx::jpeg_huge_markers(1)),
        ("jpeg-empty-app1", fx::jpeg_empty_segments(0xE1, 3)),
        ("heic-grid-10000-tiles", fx::heic_grid_claiming(10_000)),
        ("heic-ispe-huge", fx::heic_claiming_size(100_000, 100_000)),
        ("heic-self-derived", fx::heic_self_derived()),
        // The smallest video container headers, for the sniffing and the scan's video rules.
        (
            "mp4-ftyp",
            b"\0\0\0\x18ftypisom\0\0\x02\0isomiso2\0\0\0\x08free".to_vec(),
        ),
        (
            "webm-ebml",
            b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm".to_vec(),
        ),
        (
            "elf",
            b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0".to_vec(),
        ),
    ]);
    for orientation in 1..=8 {
        seeds.push((
            format!("jpeg-orientation-{orientation}"),
            fx::with_exif_orientation(&jpeg, orientation),
        ));
    }
    for fault in fx::HeifFault::ALL {
        seeds.push((format!("heic-{fault:?}"), fx::heic_with_fault(fault)));
    }
    for (i, fault) in fx::ExifFault::ALL.into_iter().enumerate() {
        seeds.push((
            format!("jpeg-exif-unreadable-{i}"),
            fx::jpeg_exif_unreadable(fault),
        ));
    }
    seeds
}

fn thumbhash() -> Vec<(String, Vec<u8>)> {
    let photo = fx::photo(20, 10, 3);
    let mut rgba = vec![20, 10];
    for px in photo.data.chunks(3) {
        rgba.extend_from_slice(&[px[0], px[1], px[2], 200]);
    }
    named(vec![
        ("photo-20x10", rgba),
        ("opaque-1x1", vec![1, 1, 255, 0, 0, 255]),
        ("clear-100x100", vec![100, 100, 0, 0, 0, 0]),
    ])
}

fn payloads() -> Vec<(String, Vec<u8>)> {
    named(vec![
        (
            "defaults",
            br#"{"fileKey":"uploads/2026/12/a1b2.jpg","mimeType":"image/jpeg","size":48213}"#.to_vec(),
        ),
        (
            "variants",
            br#"{"fileKey":"u/p.png","mimeType":"image/png","size":1,"variants":["thumb","card:600x400:jpeg:82:cover","x:8x8:auto"],"checksum":"9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"}"#.to_vec(),
        ),
        (
            "reprocess",
            br#"{"fileKey":"a/b","mimeType":"","size":0,"variants":[],"reprocessGuestDigest":"0123456789abcdef"}"#.to_vec(),
        ),
        (
            "retry",
            br#"{"fileKey":"a/b.gif","mimeType":"image/gif","size":10,"scanTries":3}"#.to_vec(),
        ),
    ])
}

fn keys() -> Vec<(String, Vec<u8>)> {
    named(vec![
        ("plain", b"uploads/2026/12/photo.jpg".to_vec()),
        ("variant", b"variants/uploads/photo.jpg/thumb.webp".to_vec()),
        ("dots", b"a/./b/../c".to_vec()),
        (
            "unicode",
            "uploads/\u{e9}t\u{e9}/\u{202e}gpj.exe".as_bytes().to_vec(),
        ),
    ])
}

fn clamd_replies() -> Vec<(String, Vec<u8>)> {
    named(vec![
        ("ok", b"stream: OK\0".to_vec()),
        ("found", b"stream: Win.Test.EICAR_HDB-1 FOUND\0".to_vec()),
        (
            "size-limit",
            b"INSTREAM size limit exceeded. ERROR\0".to_vec(),
        ),
        (
            "other-error",
            b"stream: Can't allocate memory ERROR\0".to_vec(),
        ),
    ])
}

fn ffprobe_reports() -> Vec<(String, Vec<u8>)> {
    named(vec![
        (
            "mp4-rotated",
            br#"{"streams":[{"codec_type":"video","codec_name":"h264","width":1920,"height":1080,"avg_frame_rate":"30000/1001","r_frame_rate":"30/1","duration":"10.01","nb_frames":"300","side_data_list":[{"side_data_type":"Display Matrix","rotation":-90}],"tags":{"rotate":"90"}},{"codec_type":"audio","codec_name":"aac","channels":2,"sample_rate":"48000"}],"format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","duration":"10.010000"}}"#.to_vec(),
        ),
        (
            "webm",
            br#"{"streams":[{"codec_type":"video","codec_name":"vp9","width":640,"height":360,"avg_frame_rate":"0/0","r_frame_rate":"1000/1"}],"format":{"format_name":"matroska,webm"}}"#.to_vec(),
        ),
        ("no-streams", br#"{"streams":[],"format":{}}"#.to_vec()),
    ])
}

fn manifests() -> Vec<(String, Vec<u8>)> {
    named(vec![
        (
            "probe",
            br#"{"name":"probe","world":"attach:media/prober@0.1.0","version":"0.1.0","file":"probe.wasm","sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","build":{"commit":"26219b1","rustc":"1.95.0","profile":"guest"}}"#.to_vec(),
        ),
        (
            "unversioned",
            br#"{"name":"scan","world":"attach:media/scanner@0.1.0","file":"scan.wasm","sha256":"9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"}"#.to_vec(),
        ),
    ])
}
