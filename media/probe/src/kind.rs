use crate::bytes::{array, be32, byte, find, le16, le32, slice};

/// The real type of an upload, from its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Jpeg,
    Png,
    Gif,
    Webp,
    Tiff,
    Bmp,
    Ico,
    Avif,
    Heic,
    Svg,
    Pdf,
    Html,
    Zip,
    Gzip,
    Mp4,
    Quicktime,
    Webm,
    Matroska,
    Avi,
    Hls,
    Elf,
    Pe,
    Unknown,
}

impl Kind {
    /// Every kind, in declaration order.
    pub const ALL: [Kind; 23] = [
        Kind::Jpeg,
        Kind::Png,
        Kind::Gif,
        Kind::Webp,
        Kind::Tiff,
        Kind::Bmp,
        Kind::Ico,
        Kind::Avif,
        Kind::Heic,
        Kind::Svg,
        Kind::Pdf,
        Kind::Html,
        Kind::Zip,
        Kind::Gzip,
        Kind::Mp4,
        Kind::Quicktime,
        Kind::Webm,
        Kind::Matroska,
        Kind::Avi,
        Kind::Hls,
        Kind::Elf,
        Kind::Pe,
        Kind::Unknown,
    ];

    /// Canonical MIME type: the IANA-registered one where there is one, else the de facto one.
    pub const fn mime(self) -> &'static str {
        match self {
            Kind::Jpeg => "image/jpeg",
            Kind::Png => "image/png",
            Kind::Gif => "image/gif",
            Kind::Webp => "image/webp",
            Kind::Tiff => "image/tiff",
            Kind::Bmp => "image/bmp",
            Kind::Ico => "image/vnd.microsoft.icon",
            Kind::Avif => "image/avif",
            Kind::Heic => "image/heic",
            Kind::Svg => "image/svg+xml",
            Kind::Pdf => "application/pdf",
            Kind::Html => "text/html",
            Kind::Zip => "application/zip",
            Kind::Gzip => "application/gzip",
            Kind::Mp4 => "video/mp4",
            Kind::Quicktime => "video/quicktime",
            Kind::Webm => "video/webm",
            Kind::Matroska => "video/x-matroska",
            Kind::Avi => "video/x-msvideo",
            Kind::Hls => "application/vnd.apple.mpegurl",
            Kind::Elf => "application/x-executable",
            Kind::Pe => "application/vnd.microsoft.portable-executable",
            Kind::Unknown => "application/octet-stream",
        }
    }
    /// Short lowercase name, used in JSON output and metric labels. Equal to the WIT `kind`
    /// case name.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Jpeg => "jpeg",
            Kind::Png => "png",
            Kind::Gif => "gif",
            Kind::Webp => "webp",
            Kind::Tiff => "tiff",
            Kind::Bmp => "bmp",
            Kind::Ico => "ico",
            Kind::Avif => "avif",
            Kind::Heic => "heic",
            Kind::Svg => "svg",
            Kind::Pdf => "pdf",
            Kind::Html => "html",
            Kind::Zip => "zip",
            Kind::Gzip => "gzip",
            Kind::Mp4 => "mp4",
            Kind::Quicktime => "quicktime",
            Kind::Webm => "webm",
            Kind::Matroska => "matroska",
            Kind::Avi => "avi",
            Kind::Hls => "hls",
            Kind::Elf => "elf",
            Kind::Pe => "pe",
            Kind::Unknown => "unknown",
        }
    }
    /// Containers that go to the (sandboxed) ffmpeg path.
    pub const fn is_video(self) -> bool {
        matches!(
            self,
            Kind::Mp4 | Kind::Quicktime | Kind::Webm | Kind::Matroska | Kind::Avi
        )
    }
}

/// How much of the input sniffing looks at. Every binary magic sits in the first few dozen
/// bytes; 4 KiB also leaves text formats room for a BOM, an XML declaration, a licence comment
/// and a DOCTYPE before their first element, and keeps sniffing O(1) on a huge upload.
pub const SNIFF_PREFIX: usize = 4096;

/// PDF readers accept a `%PDF-` header anywhere in the first 1024 bytes, so junk in front of
/// the header does not stop a file from opening as a PDF, and must not stop us calling it one.
const PDF_HEADER_WINDOW: usize = 1024;

/// The real type of `data` from its leading bytes (and, for text formats, a bounded look at
/// its start). Never fails: unknown data is [`Kind::Unknown`].
///
/// Order matters for polyglots: a magic at offset 0 wins; then text anchored at the start
/// (HLS, SVG, HTML), because a browser renders those whatever follows; only then a `%PDF-`
/// header further in, the weakest signal.
pub fn sniff(data: &[u8]) -> Kind {
    let head = data.get(..SNIFF_PREFIX).unwrap_or(data);
    binary(head, data)
        .or_else(|| text(head))
        .or_else(|| {
            let window = head.get(..PDF_HEADER_WINDOW).unwrap_or(head);
            find(window, b"%PDF-").map(|_| Kind::Pdf)
        })
        .unwrap_or(Kind::Unknown)
}

fn binary(h: &[u8], data: &[u8]) -> Option<Kind> {
    let at0 = |magic: &[u8]| h.starts_with(magic);
    let riff = |form: &[u8]| at0(b"RIFF") && h.get(8..12) == Some(form);
    let kind = if at0(b"\xFF\xD8\xFF") {
        Kind::Jpeg
    } else if at0(b"\x89PNG\r\n\x1A\n") {
        Kind::Png
    } else if at0(b"GIF87a") || at0(b"GIF89a") {
        Kind::Gif
    } else if riff(b"WEBP") {
        Kind::Webp
    } else if riff(b"AVI ") {
        Kind::Avi
    } else if [b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"]
        .iter()
        .any(|m| at0(*m))
    {
        // The last two are BigTIFF: still TIFF, which probe reports as unsupported.
        Kind::Tiff
    } else if at0(b"%PDF-") {
        Kind::Pdf
    } else if at0(b"\x1F\x8B\x08") {
        Kind::Gzip
    } else if at0(b"PK\x03\x04") || at0(b"PK\x05\x06") {
        Kind::Zip
    } else if at0(b"\x7FELF") {
        Kind::Elf
    } else if h.get(4..8) == Some(b"ftyp") {
        // Before ICO: a 256-byte ftyp box starts with the ICO magic 00 00 01 00.
        return iso_bmff(h);
    } else if at0(b"\x1A\x45\xDF\xA3") {
        return ebml(h);
    } else if at0(b"MZ") {
        // "MZ" alone is two printable letters; only a PE header where e_lfanew points makes
        // it an executable. e_lfanew is one O(1) read, so follow it even past the prefix.
        let pe_at = le32(data, 0x3C).and_then(|o| usize::try_from(o).ok());
        return pe_at
            .filter(|&at| slice(data, at, 4) == Some(b"PE\0\0"))
            .map(|_| Kind::Pe);
    } else if at0(b"BM") && matches!(le32(h, 14), Some(12 | 40 | 52 | 56 | 64 | 108 | 124)) {
        // "BM" is too short to trust alone; the DIB header size must be a real one.
        Kind::Bmp
    } else if at0(b"\0\0\x01\0") && le16(h, 4).is_some_and(|n| n > 0) && byte(h, 9) == Some(0) {
        // Image count and the first entry's reserved byte, to tell ICO from zeros.
        Kind::Ico
    } else {
        return None;
    };
    Some(kind)
}

/// ISO-BMFF (`ftyp` box): the brands say which member of the family this is. The major
/// brand decides when it is specific; generic HEIF brands (mif1, msf1) defer to the
/// compatible brands, where AVIF outranks HEIC (AVIF files list mif1 too).
fn iso_bmff(h: &[u8]) -> Option<Kind> {
    let major = array::<4>(h, 8)?;
    if let Some(kind) = brand(&major) {
        return Some(kind);
    }
    let box_end = be32(h, 0)
        .and_then(|s| usize::try_from(s).ok())
        .filter(|&s| s >= 16)
        .map_or(16, |s| s.min(h.len()));
    let compatible = || h.get(16..box_end).unwrap_or_default().chunks_exact(4);
    let generic_heif = |b: &[u8]| b == b"mif1" || b == b"msf1";
    [Kind::Avif, Kind::Heic, Kind::Quicktime, Kind::Mp4]
        .into_iter()
        .find(|&k| compatible().any(|b| brand(b) == Some(k)))
        .or_else(|| {
            let heif = generic_heif(&major) || compatible().any(generic_heif);
            heif.then_some(Kind::Heic)
        })
}

fn brand(b: &[u8]) -> Option<Kind> {
    Some(match b {
        b"avif" | b"avis" => Kind::Avif,
        b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" | b"hevm" | b"hevs" => Kind::Heic,
        b"qt  " => Kind::Quicktime,
        b"isom" | b"iso2" | b"iso3" | b"iso4" | b"iso5" | b"iso6" | b"iso7" | b"iso8" | b"iso9"
        | b"mp41" | b"mp42" | b"mp71" | b"avc1" | b"M4V " | b"M4VH" | b"M4VP" | b"M4A "
        | b"dash" | b"f4v " | b"MSNV" | b"mmp4" | b"XAVC" | b"NDAS" | b"3gp4" | b"3gp5"
        | b"3gp6" | b"3gp7" | b"3gp8" | b"3gp9" | b"3g2a" | b"3g2b" | b"3g2c" => Kind::Mp4,
        _ => return None,
    })
}

/// EBML (Matroska family): the header's DocType element tells WebM from Matroska; the
/// spec's default when it is absent is "matroska".
fn ebml(h: &[u8]) -> Option<Kind> {
    const DOC_TYPE: u64 = 0x4282;
    let (size, n) = vint(h, 4, false)?;
    let mut pos = 4 + n;
    let end = usize::try_from(size)
        .ok()
        .and_then(|s| pos.checked_add(s))
        .map_or(h.len(), |e| e.min(h.len()));
    while pos < end {
        let (id, id_len) = vint(h, pos, true)?;
        let (len, len_len) = vint(h, pos.checked_add(id_len)?, false)?;
        let body = pos.checked_add(id_len)?.checked_add(len_len)?;
        // In u64, not usize: an element size that fits a 64-bit usize but not wasm32's must
        // end the walk the same way in the guest as natively (a 21-byte header with an 8-byte
        // size read Matroska natively and nothing in the guest: found by the differential
        // fuzz target).
        let next = u64::try_from(body).ok()?.checked_add(len)?;
        let stop = usize::try_from(next).map_or(h.len(), |n| n.min(h.len()));
        if id == DOC_TYPE {
            let value = h.get(body..stop)?;
            let value = value.split(|&b| b == 0).next().unwrap_or_default();
            return match value {
                b"webm" => Some(Kind::Webm),
                b"matroska" => Some(Kind::Matroska),
                _ => None,
            };
        }
        pos = usize::try_from(next).unwrap_or(usize::MAX);
    }
    Some(Kind::Matroska)
}

/// An EBML variable-length integer at `at`: (value, encoded length). IDs keep their length
/// marker bit; sizes do not.
fn vint(h: &[u8], at: usize, keep_marker: bool) -> Option<(u64, usize)> {
    let first = byte(h, at)?;
    let len = first.leading_zeros() as usize + 1;
    if len > 8 {
        return None;
    }
    let mut value = if keep_marker {
        u64::from(first)
    } else {
        // 0xFF >> 8 would overflow a u8 shift; in u64 it clears the whole first byte.
        u64::from(first) & (0xFF >> len)
    };
    for i in 1..len {
        value = (value << 8) | u64::from(byte(h, at.checked_add(i)?)?);
    }
    Some((value, len))
}

/// Text formats anchored at the start of the data, after an optional UTF-8 BOM and
/// whitespace.
fn text(h: &[u8]) -> Option<Kind> {
    let t = skip_ws(h.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(h));
    if t.starts_with(b"#EXTM3U") {
        return Some(Kind::Hls);
    }
    markup(t)
}

/// Element names that make the WHATWG MIME sniffer call a resource HTML when they come
/// first (plus iframe), compared case-insensitively.
const HTML_FIRST_ELEMENTS: &[&[u8]] = &[
    b"html", b"head", b"body", b"script", b"iframe", b"title", b"style", b"div", b"table", b"a",
    b"p", b"br", b"font", b"h1", b"b",
];

/// Skips XML declarations, processing instructions, comments and DOCTYPEs, then names the
/// kind by the first element.
fn markup(mut t: &[u8]) -> Option<Kind> {
    loop {
        t = skip_ws(t);
        if t.starts_with(b"<?") {
            t = after(t, b"?>")?;
        } else if t.starts_with(b"<!--") {
            t = after(t.get(4..)?, b"-->")?;
        } else if starts_with_ci(t, b"<!doctype") {
            let name = skip_ws(t.get(9..)?);
            if starts_with_ci(name, b"html") && name.get(4).is_none_or(|&b| ends_name(b)) {
                return Some(Kind::Html);
            }
            t = skip_doctype(t)?;
        } else if let Some(rest) = t.strip_prefix(b"<") {
            let len = rest.iter().position(|&b| ends_name(b))?;
            let name = rest.get(..len)?;
            // XML is case-sensitive and allows a namespace prefix (<svg:svg xmlns:svg=...>).
            let local = name.rsplit(|&b| b == b':').next().unwrap_or(name);
            if local == b"svg" {
                return Some(Kind::Svg);
            }
            let html = HTML_FIRST_ELEMENTS
                .iter()
                .any(|e| name.eq_ignore_ascii_case(e));
            return html.then_some(Kind::Html);
        } else {
            return None;
        }
    }
}

fn ends_name(b: u8) -> bool {
    b.is_ascii_whitespace() || b == b'>' || b == b'/'
}

fn skip_ws(t: &[u8]) -> &[u8] {
    let n = t.iter().take_while(|b| b.is_ascii_whitespace()).count();
    t.get(n..).unwrap_or_default()
}

fn starts_with_ci(t: &[u8], prefix: &[u8]) -> bool {
    t.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

/// The rest of `t` after the first `end`.
fn after<'a>(t: &'a [u8], end: &[u8]) -> Option<&'a [u8]> {
    t.get(find(t, end)?.checked_add(end.len())?..)
}

/// The rest after a DOCTYPE, whose internal subset `[...]` may itself contain `>`.
fn skip_doctype(t: &[u8]) -> Option<&[u8]> {
    let mut in_subset = false;
    for (i, &b) in t.iter().enumerate() {
        match b {
            b'[' => in_subset = true,
            b']' => in_subset = false,
            b'>' if !in_subset => return t.get(i.checked_add(1)?..),
            _ => {}
        }
    }
    None
}
