//! Deterministic mutation "fuzzing": seeded byte flips, truncations, splices and
//! duplications of every hand-built input, scanned as every kind, must never panic; and
//! random bytes must not look like structured executables or archives.

use media_probe::{Kind, Limits};

use crate::test_data::{tiny_gif, tiny_jpeg, tiny_png, tiny_webp, Zip, ZipEntry};
use crate::{rules, scan, scan_as};
use attach_fixtures::{mutate, Rng};

const ALL_KINDS: &[Kind] = &Kind::ALL;

/// Mutated cases per seed input. Each case is scanned once per kind in the kind-forced
/// test, so this times the seed count times 23 scans; a few thousand cases in total keep
/// the unoptimised test under a few seconds.
const CASES_PER_SEED: usize = 300;

fn seeds() -> Vec<Vec<u8>> {
    let mut jpeg_zip = tiny_jpeg();
    jpeg_zip.extend(
        Zip::new()
            .entry(ZipEntry::stored("META-INF/x", b"abc"))
            .alias(0, "b")
            .zip64_end()
            .build(),
    );
    let mut big = ZipEntry::stored("big", b"0123456789");
    big.uncompressed = 1 << 40;
    vec![
        tiny_jpeg(),
        tiny_png(),
        tiny_gif(),
        tiny_webp(),
        jpeg_zip,
        Zip::new()
            .entry(big)
            .entry(ZipEntry::deflated("d", b"zz"))
            .build(),
        br##"<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY a "b"><!ATTLIST svg x CDATA "y">]>
<svg onload="x" xmlns:xlink="http://www.w3.org/1999/xlink"><style>@import url(a.css);</style>
<a xlink:href="java&#x09;script:x"><image href="data:image/png;base64,AA"/></a>
<!-- c --><![CDATA[ d ]]><?xml-stylesheet href="s.css"?><foreignObject/><script>x</script></svg>"##
            .to_vec(),
        b"%PDF-1.7 << /OpenAction << /S /J#61vaScript /JS (x) >> /AA /Launch /EmbeddedFiles >>"
            .to_vec(),
        b"\x1F\x8B\x08\0\0\0\0\0\0\x03abcdefgh\0\0\0\0\xFF\xFF\xFF\x7F".to_vec(),
        b"#EXTM3U\n#EXTINF:1,\nhttp://x/\n<html><iframe>javascript:<svg/onload=1>".to_vec(),
    ]
}

#[test]
fn mutated_inputs_scanned_as_every_kind_never_panic() {
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
    let mut cases = 0usize;
    for seed in seeds() {
        for _ in 0..CASES_PER_SEED {
            let data = mutate(&mut rng, &seed);
            for &kind in ALL_KINDS {
                let report = scan_as(&data, kind, "image/jpeg");
                assert_eq!(report.kind, kind);
                assert!(report.findings.iter().all(|f| f.detail.len() < 512));
            }
            cases += 1;
        }
    }
    assert!(cases >= 3000);
}

#[test]
fn mutated_inputs_through_scan_never_panic() {
    let mut rng = Rng::new(0xD1B5_4A32_D192_ED03);
    let declared = [
        "",
        "image/png",
        "image/svg+xml",
        "application/zip",
        "x/\u{0}\u{ff}",
    ];
    for seed in seeds() {
        for i in 0..CASES_PER_SEED {
            let data = mutate(&mut rng, &seed);
            let report = scan(&data, declared[i % declared.len()], &Limits::default());
            assert!(report.is_ok());
        }
    }
}

#[test]
fn random_megabyte_has_no_structured_signature_false_positives() {
    let mut rng = Rng::new(0x2545_F491_4F6C_DD1D);
    let data = rng.bytes(1 << 20);
    for kind in [Kind::Unknown, Kind::Jpeg, Kind::Mp4] {
        let report = scan_as(&data, kind, "");
        for rule in [
            rules::EMBEDDED_PE,
            rules::EMBEDDED_ELF,
            rules::EMBEDDED_ZIP,
            rules::EMBEDDED_JAR,
        ] {
            assert!(
                report.finding(rule).is_none(),
                "{rule} in random data as {kind:?}"
            );
        }
    }
}

#[test]
fn random_bytes_with_planted_magics_still_need_valid_structure() {
    // Every magic planted at random offsets, with random bytes where the structure should
    // be: the validation, not the rarity of the magic, keeps these quiet.
    let mut rng = Rng::new(0x0123_4567_89AB_CDEF);
    let mut data = rng.bytes(1 << 18);
    for _ in 0..2000 {
        let magic: &[u8] = [&b"MZ"[..], b"\x7fELF", b"PK\x03\x04"][rng.below(3)];
        let at = rng.below(data.len() - 8);
        data[at..at + magic.len()].copy_from_slice(magic);
    }
    let report = scan_as(&data, Kind::Unknown, "");
    assert!(report.finding(rules::EMBEDDED_PE).is_none());
    assert!(report.finding(rules::EMBEDDED_ELF).is_none());
}
