//! HEIF (HEIC and AVIF): reads the `meta` box's item structure (which items exist, how they
//! reference each other, which properties each has) and reports the primary image's displayed
//! size, checking every coded image's `ispe` and a grid's tile count against the limits before
//! any codec sees a byte. No coded data is read: the HEVC or AV1 payloads stay untouched.
//!
//! The displayed size is what a decoder produces: the primary item's `ispe`, cropped by its
//! `clap` and turned by its `irot`, in association order, as ISO/IEC 23008-12 says. The
//! decoders apply those transforms themselves, so the orientation reported is always 1: an
//! EXIF Orientation tag inside a HEIF file describes the coded pixels and must not be applied
//! a second time.
//!
//! This walker is independent of the decoder's own container parser on purpose: the decoding
//! library checks that its output has exactly the size read here, so a file whose structure
//! two parsers read differently fails as malformed instead of being trusted on either word.

use std::collections::{HashMap, HashSet};

use super::{canvas, count_chunk};
use crate::bytes::{array, be16, be32, byte, slice};
use crate::{Limit, Limits, MediaError, ProbeInfo};

/// Most items one file may declare: a full grid of [`MAX_GRID_TILES`] tiles with an alpha grid
/// of as many, and room for the rest. An iPhone's 12 MP photo has about 50 (48 tiles, the
/// grid, a thumbnail, EXIF) and a 48 MP one about 200. The bound matters beyond the bytes each
/// item costs: heifer's container reader finds items by a linear search, so its work grows
/// with the square of the item count. Measured in the heif guest on files of one picture and
/// many empty items: 1.2 × 10⁷ fuel at 512 items, 2.6 × 10⁷ at 1,024, 8.0 × 10⁷ at 2,048, where
/// such a file's budget is about 6 × 10⁷ at 1,024 and 7.7 × 10⁷ at 2,048.
pub const MAX_HEIF_ITEMS: usize = 1024;

/// Most tiles one grid may reference. 512-pixel tiles (what phones and libheif write) need 191
/// for the default 50 MP limit, and 512 of them make 134 MP; the pixel and frame-area limits
/// bound the decoding work whatever the tile size.
pub const MAX_GRID_TILES: usize = 512;

/// Most item references (`iref` targets) one file may hold: a grid and an alpha grid of
/// [`MAX_GRID_TILES`] each, with room for thumbnails and metadata. Decoders scan the reference
/// list for every tile; the bound keeps that linear in a file's real structure.
pub const MAX_REFERENCE_TARGETS: usize = 4 * MAX_HEIF_ITEMS;

/// How deep derived images may nest (`iden` of a `grid` of coded tiles is 2). Real files use
/// one level; the bound also ends any reference cycle.
const MAX_DERIVATION_DEPTH: u32 = 2;

/// Item types holding a coded picture: HEVC, AV1, and the codecs HEIF also allows.
const CODED: [&[u8; 4]; 6] = [b"hvc1", b"hev1", b"av01", b"jpeg", b"j2k1", b"vvc1"];
/// Item types derived from other images through `dimg` references.
const DERIVED: [&[u8; 4]; 3] = [b"grid", b"iden", b"iovl"];
/// Transformative properties: what a derived image's inputs must not carry.
const TRANSFORMS: [&[u8; 4]; 3] = [b"clap", b"irot", b"imir"];
/// Boxes of `meta` (and `iprp`) a file has at most one of: a second would be read by one
/// parser and not another.
const SINGLE_BOXES: [&[u8; 4]; 9] = [
    b"hdlr", b"pitm", b"iinf", b"iref", b"iprp", b"iloc", b"idat", b"ipco", b"ipma",
];

/// `auxC` types that mark an item as the alpha plane of the image it references (the MPEG
/// systems URN, and HEVC's own). Public so the decoders recognise exactly the same ones.
pub const HEIF_ALPHA_URNS: [&str; 2] = [
    "urn:mpeg:mpegB:cicp:systems:auxiliary:alpha",
    "urn:mpeg:hevc:2015:auxid:1",
];

/// What a decode of the primary image reads: the coded pictures' area, once per reference,
/// and the largest of them (by area).
#[derive(Default)]
struct Reach {
    area: u64,
    largest: (u32, u32),
}

struct Item {
    id: u32,
    kind: [u8; 4],
    /// `mime` items only: the content type (XMP is `application/rdf+xml`).
    content_type: Vec<u8>,
}

/// A box's type and body.
type BmffBox<'a> = ([u8; 4], &'a [u8]);

/// One `iref` entry: `from` references `to` with relation `kind` (`dimg`, `auxl`, `cdsc`, …).
struct Reference {
    kind: [u8; 4],
    from: u32,
    to: Vec<u32>,
}

#[derive(Default)]
struct Meta<'a> {
    primary: Option<u32>,
    items: Vec<Item>,
    /// Each item's position in `items`, by id.
    index: HashMap<u32, usize>,
    /// Each derived item's source images (`dimg`), in order: filled by `check_references`.
    dimg: HashMap<u32, Vec<u32>>,
    /// The items `iloc` locates, each once.
    locations: HashSet<u32>,
    references: Vec<Reference>,
    /// `ipco`'s property boxes, in order (`ipma` indexes them from 1): type and content.
    properties: Vec<BmffBox<'a>>,
    /// `ipma`: each item's property indices, in association order.
    associations: HashMap<u32, Vec<u16>>,
}

pub(super) fn probe(
    d: &[u8],
    limits: &Limits,
    info: &mut ProbeInfo,
) -> Result<Option<usize>, MediaError> {
    // Exactly one `meta` box: with two, this walker and a decoder could each read another
    // (the first here, the last in some parsers), and the checks would bind nothing.
    let mut count = 0;
    let mut top = Boxes::new(d, &mut count);
    let mut meta = None;
    while let Some((kind, body)) = top.next()? {
        if &kind == b"meta" && meta.replace(body).is_some() {
            return Err(MediaError::malformed("heif: more than one meta box"));
        }
    }
    let meta = meta.ok_or_else(|| MediaError::malformed("heif: no meta box"))?;
    let mut meta = read_meta(full_box_body(meta)?, &mut count)?;
    let primary = meta
        .primary
        .ok_or_else(|| MediaError::malformed("heif: no primary item (pitm)"))?;
    let item = meta.item(primary)?;
    if !is_image(&item.kind) {
        return Err(MediaError::unsupported(format!(
            "heif: the primary item is of type {}, not an image",
            fourcc(&item.kind)
        )));
    }
    meta.check_references()?;

    // Every coded picture is checked against the pixel limit on its own, and the pictures a
    // decode reads (the primary's, and its alpha plane's), once per reference, against the
    // frame-area limit: together they bound the decoding work, and that area sizes its fuel.
    for item in meta.items.iter().filter(|i| is_coded(&i.kind)) {
        if let Some((w, h)) = meta.size(item.id)? {
            let pixels = u64::from(w) * u64::from(h);
            if pixels > limits.max_pixels {
                return Err(MediaError::limit(Limit::Pixels, pixels, limits.max_pixels));
            }
        }
    }
    // An alpha plane belongs to the primary image and to nothing else: decoders also decode
    // one attached to a tile or to a derived image inside the primary, once per reference,
    // where this walk would not count it.
    let mut alpha = Vec::new();
    for r in meta.references.iter().filter(|r| &r.kind == b"auxl") {
        if !meta.is_alpha(r.from) {
            continue;
        }
        if r.to.iter().any(|&to| to != primary) {
            return Err(MediaError::malformed(format!(
                "heif: alpha plane {} belongs to an item other than the primary image",
                r.from
            )));
        }
        alpha.push(r.from);
    }
    let mut reach = Reach::default();
    meta.decode_area(primary, 0, limits, &mut reach)?;
    for &plane in &alpha {
        meta.decode_area(plane, 0, limits, &mut reach)?;
    }
    info.largest_picture = reach.largest;
    let area = reach.area;

    let (w, h) = meta.displayed_size(primary)?;
    canvas(info, w, h, limits)?;
    info.frames = 1;
    info.total_frame_area = area.max(u64::from(w) * u64::from(h));
    info.orientation = 1;
    info.has_alpha = !alpha.is_empty();
    info.has_exif = meta.items.iter().any(|i| &i.kind == b"Exif");
    info.has_xmp = meta
        .items
        .iter()
        .any(|i| &i.kind == b"mime" && i.content_type == b"application/rdf+xml");
    info.has_icc = meta.properties.iter().any(|(kind, body)| {
        kind == b"colr" && matches!(array::<4>(body, 0), Some(t) if &t == b"prof" || &t == b"rICC")
    });
    Ok(None)
}

impl<'a> Meta<'a> {
    fn item(&self, id: u32) -> Result<&Item, MediaError> {
        self.index
            .get(&id)
            .and_then(|&i| self.items.get(i))
            .ok_or_else(|| {
                MediaError::malformed(format!("heif: item {id} is referenced but not declared"))
            })
    }

    /// The item's properties, in association order.
    fn properties_of(&self, id: u32) -> impl Iterator<Item = &BmffBox<'a>> {
        self.associations
            .get(&id)
            .into_iter()
            .flatten()
            .filter_map(|&index| self.properties.get(usize::from(index).checked_sub(1)?))
    }

    fn property(&self, id: u32, kind: &[u8; 4]) -> Option<&'a [u8]> {
        self.properties_of(id)
            .find(|(k, _)| k == kind)
            .map(|(_, body)| *body)
    }

    /// The item's `ispe` (width, height), if it has one.
    fn size(&self, id: u32) -> Result<Option<(u32, u32)>, MediaError> {
        let Some(body) = self.property(id, b"ispe") else {
            return Ok(None);
        };
        let body = full_box_body(body)?;
        match (be32(body, 0), be32(body, 4)) {
            (Some(w), Some(h)) if w > 0 && h > 0 => Ok(Some((w, h))),
            (Some(_), Some(_)) => Err(MediaError::malformed("heif: ispe has a zero side")),
            _ => Err(MediaError::malformed("heif: ispe truncated")),
        }
    }

    /// The size a decoder gives the item: `ispe`, then each `clap` and `irot` in order.
    fn displayed_size(&self, id: u32) -> Result<(u32, u32), MediaError> {
        let (mut w, mut h) = self
            .size(id)?
            .ok_or_else(|| MediaError::malformed("heif: the primary image has no ispe"))?;
        for (kind, body) in self.properties_of(id) {
            match kind {
                b"clap" => (w, h) = clean_aperture(body, w, h)?,
                b"irot" if byte(body, 0).is_some_and(|r| r & 1 == 1) => (w, h) = (h, w),
                _ => {}
            }
        }
        if w == 0 || h == 0 {
            return Err(MediaError::malformed(
                "heif: clap crops the image to nothing",
            ));
        }
        Ok((w, h))
    }

    /// Refuses references two readers could follow differently: a coded picture deriving
    /// from other items (only `grid`, `iden` and `iovl` do; a coded item with `dimg`
    /// references can send a reader round a cycle), and a second `dimg` list for one item.
    fn check_references(&mut self) -> Result<(), MediaError> {
        for (&id, _) in self.associations.iter() {
            if self.properties_of(id).filter(|(k, _)| k == b"auxC").count() > 1 {
                return Err(MediaError::malformed(format!(
                    "heif: item {id} has more than one auxiliary type"
                )));
            }
        }
        if let Some(id) = self
            .locations
            .iter()
            .find(|id| !self.index.contains_key(id))
        {
            return Err(MediaError::malformed(format!(
                "heif: iloc locates item {id}, which is not declared"
            )));
        }
        for r in self.references.iter().filter(|r| &r.kind == b"dimg") {
            if !is_derived(&self.item(r.from)?.kind) {
                return Err(MediaError::malformed(format!(
                    "heif: item {} is not a derived image but lists source images",
                    r.from
                )));
            }
            if self.dimg.insert(r.from, r.to.clone()).is_some() {
                return Err(MediaError::malformed(format!(
                    "heif: item {} lists its source images twice",
                    r.from
                )));
            }
        }
        Ok(())
    }

    /// The source images a derived item lists (`dimg`), in order.
    fn sources(&self, id: u32) -> &[u32] {
        self.dimg.get(&id).map_or(&[], Vec::as_slice)
    }

    /// Adds to `reach` every coded picture a decode of `id` reads, once per reference (a grid
    /// that lists one tile 16 times decodes it 16 times), checking on the way that: a coded
    /// picture has an `ispe`; a `grid` or `iovl` lists 1 to [`MAX_GRID_TILES`] coded pictures
    /// without transforms of their own (MIAF allows none on a derived image's inputs, and
    /// decoders disagree on applying them); an `iden` has exactly one source; no item derives
    /// from itself; nesting stays within [`MAX_DERIVATION_DEPTH`]. Stops at the first limit
    /// crossed, so the walk is bounded by the limits, whatever the file lists.
    fn decode_area(
        &self,
        id: u32,
        depth: u32,
        limits: &Limits,
        reach: &mut Reach,
    ) -> Result<(), MediaError> {
        let item = self.item(id)?;
        if is_coded(&item.kind) {
            let (w, h) = self
                .size(id)?
                .ok_or_else(|| MediaError::malformed(format!("heif: picture {id} has no ispe")))?;
            let pixels = u64::from(w) * u64::from(h);
            reach.area = reach.area.saturating_add(pixels);
            let (lw, lh) = reach.largest;
            if pixels > u64::from(lw) * u64::from(lh) {
                reach.largest = (w, h);
            }
            if reach.area > limits.max_total_frame_area {
                return Err(MediaError::limit(
                    Limit::FrameArea,
                    reach.area,
                    limits.max_total_frame_area,
                ));
            }
            return Ok(());
        }
        if !is_derived(&item.kind) {
            return Err(MediaError::unsupported(format!(
                "heif: item {id} of type {} is not an image",
                fourcc(&item.kind)
            )));
        }
        if depth >= MAX_DERIVATION_DEPTH {
            return Err(MediaError::malformed(
                "heif: derived images nest too deep (or reference each other)",
            ));
        }
        let sources = self.sources(id);
        let kind = fourcc(&item.kind);
        if sources.is_empty() {
            return Err(MediaError::malformed(format!(
                "heif: {kind} item {id} has no source images"
            )));
        }
        if &item.kind == b"iden" && sources.len() != 1 {
            return Err(MediaError::malformed(format!(
                "heif: iden item {id} has {} sources, not one",
                sources.len()
            )));
        }
        if sources.len() > MAX_GRID_TILES {
            return Err(MediaError::limit(
                Limit::Structure,
                sources.len() as u64,
                MAX_GRID_TILES as u64,
            ));
        }
        let tiled = &item.kind == b"grid" || &item.kind == b"iovl";
        for &source in sources {
            if source == id {
                return Err(MediaError::malformed(format!(
                    "heif: item {id} derives from itself"
                )));
            }
            if tiled {
                if !is_coded(&self.item(source)?.kind) {
                    return Err(MediaError::malformed(format!(
                        "heif: {kind} {id} has input {source}, which is not a coded picture"
                    )));
                }
                if self
                    .properties_of(source)
                    .any(|(k, _)| TRANSFORMS.contains(&k))
                {
                    return Err(MediaError::malformed(format!(
                        "heif: {kind} {id} has input {source}, which carries a transform"
                    )));
                }
            }
            self.decode_area(source, depth + 1, limits, reach)?;
        }
        Ok(())
    }

    /// Whether any of the item's `auxC` properties names an alpha plane (as decoders look).
    fn is_alpha(&self, id: u32) -> bool {
        self.properties_of(id)
            .filter(|(kind, _)| kind == b"auxC")
            .filter_map(|(_, body)| full_box_body(body).ok())
            .any(|body| {
                let urn = body.split(|&b| b == 0).next().unwrap_or_default();
                HEIF_ALPHA_URNS.iter().any(|u| u.as_bytes() == urn)
            })
    }
}

/// The size a `clap` crop leaves of a `w`×`h` picture: its width and height fractions,
/// rounded, and no more than what lies inside the picture from the crop's (rounded, centred)
/// corner, as the decoder computes it.
fn clean_aperture(body: &[u8], w: u32, h: u32) -> Result<(u32, u32), MediaError> {
    let field =
        |i: usize| be32(body, i * 4).ok_or_else(|| MediaError::malformed("heif: clap truncated"));
    let (wn, wd, hn, hd) = (field(0)?, field(1)?, field(2)?, field(3)?);
    let (xn, xd, yn, yd) = (field(4)?, field(5)?, field(6)?, field(7)?);
    if wd == 0 || hd == 0 || xd == 0 || yd == 0 {
        return Err(MediaError::malformed("heif: clap with a zero denominator"));
    }
    // The offsets are signed fractions (two's complement numerators).
    let signed = |n: u32| f64::from(n as i32);
    let side = |n: u32, d: u32| f64::from(n) / f64::from(d);
    let (cw, ch) = (side(wn, wd), side(hn, hd));
    let cx = signed(xn) / f64::from(xd) + (f64::from(w) - 1.0) / 2.0;
    let cy = signed(yn) / f64::from(yd) + (f64::from(h) - 1.0) / 2.0;
    // `as` saturates: a NaN or negative reads 0, a huge value u32::MAX, then clamped below.
    let left = ((cx - (cw - 1.0) / 2.0).round().max(0.0) as u32).min(w);
    let top = ((cy - (ch - 1.0) / 2.0).round().max(0.0) as u32).min(h);
    Ok((
        (cw.round() as u32).min(w - left),
        (ch.round() as u32).min(h - top),
    ))
}

fn read_meta<'a>(d: &'a [u8], count: &mut u32) -> Result<Meta<'a>, MediaError> {
    let mut meta = Meta::default();
    let mut seen = Vec::new();
    let mut once = |kind: &[u8; 4]| {
        if SINGLE_BOXES.contains(&kind) {
            if seen.contains(kind) {
                return Err(MediaError::malformed(format!(
                    "heif: more than one {} box",
                    fourcc(kind)
                )));
            }
            seen.push(*kind);
        }
        Ok(())
    };
    let mut boxes = Boxes::new(d, count);
    while let Some((kind, body)) = boxes.next()? {
        once(&kind)?;
        match &kind {
            b"pitm" => {
                let (version, body) = versioned(body)?;
                let id = if version == 0 {
                    be16(body, 0).map(u32::from)
                } else {
                    be32(body, 0)
                };
                meta.primary =
                    Some(id.ok_or_else(|| MediaError::malformed("heif: pitm truncated"))?);
            }
            b"iinf" => read_items(body, &mut meta, boxes.count)?,
            b"iloc" => read_locations(body, &mut meta)?,
            b"iref" => read_references(body, &mut meta, boxes.count)?,
            b"iprp" => {
                let mut inner = Boxes::new(body, boxes.count);
                while let Some((kind, body)) = inner.next()? {
                    once(&kind)?;
                    match &kind {
                        b"ipco" => {
                            let mut props = Boxes::new(body, inner.count);
                            while let Some(property) = props.next()? {
                                meta.properties.push(property);
                            }
                        }
                        b"ipma" => read_associations(body, &mut meta)?,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(meta)
}

fn read_items(body: &[u8], meta: &mut Meta<'_>, count: &mut u32) -> Result<(), MediaError> {
    let (version, body) = versioned(body)?;
    let skip = if version == 0 { 2 } else { 4 };
    let entries = slice(body, skip, body.len().saturating_sub(skip))
        .ok_or_else(|| MediaError::malformed("heif: iinf truncated"))?;
    let mut boxes = Boxes::new(entries, count);
    while let Some((kind, body)) = boxes.next()? {
        if &kind != b"infe" {
            continue;
        }
        let (version, body) = versioned(body)?;
        // Versions 0 and 1 predate item types: nothing a HEIF image uses.
        if version < 2 {
            continue;
        }
        let (id, rest) = if version == 2 {
            (be16(body, 0).map(u32::from), 2)
        } else {
            (be32(body, 0), 4)
        };
        let truncated = || MediaError::malformed("heif: infe truncated");
        let id = id.ok_or_else(truncated)?;
        // Then the protection index (2 bytes), the type, the name (C string), and for `mime`
        // items the content type (C string).
        let kind = array::<4>(body, rest + 2).ok_or_else(truncated)?;
        let strings = body.get(rest + 6..).unwrap_or_default();
        let content_type = strings
            .split(|&b| b == 0)
            .nth(1)
            .filter(|_| &kind == b"mime")
            .unwrap_or_default()
            .to_vec();
        if meta.items.len() >= MAX_HEIF_ITEMS {
            return Err(MediaError::limit(
                Limit::Structure,
                meta.items.len() as u64 + 1,
                MAX_HEIF_ITEMS as u64,
            ));
        }
        if meta.index.insert(id, meta.items.len()).is_some() {
            return Err(MediaError::malformed(format!(
                "heif: item {id} declared twice"
            )));
        }
        meta.items.push(Item {
            id,
            kind,
            content_type,
        });
    }
    Ok(())
}

/// Reads which items `iloc` locates: at most [`MAX_HEIF_ITEMS`] entries, each item once (a
/// decoder looks each item's location up in this list, so its length multiplies its work).
fn read_locations(body: &[u8], meta: &mut Meta<'_>) -> Result<(), MediaError> {
    let truncated = || MediaError::malformed("heif: iloc truncated");
    let (version, body) = versioned(body)?;
    let sizes = byte(body, 0).ok_or_else(truncated)?;
    let more = byte(body, 1).ok_or_else(truncated)?;
    let (offset_size, length_size) = (usize::from(sizes >> 4), usize::from(sizes & 0x0f));
    let base_offset_size = usize::from(more >> 4);
    let index_size = if version >= 1 {
        usize::from(more & 0x0f)
    } else {
        0
    };
    let (count, mut at) = if version < 2 {
        (be16(body, 2).map(u32::from).ok_or_else(truncated)?, 4)
    } else {
        (be32(body, 2).ok_or_else(truncated)?, 6)
    };
    if count as usize > MAX_HEIF_ITEMS {
        return Err(MediaError::limit(
            Limit::Structure,
            count.into(),
            MAX_HEIF_ITEMS as u64,
        ));
    }
    for _ in 0..count {
        let id = if version < 2 {
            be16(body, at).map(u32::from)
        } else {
            be32(body, at)
        }
        .ok_or_else(truncated)?;
        at += if version < 2 { 2 } else { 4 };
        if version >= 1 {
            at += 2; // construction method
        }
        at += 2 + base_offset_size; // data reference index, base offset
        let extents = usize::from(be16(body, at).ok_or_else(truncated)?);
        at += 2 + extents * (index_size + offset_size + length_size);
        if at > body.len() {
            return Err(truncated());
        }
        if !meta.locations.insert(id) {
            return Err(MediaError::malformed(format!(
                "heif: iloc locates item {id} twice"
            )));
        }
    }
    Ok(())
}

fn read_references(body: &[u8], meta: &mut Meta<'_>, count: &mut u32) -> Result<(), MediaError> {
    let (version, body) = versioned(body)?;
    let wide = version != 0;
    let id_at = |d: &[u8], at: usize| {
        if wide {
            be32(d, at)
        } else {
            be16(d, at).map(u32::from)
        }
    };
    let width = if wide { 4 } else { 2 };
    let mut targets = 0usize;
    let mut boxes = Boxes::new(body, count);
    while let Some((kind, body)) = boxes.next()? {
        let truncated = || MediaError::malformed("heif: iref entry truncated");
        let from = id_at(body, 0).ok_or_else(truncated)?;
        let n = usize::from(be16(body, width).ok_or_else(truncated)?);
        let to = (0..n)
            .map(|i| id_at(body, width + 2 + i * width).ok_or_else(truncated))
            .collect::<Result<Vec<_>, _>>()?;
        targets += to.len();
        if targets > MAX_REFERENCE_TARGETS {
            return Err(MediaError::limit(
                Limit::Structure,
                targets as u64,
                MAX_REFERENCE_TARGETS as u64,
            ));
        }
        meta.references.push(Reference { kind, from, to });
    }
    Ok(())
}

fn read_associations(body: &[u8], meta: &mut Meta<'_>) -> Result<(), MediaError> {
    let truncated = || MediaError::malformed("heif: ipma truncated");
    let version = byte(body, 0).ok_or_else(truncated)?;
    let wide_index = byte(body, 3).ok_or_else(truncated)? & 1 == 1;
    let entries = be32(body, 4).ok_or_else(truncated)?;
    // One entry per item at most (checked below), and items are at most MAX_HEIF_ITEMS.
    if entries as usize > MAX_HEIF_ITEMS {
        return Err(MediaError::limit(
            Limit::Structure,
            entries.into(),
            MAX_HEIF_ITEMS as u64,
        ));
    }
    let mut at = 8;
    for _ in 0..entries {
        let id = if version == 0 {
            be16(body, at).map(u32::from)
        } else {
            be32(body, at)
        }
        .ok_or_else(truncated)?;
        at += if version == 0 { 2 } else { 4 };
        let n = byte(body, at).ok_or_else(truncated)?;
        at += 1;
        let mut indices = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            // The top bit says whether the property is essential; the rest is its index.
            let index = if wide_index {
                be16(body, at).map(|v| v & 0x7fff)
            } else {
                byte(body, at).map(|v| u16::from(v & 0x7f))
            }
            .ok_or_else(truncated)?;
            at += if wide_index { 2 } else { 1 };
            indices.push(index);
        }
        if meta.associations.insert(id, indices).is_some() {
            return Err(MediaError::malformed(format!(
                "heif: item {id} has two property associations"
            )));
        }
    }
    Ok(())
}

/// Consecutive ISO-BMFF boxes in a slice, each counted against [`super::MAX_CHUNKS`] for
/// the whole file.
struct Boxes<'a, 'c> {
    d: &'a [u8],
    pos: usize,
    count: &'c mut u32,
}

impl<'a, 'c> Boxes<'a, 'c> {
    fn new(d: &'a [u8], count: &'c mut u32) -> Self {
        Boxes { d, pos: 0, count }
    }

    /// The next box's type and body; `None` at the end. A box that claims to run past the
    /// end is malformed (a cut-off file).
    fn next(&mut self) -> Result<Option<BmffBox<'a>>, MediaError> {
        if self.pos >= self.d.len() {
            return Ok(None);
        }
        count_chunk(self.count)?;
        let truncated = || MediaError::malformed("heif: box header truncated");
        let size = be32(self.d, self.pos).ok_or_else(truncated)?;
        let kind = array::<4>(self.d, self.pos + 4).ok_or_else(truncated)?;
        let (header, size) = match size {
            // Extends to the end of the enclosing box.
            0 => (8, (self.d.len() - self.pos) as u64),
            1 => {
                let large = array::<8>(self.d, self.pos + 8).ok_or_else(truncated)?;
                (16, u64::from_be_bytes(large))
            }
            n => (8, u64::from(n)),
        };
        let body = usize::try_from(size)
            .ok()
            .and_then(|size| size.checked_sub(header))
            .and_then(|len| slice(self.d, self.pos + header, len))
            .ok_or_else(|| {
                MediaError::malformed(format!("heif: box {} runs past its end", fourcc(&kind)))
            })?;
        self.pos += header + body.len();
        Ok(Some((kind, body)))
    }
}

/// A full box's version and the body after its version and flags.
fn versioned(body: &[u8]) -> Result<(u8, &[u8]), MediaError> {
    let version = byte(body, 0).ok_or_else(|| MediaError::malformed("heif: full box truncated"))?;
    Ok((version, full_box_body(body)?))
}

fn full_box_body(body: &[u8]) -> Result<&[u8], MediaError> {
    body.get(4..)
        .ok_or_else(|| MediaError::malformed("heif: full box truncated"))
}

fn is_coded(kind: &[u8; 4]) -> bool {
    CODED.contains(&kind)
}

fn is_derived(kind: &[u8; 4]) -> bool {
    DERIVED.contains(&kind)
}

fn is_image(kind: &[u8; 4]) -> bool {
    is_coded(kind) || is_derived(kind)
}

fn fourcc(kind: &[u8; 4]) -> String {
    kind.iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            }
        })
        .collect()
}
