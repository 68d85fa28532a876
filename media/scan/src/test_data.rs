//! Hand-built inputs for the unit tests: minimal valid images of each walked format, a
//! ZIP writer that can lie in every field the archive rules read, and a seeded PRNG.
//! Layout only: nothing here needs a decoder to accept the pixels.

/// A minimal baseline JPEG: SOI, an APP1 EXIF block (a little-endian TIFF header and an
/// empty IFD0) followed by a fake thumbnail (SOI..EOI) where real EXIF keeps it, SOF0, SOS
/// with entropy bytes containing stuffed 0xFF00 and a restart marker, then EOI. Layout
/// only; no decoder needs to accept the pixels.
pub(crate) fn tiny_jpeg() -> Vec<u8> {
    let mut j = vec![0xFF, 0xD8];
    let app1: &[u8] = b"Exif\0\0II*\0\x08\0\0\0\0\0\0\0\0\0\xFF\xD8\xFF\xD9";
    j.extend_from_slice(&[0xFF, 0xE1]);
    j.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    j.extend_from_slice(app1);
    j.extend_from_slice(&[0xFF, 0xC0, 0, 11, 8, 0, 1, 0, 1, 1, 1, 0x11, 0]);
    j.extend_from_slice(&[0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0]);
    j.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0x00]);
    j.extend_from_slice(&[0xFF, 0xD9]);
    j
}

pub(crate) fn tiny_png() -> Vec<u8> {
    let mut p = b"\x89PNG\r\n\x1a\n".to_vec();
    let chunk = |p: &mut Vec<u8>, ty: &[u8], data: &[u8]| {
        p.extend_from_slice(&(data.len() as u32).to_be_bytes());
        p.extend_from_slice(ty);
        p.extend_from_slice(data);
        p.extend_from_slice(&[0, 0, 0, 0]);
    };
    chunk(&mut p, b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0]);
    chunk(&mut p, b"IDAT", &[0x78, 0x9C, 0x63, 0x60, 0, 0, 0, 2, 0, 1]);
    chunk(&mut p, b"IEND", &[]);
    p
}

/// GIF89a with a global colour table, a graphic control extension, one image with a
/// local colour table whose data contains 0x3B bytes, then the trailer.
pub(crate) fn tiny_gif() -> Vec<u8> {
    let mut g = b"GIF89a".to_vec();
    g.extend_from_slice(&[1, 0, 1, 0, 0x80, 0, 0]);
    g.extend_from_slice(&[0, 0, 0, 0x3B, 0x3B, 0x3B]);
    g.extend_from_slice(&[0x21, 0xF9, 4, 0, 0, 0, 0, 0]);
    g.extend_from_slice(&[0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0x80, 1, 2, 3, 4, 5, 6]);
    g.extend_from_slice(&[2, 2, 0x3B, 0x3B, 0]);
    g.push(0x3B);
    g
}

pub(crate) fn tiny_webp() -> Vec<u8> {
    let mut w = b"RIFF".to_vec();
    let body: &[u8] = b"WEBPVP8L\x05\0\0\0\x2f\0\0\0\0\0";
    w.extend_from_slice(&(body.len() as u32).to_le_bytes());
    w.extend_from_slice(body);
    w
}

#[derive(Clone)]
pub(crate) struct ZipEntry {
    pub(crate) name: String,
    pub(crate) data: Vec<u8>,
    pub(crate) method: u16,
    /// Declared uncompressed size; ZIP64 fields are written when it does not fit in 32 bits.
    pub(crate) uncompressed: u64,
    /// Write the 0xFFFFFFFF sentinel without the ZIP64 extra field that should explain it.
    pub(crate) omit_zip64_extra: bool,
}

impl ZipEntry {
    pub(crate) fn stored(name: &str, data: &[u8]) -> Self {
        ZipEntry {
            name: name.into(),
            data: data.to_vec(),
            method: 0,
            uncompressed: data.len() as u64,
            omit_zip64_extra: false,
        }
    }

    /// `data` stands for the compressed stream; set `uncompressed` to what it claims.
    pub(crate) fn deflated(name: &str, data: &[u8]) -> Self {
        ZipEntry {
            method: 8,
            ..Self::stored(name, data)
        }
    }
}

/// A ZIP writer. Each central directory record points at a local header; `alias` adds
/// records that point at an existing one, `stretch` lengthens a record's compressed size
/// past its real data, so overlapping layouts can be built.
#[derive(Default)]
pub(crate) struct Zip {
    entries: Vec<ZipEntry>,
    /// (index of the entry whose local header is reused, new name)
    aliases: Vec<(usize, String)>,
    stretch: Vec<(usize, u32)>,
    declared_entries: Option<u16>,
    zip64_end: bool,
}

impl Zip {
    pub(crate) fn new() -> Self {
        Self::default()
    }
    pub(crate) fn entry(mut self, e: ZipEntry) -> Self {
        self.entries.push(e);
        self
    }
    pub(crate) fn alias(mut self, index: usize, name: &str) -> Self {
        self.aliases.push((index, name.into()));
        self
    }
    pub(crate) fn stretch(mut self, index: usize, by: u32) -> Self {
        self.stretch.push((index, by));
        self
    }
    pub(crate) fn declared_entries(mut self, n: u16) -> Self {
        self.declared_entries = Some(n);
        self
    }
    pub(crate) fn zip64_end(mut self) -> Self {
        self.zip64_end = true;
        self
    }

    pub(crate) fn build(self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut offsets = Vec::new();
        for e in &self.entries {
            offsets.push(out.len() as u32);
            out.extend_from_slice(b"PK\x03\x04");
            out.extend_from_slice(&[20, 0, 0, 0]);
            out.extend_from_slice(&e.method.to_le_bytes());
            out.extend_from_slice(&[0; 8]); // time, date, crc
            out.extend_from_slice(&(e.data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(e.uncompressed.min(u32::MAX as u64) as u32).to_le_bytes());
            out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(e.name.as_bytes());
            out.extend_from_slice(&e.data);
        }
        let cd_start = out.len();
        let mut records = 0u64;
        let all = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (i, e.name.clone()))
            .chain(self.aliases.iter().cloned());
        for (i, name) in all {
            let e = &self.entries[i];
            let extra_size = self
                .stretch
                .iter()
                .filter(|s| s.0 == i)
                .map(|s| s.1)
                .sum::<u32>();
            let compressed = e.data.len() as u32 + extra_size;
            let big = e.uncompressed >= u32::MAX as u64;
            let mut extra = Vec::new();
            if big && !e.omit_zip64_extra {
                extra.extend_from_slice(&1u16.to_le_bytes());
                extra.extend_from_slice(&8u16.to_le_bytes());
                extra.extend_from_slice(&e.uncompressed.to_le_bytes());
            }
            out.extend_from_slice(b"PK\x01\x02");
            out.extend_from_slice(&[45, 3, 20, 0, 0, 0]);
            out.extend_from_slice(&e.method.to_le_bytes());
            out.extend_from_slice(&[0; 8]);
            out.extend_from_slice(&compressed.to_le_bytes());
            let u32_size = if big { u32::MAX } else { e.uncompressed as u32 };
            out.extend_from_slice(&u32_size.to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&(extra.len() as u16).to_le_bytes());
            out.extend_from_slice(&[0; 8]); // comment len, disk, internal, external attrs (part)
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(&offsets[i].to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&extra);
            records += 1;
        }
        let cd_size = (out.len() - cd_start) as u64;
        let entries = self.declared_entries.map_or(records, u64::from);
        if self.zip64_end {
            let z = out.len() as u64;
            out.extend_from_slice(b"PK\x06\x06");
            out.extend_from_slice(&44u64.to_le_bytes());
            out.extend_from_slice(&[45, 3, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&entries.to_le_bytes());
            out.extend_from_slice(&entries.to_le_bytes());
            out.extend_from_slice(&cd_size.to_le_bytes());
            out.extend_from_slice(&(cd_start as u64).to_le_bytes());
            out.extend_from_slice(b"PK\x06\x07");
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&z.to_le_bytes());
            out.extend_from_slice(&1u32.to_le_bytes());
        }
        out.extend_from_slice(b"PK\x05\x06");
        out.extend_from_slice(&[0, 0, 0, 0]);
        let (n16, size32, off32) = if self.zip64_end {
            (0xFFFF, u32::MAX, u32::MAX)
        } else {
            (entries.min(0xFFFF) as u16, cd_size as u32, cd_start as u32)
        };
        out.extend_from_slice(&n16.to_le_bytes());
        out.extend_from_slice(&n16.to_le_bytes());
        out.extend_from_slice(&size32.to_le_bytes());
        out.extend_from_slice(&off32.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out
    }
}
