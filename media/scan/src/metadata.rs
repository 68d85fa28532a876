//! The `metadata-unreadable` rule: an image whose EXIF block cannot be read.
//!
//! Cameras, phones and editing tools write EXIF with IFD offsets past the block, entry
//! tables cut short, IFDs that point back at each other, or a block with no TIFF header at
//! all. Browsers and decoders still show such an image, so the pipeline processes it, reading
//! the orientation as 1 (or as what the block said before the fault). This rule records that
//! the metadata was not read, so whoever looks at the upload knows why its rotation or GPS
//! flag may differ from what the uploader's software shows.
//!
//! It does not parse EXIF itself: media-probe's walker decides, the same reading the probe
//! guest gave the host, so the finding and the orientation the thumbnail uses never disagree.

use media_probe::{Kind, Limits};

use crate::{rules, Findings, Verdict};

/// Verdict Clean: a broken EXIF block is a camera or editor bug, not an attack; the walker
/// that reads it is bounded whatever the block says, and nothing of it reaches a variant.
/// The finding informs; it must not quarantine or fail an honest photo.
pub(crate) fn check(data: &[u8], kind: Kind, findings: &mut Findings) {
    // The kinds whose EXIF sits inside another structure. A TIFF file's IFDs are its image:
    // the probe refuses a broken one as malformed, so there is nothing to report here.
    if !matches!(kind, Kind::Jpeg | Kind::Png | Kind::Webp) {
        return;
    }
    // The probe already checked the host's limits on this data; here only the metadata is
    // wanted. A file the probe refuses gets no finding: the pipeline fails it anyway.
    let Ok(info) = media_probe::probe(data, &Limits::UNLIMITED) else {
        return;
    };
    if info.kind != kind || !info.exif_unreadable {
        return;
    }
    findings.add(rules::METADATA_UNREADABLE, Verdict::Clean, || {
        format!(
            "the {} EXIF block cannot be read; orientation read as {}",
            kind.name(),
            info.orientation
        )
    });
}
