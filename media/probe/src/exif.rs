//! EXIF owns reading TIFF-structured metadata: the EXIF blocks inside JPEG (APP1), PNG (eXIf)
//! and WebP (EXIF), and the first IFD of TIFF files. It reads only what the probe reports
//! (orientation, GPS presence, image size, XMP/ICC tags) and treats every offset and count as
//! hostile: each read is bounds-checked, no allocation follows a count, and a walk visits a
//! bounded number of IFDs and entries, refusing any IFD it has seen before.
//!
//! [`parse`] is strict: a fault anywhere is an error, which is right for a TIFF file, whose
//! IFDs are its image. [`parse_lenient`] keeps whatever was read before the fault, which is
//! right for an EXIF block inside another format: broken metadata does not make the picture
//! undecodable, and decoders skip it too. [`parse_partial`] gives both, so a probe can read
//! the picture leniently and still say the block was unreadable.

use crate::bytes::{array, slice};
use crate::{Limit, MediaError};

/// Entries read in one walk. Camera EXIF carries at most a few hundred across IFD0, the Exif
/// IFD and the GPS IFD; 1024 bounds the work a block of 65,535-entry IFDs can cause.
pub const MAX_EXIF_ENTRIES: u32 = 1024;

/// IFDs visited in one walk. We follow IFD0, the Exif IFD and the GPS IFD; 8 leaves room for
/// writers that repeat a pointer while keeping the visited list tiny.
pub const MAX_EXIF_IFDS: usize = 8;

const TAG_WIDTH: u16 = 0x0100;
const TAG_HEIGHT: u16 = 0x0101;
const TAG_ORIENTATION: u16 = 0x0112;
const TAG_XMP: u16 = 0x02BC;
const TAG_EXIF_IFD: u16 = 0x8769;
const TAG_ICC: u16 = 0x8773;
const TAG_GPS_IFD: u16 = 0x8825;

const TYPE_SHORT: u16 = 3;
const TYPE_LONG: u16 = 4;
const TYPE_IFD: u16 = 13;

/// What an EXIF block, or a TIFF file's first IFD, says about the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exif {
    /// 1..=8; 1 when absent or out of range.
    pub orientation: u8,
    /// A GPS IFD exists and holds at least one entry.
    pub has_gps: bool,
    /// IFD0 points to an Exif IFD.
    pub has_exif_ifd: bool,
    /// An XMP packet tag (0x02BC) is present.
    pub has_xmp: bool,
    /// An ICC profile tag (0x8773) is present.
    pub has_icc: bool,
    /// IFD0's ImageWidth / ImageLength (TIFF files carry them; EXIF blocks rarely do).
    pub width: Option<u32>,
    pub height: Option<u32>,
}

impl Default for Exif {
    fn default() -> Self {
        Exif {
            orientation: 1,
            has_gps: false,
            has_exif_ifd: false,
            has_xmp: false,
            has_icc: false,
            width: None,
            height: None,
        }
    }
}

/// Reads a TIFF-structured block (starting at its `II`/`MM` byte order mark). Any fault (bad
/// header, IFD out of bounds, IFD loop, too many entries) is an error.
pub fn parse(block: &[u8]) -> Result<Exif, MediaError> {
    let (exif, fault) = parse_partial(block);
    match fault {
        Some(e) => Err(e),
        None => Ok(exif),
    }
}

/// Like [`parse`], but returns what was read before a fault (defaults if the header itself is
/// bad) instead of failing.
pub fn parse_lenient(block: &[u8]) -> Exif {
    parse_partial(block).0
}

/// What [`parse_lenient`] returns, together with the fault [`parse`] would have failed with:
/// a probe keeps the partial reading for the image and still reports that the block was
/// unreadable, from one walk.
///
/// An entry whose value does not fit the block is not a fault here either: it is skipped, as
/// decoders skip it, and the rest of its IFD is read.
pub fn parse_partial(block: &[u8]) -> (Exif, Option<MediaError>) {
    let (tiff, ifd0) = match Tiff::new(block) {
        Ok(header) => header,
        Err(e) => return (Exif::default(), Some(e)),
    };
    let mut walk = Walk::new(tiff);
    let fault = walk.run(ifd0).err();
    (walk.out, fault)
}

/// The TIFF structure inside an EXIF payload. JPEG's APP1 puts "Exif\0\0" in front of it and
/// some PNG and WebP writers copy that prefix into chunks that should not have it.
pub(crate) fn tiff_of(payload: &[u8]) -> &[u8] {
    match payload.strip_prefix(b"Exif\0") {
        Some(rest) => rest.get(1..).unwrap_or_default(),
        None => payload,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Ifd0,
    Exif,
    Gps,
}

struct Walk<'a> {
    tiff: Tiff<'a>,
    seen: Vec<u32>,
    entries: u32,
    out: Exif,
}

impl<'a> Walk<'a> {
    fn new(tiff: Tiff<'a>) -> Self {
        Walk {
            tiff,
            seen: Vec::new(),
            entries: 0,
            out: Exif::default(),
        }
    }

    fn run(&mut self, ifd0: u32) -> Result<(), MediaError> {
        let mut pending = vec![(ifd0, Role::Ifd0)];
        while let Some((offset, role)) = pending.pop() {
            if self.seen.contains(&offset) {
                return Err(MediaError::malformed("exif ifd loop"));
            }
            if self.seen.len() >= MAX_EXIF_IFDS {
                let visited = self.seen.len() as u64 + 1;
                return Err(MediaError::limit(
                    Limit::Structure,
                    visited,
                    MAX_EXIF_IFDS as u64,
                ));
            }
            self.seen.push(offset);
            let ifd = self.tiff.ifd(offset)?;
            if role == Role::Gps {
                self.out.has_gps = ifd.count > 0;
                continue;
            }
            for i in 0..ifd.count {
                self.entries += 1;
                if self.entries > MAX_EXIF_ENTRIES {
                    let n = u64::from(self.entries);
                    return Err(MediaError::limit(
                        Limit::Structure,
                        n,
                        MAX_EXIF_ENTRIES.into(),
                    ));
                }
                // An entry whose value does not fit the block is skipped, as decoders do.
                let Some(e) = self.tiff.entry(&ifd, i) else {
                    continue;
                };
                match (role, e.tag) {
                    (Role::Ifd0, TAG_ORIENTATION) if e.typ == TYPE_SHORT => {
                        let v = self.tiff.number(&e).unwrap_or(1);
                        self.out.orientation = if (1..=8).contains(&v) { v as u8 } else { 1 };
                    }
                    (Role::Ifd0, TAG_WIDTH) => self.out.width = self.tiff.number(&e),
                    (Role::Ifd0, TAG_HEIGHT) => self.out.height = self.tiff.number(&e),
                    (_, TAG_XMP) => self.out.has_xmp = true,
                    (_, TAG_ICC) => self.out.has_icc = true,
                    (_, TAG_EXIF_IFD) => {
                        self.out.has_exif_ifd = true;
                        pending.extend(self.tiff.number(&e).map(|o| (o, Role::Exif)));
                    }
                    // Some writers put the GPS pointer in the Exif IFD; it still locates the user.
                    (_, TAG_GPS_IFD) => {
                        pending.extend(self.tiff.number(&e).map(|o| (o, Role::Gps)))
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// A TIFF structure: byte order plus bounds-checked reads.
#[derive(Clone, Copy)]
pub(crate) struct Tiff<'a> {
    data: &'a [u8],
    big_endian: bool,
}

/// An IFD whose entry table lies inside the data.
pub(crate) struct Ifd {
    entries_at: usize,
    pub(crate) count: u16,
    /// Offset of the next IFD in the chain; 0 ends it (also when the field is cut off).
    pub(crate) next: u32,
}

pub(crate) struct Entry {
    pub(crate) tag: u16,
    typ: u16,
    count: u32,
    /// Where the value lives, known to hold `count` values of `typ` inside the data.
    value_at: usize,
}

impl<'a> Tiff<'a> {
    /// The structure and its first IFD's offset.
    pub(crate) fn new(data: &'a [u8]) -> Result<(Self, u32), MediaError> {
        let big_endian = match data.get(..2) {
            Some(b"II") => false,
            Some(b"MM") => true,
            _ => return Err(MediaError::malformed("tiff byte order mark")),
        };
        let tiff = Tiff { data, big_endian };
        match tiff.u16(2) {
            Some(42) => {}
            Some(43) => return Err(MediaError::unsupported("bigtiff")),
            _ => return Err(MediaError::malformed("tiff magic number")),
        }
        let ifd0 = tiff
            .u32(4)
            .ok_or_else(|| MediaError::malformed("tiff header truncated"))?;
        Ok((tiff, ifd0))
    }

    fn u16(&self, at: usize) -> Option<u16> {
        let b = array(self.data, at)?;
        Some(if self.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }

    fn u32(&self, at: usize) -> Option<u32> {
        let b = array(self.data, at)?;
        Some(if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    pub(crate) fn ifd(&self, offset: u32) -> Result<Ifd, MediaError> {
        let out_of_bounds = || MediaError::malformed("tiff ifd out of bounds");
        let at = usize::try_from(offset).map_err(|_| out_of_bounds())?;
        let count = self.u16(at).ok_or_else(out_of_bounds)?;
        let entries_at = at.checked_add(2).ok_or_else(out_of_bounds)?;
        let table = usize::from(count) * 12;
        slice(self.data, entries_at, table).ok_or_else(out_of_bounds)?;
        let next = self.u32(entries_at + table).unwrap_or(0);
        Ok(Ifd {
            entries_at,
            count,
            next,
        })
    }

    /// Entry `i` of `ifd`, or `None` when its type is unknown or its value does not fit.
    pub(crate) fn entry(&self, ifd: &Ifd, i: u16) -> Option<Entry> {
        let at = ifd.entries_at.checked_add(usize::from(i) * 12)?;
        let tag = self.u16(at)?;
        let typ = self.u16(at + 2)?;
        let count = self.u32(at + 4)?;
        let size = u64::from(count).checked_mul(type_size(typ)?)?;
        let value_at = if size <= 4 {
            at + 8
        } else {
            usize::try_from(self.u32(at + 8)?).ok()?
        };
        slice(self.data, value_at, usize::try_from(size).ok()?)?;
        Some(Entry {
            tag,
            typ,
            count,
            value_at,
        })
    }

    /// The first value of a SHORT, LONG or IFD entry.
    pub(crate) fn number(&self, e: &Entry) -> Option<u32> {
        if e.count == 0 {
            return None;
        }
        match e.typ {
            TYPE_SHORT => self.u16(e.value_at).map(u32::from),
            TYPE_LONG | TYPE_IFD => self.u32(e.value_at),
            _ => None,
        }
    }
}

/// Bytes per value of a TIFF field type; `None` for types the spec does not define.
fn type_size(typ: u16) -> Option<u64> {
    Some(match typ {
        1 | 2 | 6 | 7 => 1,
        3 | 8 => 2,
        4 | 9 | 11 | 13 => 4,
        5 | 10 | 12 => 8,
        _ => return None,
    })
}
