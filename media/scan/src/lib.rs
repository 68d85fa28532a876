//! media-scan owns the heuristic verdict on an upload before anything renders or serves it:
//! type confusion (the declared MIME type against the sniffed kind), polyglots (an image that
//! is also a ZIP, a PE, an ELF or an HTML page), active SVG, archive bombs, active PDF,
//! executables, media playlists and the EICAR test string. It also notes, without judging,
//! an image whose EXIF block could not be read.
//!
//! It never decodes, decompresses or renders anything. Every rule is a bounded, linear walk
//! over the bytes, so scanning costs about as much as reading the file once or twice, and no
//! input makes it allocate in proportion to its size. Findings are per rule: a rule reports
//! at most once (its strongest verdict, with the first offset in the detail), so a hostile
//! file cannot make the report itself large.
//!
//! Each rule lives in the module that owns the format it looks at; this module only wires
//! them together. [`scan_as`] runs the rules for a kind the caller already knows, which is
//! how the rules are tested without depending on sniffing.

use media_probe::{sniff, Kind, Limits, MediaError};

mod archive;
mod bytes;
mod metadata;
mod mime;
mod pdf;
mod signatures;
mod svg;
mod trailing;

#[cfg(test)]
mod mutation_tests;
#[cfg(test)]
mod scenario_tests;
#[cfg(test)]
mod test_data;

/// How bad a finding is. Ordered, so the report's verdict is the maximum of its findings'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Nothing to hold against the upload. A finding with this verdict is a note (an
    /// unreadable EXIF block): it is reported but leaves the report clean.
    Clean,
    /// Worth a human look or a quarantine, but common enough in honest files that refusing
    /// it outright would hurt real users.
    Suspicious,
    /// Refuse the upload: the bytes carry active or dangerous content.
    Reject,
}

/// One rule that fired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Stable kebab-case rule name; one of [`rules::ALL`].
    pub rule: &'static str,
    pub verdict: Verdict,
    /// Human-readable explanation with the first offset where the rule matched. Bounded in
    /// length; quoted input bytes are truncated.
    pub detail: String,
}

/// The result of a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The strongest verdict among `findings`, [`Verdict::Clean`] when there are none.
    pub verdict: Verdict,
    /// The sniffed kind of the data (never the declared one).
    pub kind: Kind,
    /// At most one finding per rule, in the order the rules ran.
    pub findings: Vec<Finding>,
}

impl Report {
    /// The finding of `rule`, if it fired.
    pub fn finding(&self, rule: &str) -> Option<&Finding> {
        self.findings.iter().find(|f| f.rule == rule)
    }
}

/// Stable rule names. They end up in logs, metrics and the WIT `finding.rule` string, so
/// they never change once released.
pub mod rules {
    /// The declared MIME type does not match the sniffed kind.
    pub const MIME_MISMATCH: &str = "mime-mismatch";
    /// Bytes follow an image's logical end (JPEG EOI, PNG IEND, GIF trailer, WebP RIFF size).
    pub const TRAILING_DATA: &str = "trailing-data";
    /// A plausible ZIP local file header inside a file that is not itself a ZIP.
    pub const EMBEDDED_ZIP: &str = "embedded-zip";
    /// The embedded ZIP is a Java archive (META-INF/ or a .class entry).
    pub const EMBEDDED_JAR: &str = "embedded-jar";
    /// An MZ header whose e_lfanew points at a PE signature.
    pub const EMBEDDED_PE: &str = "embedded-pe";
    /// An ELF header with valid class, data, version and type fields.
    pub const EMBEDDED_ELF: &str = "embedded-elf";
    /// HTML markup (`<html`, `<iframe`, `<!doctype html`).
    pub const EMBEDDED_HTML: &str = "embedded-html";
    /// Script (`<script`, `<?php`, `javascript:`, `<svg` with an event handler).
    pub const EMBEDDED_SCRIPT: &str = "embedded-script";
    /// An SVG `<script>` (or SVG Tiny `<handler>`) element.
    pub const SVG_SCRIPT: &str = "svg-script";
    /// An `on*=` event handler attribute in SVG markup.
    pub const SVG_EVENT_HANDLER: &str = "svg-event-handler";
    /// An SVG reference (href, xlink:href, src, url(), @import, xml-stylesheet, DTD system
    /// id) to anything but a fragment of the document itself.
    pub const SVG_EXTERNAL_REFERENCE: &str = "svg-external-reference";
    /// An SVG DOCTYPE with an internal subset or a non-standard external DTD.
    pub const SVG_DTD: &str = "svg-dtd";
    /// An XML entity declaration (XXE, billion laughs).
    pub const SVG_ENTITY: &str = "svg-entity";
    /// An SVG `<foreignObject>`, which embeds HTML.
    pub const SVG_FOREIGN_OBJECT: &str = "svg-foreign-object";
    /// A ZIP or gzip whose declared sizes or layout make it a decompression bomb.
    pub const ARCHIVE_BOMB: &str = "archive-bomb";
    /// A ZIP whose central directory cannot be parsed.
    pub const ARCHIVE_MALFORMED: &str = "archive-malformed";
    /// The EICAR antivirus test string.
    pub const EICAR_TEST_SIGNATURE: &str = "eicar-test-signature";
    /// PDF `/JavaScript` or `/JS`.
    pub const PDF_JAVASCRIPT: &str = "pdf-javascript";
    /// PDF `/OpenAction` or `/AA` (an action that runs without a click).
    pub const PDF_AUTO_ACTION: &str = "pdf-auto-action";
    /// PDF `/Launch` (an action that starts a program).
    pub const PDF_LAUNCH: &str = "pdf-launch";
    /// PDF `/EmbeddedFile` or `/EmbeddedFiles`.
    pub const PDF_EMBEDDED_FILE: &str = "pdf-embedded-file";
    /// The data is an ELF or PE executable.
    pub const EXECUTABLE: &str = "executable";
    /// The data is (or embeds) an HLS playlist, which ffmpeg follows to other files.
    pub const MEDIA_PLAYLIST: &str = "media-playlist";
    /// An image's EXIF block is present but cannot be read (verdict clean: the image is
    /// processed with the orientation read before the fault, 1 if none).
    pub const METADATA_UNREADABLE: &str = "metadata-unreadable";

    /// Every rule name, for metric label sets and tests.
    pub const ALL: &[&str] = &[
        MIME_MISMATCH,
        TRAILING_DATA,
        EMBEDDED_ZIP,
        EMBEDDED_JAR,
        EMBEDDED_PE,
        EMBEDDED_ELF,
        EMBEDDED_HTML,
        EMBEDDED_SCRIPT,
        SVG_SCRIPT,
        SVG_EVENT_HANDLER,
        SVG_EXTERNAL_REFERENCE,
        SVG_DTD,
        SVG_ENTITY,
        SVG_FOREIGN_OBJECT,
        ARCHIVE_BOMB,
        ARCHIVE_MALFORMED,
        EICAR_TEST_SIGNATURE,
        PDF_JAVASCRIPT,
        PDF_AUTO_ACTION,
        PDF_LAUNCH,
        PDF_EMBEDDED_FILE,
        EXECUTABLE,
        MEDIA_PLAYLIST,
        METADATA_UNREADABLE,
    ];
}

/// The policy thresholds of the rules. Structural bounds that only keep the scan itself
/// cheap live next to the code they bound.
pub mod thresholds {
    /// Bytes allowed after an image's logical end before `trailing-data` fires. Some camera
    /// firmware and encoders pad a file to a sector or block boundary; one 512-byte sector
    /// covers that, while a payload worth hiding (a ZIP, a script) rarely fits.
    pub const TRAILING_SLACK_BYTES: usize = 512;
    /// Most entries a ZIP may declare. Real uploads (documents, photo sets) have tens to
    /// hundreds; tens of thousands of entries is the shape of a bomb that multiplies one
    /// small compressed kernel, and every entry costs an extractor work.
    pub const MAX_ARCHIVE_ENTRIES: u64 = 10_000;
    /// Largest total uncompressed size an archive may declare: 1 GiB is far above any
    /// attachment this service accepts and below what a worker's disk and memory survive.
    pub const MAX_ARCHIVE_UNCOMPRESSED_BYTES: u64 = 1 << 30;
    /// Highest uncompressed:compressed ratio of one entry. Photos, video and most documents
    /// barely compress; text reaches 10:1; 100:1 only happens for degenerate data (runs of
    /// zeros), which is what bombs are made of.
    pub const MAX_COMPRESSION_RATIO: u64 = 100;
    /// The ratio rule only applies to entries at least this large uncompressed: a 4 KiB
    /// file of zeros compresses 100:1 harmlessly, and small entries cannot bomb anything.
    pub const RATIO_MIN_UNCOMPRESSED_BYTES: u64 = 1 << 20;
}

/// Scans `data`, uploaded with the MIME type `declared_mime` (may be empty).
///
/// `limits` is taken for symmetry with the other guest calls; the scan needs none of them,
/// because it never decodes and its own work is bounded by the module's constants. Every
/// input yields a report: a scan that cannot parse something reports that as a finding, so
/// this returns `Err` for nothing today, and the `Result` leaves room for a host limit later.
pub fn scan(data: &[u8], declared_mime: &str, limits: &Limits) -> Result<Report, MediaError> {
    let _ = limits;
    Ok(scan_as(data, sniff(data), declared_mime))
}

/// Runs every rule for data already known to be of `kind` (as [`sniff`] would say).
pub fn scan_as(data: &[u8], kind: Kind, declared_mime: &str) -> Report {
    let mut findings = Findings::default();

    match kind {
        // An executable is never a media upload, whatever it is called.
        Kind::Elf | Kind::Pe => findings.add(rules::EXECUTABLE, Verdict::Reject, || {
            format!("the content is an executable ({})", kind.name())
        }),
        // ffmpeg resolves the URIs of an HLS playlist, including file:// and local paths, so
        // processing one reads whatever the playlist names.
        Kind::Hls => findings.add(rules::MEDIA_PLAYLIST, Verdict::Reject, || {
            "the content is an HLS playlist".to_string()
        }),
        _ => {}
    }

    // SVG rules run first: whether the SVG is active decides how bad a mismatch is.
    if kind == Kind::Svg || mime::declares_svg(declared_mime) {
        svg::check(data, &mut findings);
    }
    let svg_active = kind == Kind::Svg && findings.any_reject();
    mime::check(kind, declared_mime, svg_active, &mut findings);

    trailing::check(data, kind, &mut findings);
    metadata::check(data, kind, &mut findings);
    let embedded = signatures::check(data, kind, &mut findings);

    match kind {
        Kind::Zip => archive::check_zip(data, true, &mut findings),
        Kind::Gzip => archive::check_gzip(data, &mut findings),
        Kind::Pdf => pdf::check(data, &mut findings),
        _ => {}
    }
    // A ZIP appended to anything keeps its directory at the end of the file, where an
    // extractor finds it; judge it like an uploaded ZIP.
    if embedded.zip {
        archive::check_zip(data, false, &mut findings);
    }

    findings.into_report(kind)
}

/// Collects findings, keeping one per rule: the strongest, and of equal ones the first.
#[derive(Default)]
pub(crate) struct Findings {
    list: Vec<Finding>,
}

impl Findings {
    /// Records `rule` unless it already fired at least as strongly. `detail` is only built
    /// when it is kept, so a rule that matches a million times formats once or twice.
    pub(crate) fn add(
        &mut self,
        rule: &'static str,
        verdict: Verdict,
        detail: impl FnOnce() -> String,
    ) {
        match self.list.iter_mut().find(|f| f.rule == rule) {
            Some(existing) if existing.verdict >= verdict => {}
            Some(existing) => {
                existing.verdict = verdict;
                existing.detail = detail();
            }
            None => self.list.push(Finding {
                rule,
                verdict,
                detail: detail(),
            }),
        }
    }

    pub(crate) fn has(&self, rule: &str) -> bool {
        self.list.iter().any(|f| f.rule == rule)
    }

    #[cfg(test)]
    pub(crate) fn verdict_of(&self, rule: &str) -> Option<Verdict> {
        self.list.iter().find(|f| f.rule == rule).map(|f| f.verdict)
    }

    fn any_reject(&self) -> bool {
        self.list.iter().any(|f| f.verdict == Verdict::Reject)
    }

    fn into_report(self, kind: Kind) -> Report {
        let verdict = self
            .list
            .iter()
            .map(|f| f.verdict)
            .max()
            .unwrap_or(Verdict::Clean);
        Report {
            verdict,
            kind,
            findings: self.list,
        }
    }
}

/// Kinds a browser or image pipeline renders as a picture. Active content inside one of
/// these is a polyglot aimed at whoever displays it, so it is rejected outright.
pub(crate) const fn is_image(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Jpeg
            | Kind::Png
            | Kind::Gif
            | Kind::Webp
            | Kind::Tiff
            | Kind::Bmp
            | Kind::Ico
            | Kind::Avif
            | Kind::Heic
            | Kind::Svg
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_keep_one_entry_per_rule_with_the_strongest_verdict() {
        let mut f = Findings::default();
        f.add(rules::SVG_DTD, Verdict::Suspicious, || "first".into());
        f.add(rules::SVG_DTD, Verdict::Suspicious, || {
            unreachable!("not formatted")
        });
        f.add(rules::SVG_DTD, Verdict::Reject, || "stronger".into());
        f.add(rules::SVG_DTD, Verdict::Suspicious, || {
            unreachable!("not formatted")
        });
        let report = f.into_report(Kind::Svg);
        assert_eq!(report.findings.len(), 1);
        assert_eq!(report.verdict, Verdict::Reject);
        assert_eq!(report.findings[0].detail, "stronger");
    }

    #[test]
    fn report_without_findings_is_clean() {
        let report = Findings::default().into_report(Kind::Png);
        assert_eq!(report.verdict, Verdict::Clean);
    }

    #[test]
    fn rule_names_are_unique_kebab_case() {
        for (i, a) in rules::ALL.iter().enumerate() {
            assert!(
                a.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{a}"
            );
            assert!(!rules::ALL[i + 1..].contains(a), "duplicate {a}");
        }
    }
}
