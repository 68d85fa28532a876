//! HEIF (HEIC, AVIF): the probe reads the displayed size and the metadata flags from the item
//! structure, and refuses structural claims over the limits before any codec runs.

use attach_fixtures::{
    heic, heic_10bit, heic_claiming_size, heic_grid_claiming, heic_rgba, heic_self_derived,
    heic_transformed, photo, quadrants, truncated, Mirror, Rgba,
};
use media_probe::{
    probe, Kind, Limit, Limits, MediaError, ProbeInfo, MAX_GRID_TILES, MAX_REFERENCE_TARGETS,
};

fn read(data: &[u8]) -> ProbeInfo {
    probe(data, &Limits::default()).expect("probe reads the file")
}

#[test]
fn a_single_picture_heic_reports_its_size_one_frame_and_orientation_1() {
    let info = read(&heic(&photo(320, 240, 1), 80));
    assert_eq!(info.kind, Kind::Heic);
    assert_eq!(info.mime, "image/heic");
    assert_eq!((info.width, info.height, info.frames), (320, 240, 1));
    assert_eq!(info.orientation, 1);
    assert!(!info.has_alpha && !info.has_exif && !info.has_icc);
}

#[test]
fn a_grid_reports_the_grid_size_not_its_tiles() {
    // heifer writes 512-pixel tiles: 3 × 2 of them, cropped to 1100 × 700 by the grid.
    let info = read(&heic(&photo(1100, 700, 2), 60));
    assert_eq!((info.width, info.height), (1100, 700));
    assert!(
        info.total_frame_area >= 1100 * 700,
        "the tiles' area is counted"
    );
}

#[test]
fn odd_sizes_are_cropped_by_clap_to_the_real_size() {
    let info = read(&heic(&photo(301, 201, 3), 80));
    assert_eq!((info.width, info.height), (301, 201));
}

#[test]
fn a_quarter_turn_swaps_the_displayed_sides_on_pictures_and_grids() {
    let display = quadrants(200, 120);
    for grid in [false, true] {
        for quarters in 0..4u8 {
            for mirror in [None, Some(Mirror::LeftRight), Some(Mirror::TopBottom)] {
                let info = read(&heic_transformed(&display, quarters, mirror, grid));
                assert_eq!(
                    (info.width, info.height),
                    (200, 120),
                    "grid {grid}, irot {quarters}, imir {mirror:?}"
                );
                assert_eq!(info.orientation, 1);
            }
        }
    }
}

#[test]
fn an_alpha_plane_and_ten_bit_samples_are_read() {
    let mut rgba = Rgba {
        width: 64,
        height: 64,
        data: vec![200; 64 * 64 * 4],
    };
    rgba.data[3] = 0;
    assert!(read(&heic_rgba(&rgba, 80)).has_alpha);
    let info = read(&heic_10bit(&photo(96, 64, 4), 80));
    assert_eq!((info.width, info.height), (96, 64));
}

#[test]
fn a_grid_claiming_more_tiles_than_allowed_is_refused_as_too_complex() {
    // 10,000 references are over the file's reference limit before the grid is looked at;
    // 600 are within it and over the grid's own.
    for (tiles, max) in [(10_000, MAX_REFERENCE_TARGETS), (600, MAX_GRID_TILES)] {
        match probe(&heic_grid_claiming(tiles), &Limits::default()) {
            Err(MediaError::LimitExceeded {
                limit,
                actual,
                max: got,
            }) => {
                assert_eq!(limit, Limit::Structure);
                assert_eq!((actual, got), (u64::from(tiles), max as u64));
            }
            other => panic!("{tiles} tiles: expected structure-too-complex, got {other:?}"),
        }
    }
}

#[test]
fn an_ispe_over_the_pixel_limit_is_refused_before_decoding() {
    match probe(&heic_claiming_size(100_000, 100_000), &Limits::default()) {
        Err(MediaError::LimitExceeded { limit, actual, .. }) => {
            assert_eq!(limit, Limit::Pixels);
            assert_eq!(actual, 10_000_000_000);
        }
        other => panic!("expected too-many-pixels, got {other:?}"),
    }
}

#[test]
fn an_image_derived_from_itself_is_malformed() {
    let err = probe(&heic_self_derived(), &Limits::default()).unwrap_err();
    assert!(matches!(err, MediaError::Malformed(_)), "{err:?}");
}

#[test]
fn a_heic_cut_anywhere_in_its_structure_is_malformed_not_a_panic() {
    let file = heic(&photo(320, 240, 5), 80);
    for tenth in 1..10 {
        let cut = truncated(&file, f64::from(tenth) / 10.0);
        // Once the meta box is whole, the cut falls in the coded data, which the probe does not
        // read: such a file probes fine and its decoder must refuse it.
        let _ = probe(&cut, &Limits::default());
    }
    let meta_cut = &file[..file.len().min(120)];
    assert!(matches!(
        probe(meta_cut, &Limits::default()),
        Err(MediaError::Malformed(_))
    ));
}

#[test]
fn structures_two_readers_could_read_differently_or_that_multiply_work_are_refused() {
    use attach_fixtures::{heic_with_fault, HeifFault};
    for fault in HeifFault::ALL {
        let code = match probe(&heic_with_fault(fault), &Limits::default()) {
            Err(e) => e.code(),
            Ok(info) => panic!("{fault:?} was read as {info:?}"),
        };
        let want = match fault {
            HeifFault::RepeatedTile => "frame-area-too-large",
            HeifFault::AlphaGridOfManyTiles | HeifFault::ManyLocations => "structure-too-complex",
            _ => "malformed-input",
        };
        assert_eq!(code, want, "{fault:?}");
    }
}

#[test]
fn thousands_of_items_are_read_in_linear_time_and_the_item_limit_answers() {
    // 4,096 items (the limit) are read; 4,097 are structure-too-complex, never a quadratic walk
    // (the probe guest's fuel is sized by the file's bytes).
    use media_probe::MAX_HEIF_ITEMS;
    for (count, ok) in [(MAX_HEIF_ITEMS, true), (MAX_HEIF_ITEMS + 1, false)] {
        let many = attach_fixtures::heic_with_items(count);
        let started = std::time::Instant::now();
        let result = probe(&many, &Limits::default());
        assert!(
            started.elapsed().as_secs() < 5,
            "{count} items took {:?}",
            started.elapsed()
        );
        match (ok, result) {
            (true, Ok(_)) => {}
            (false, Err(MediaError::LimitExceeded { limit, .. })) => {
                assert_eq!(limit, Limit::Structure)
            }
            (ok, other) => panic!("{count} items (ok: {ok}): {other:?}"),
        }
    }
}
