//! The SVG rules: `svg-script`, `svg-event-handler`, `svg-external-reference`, `svg-dtd`,
//! `svg-entity` and `svg-foreign-object`.
//!
//! SVG is XML that browsers execute: script elements and `on*` attributes run when the file
//! is opened directly, references make renderers (librsvg, ImageMagick, headless browsers)
//! fetch URLs or read local files, and DTDs with entities are the XXE and billion-laughs
//! vectors of every XML parser. This module owns a small tokenizer over the raw bytes: a
//! single forward pass, no recursion, no allocation, ASCII-case-insensitive, aware of
//! quoting, comments, CDATA and the DOCTYPE internal subset. It is deliberately lenient
//! (it never rejects malformed XML, it just keeps reading), because a strict parser would
//! stop exactly where a hostile file wants it to.

use crate::bytes::{byte, find, find_byte, find_ci, has_at, has_at_ci, snippet, trim};
use crate::{rules, Findings, Verdict};

/// Public identifiers of the W3C SVG DTDs. Illustrator, Inkscape and older editors write
/// one of these with the w3.org system identifier into most exported files, and renderers
/// do not fetch it, so flagging them would mark most honest SVGs. Any other external DTD
/// is reported.
const W3C_SVG_PUBLIC_IDS: &[&[u8]] = &[
    b"-//W3C//DTD SVG 1.0//EN",
    b"-//W3C//DTD SVG 1.1//EN",
    b"-//W3C//DTD SVG 1.1 Basic//EN",
    b"-//W3C//DTD SVG 1.1 Tiny//EN",
    b"-//W3C//DTD SVG 1.2 Tiny//EN",
];
const W3C_DTD_HOSTS: &[&[u8]] = &[b"http://www.w3.org/", b"https://www.w3.org/"];

/// `data:` image types whose payload cannot run anything: an embedded bitmap (Inkscape
/// embeds them this way) is only Suspicious, because it is a second image nothing scans.
const RASTER_DATA_TYPES: &[&[u8]] = &[
    b"image/png",
    b"image/jpeg",
    b"image/jpg",
    b"image/gif",
    b"image/webp",
    b"image/avif",
    b"image/bmp",
];

/// Longest numeric character reference decoded inside an attribute value (`&#x0000006a;`
/// still spells `j`); longer ones are not characters any parser accepts.
const MAX_CHAR_REF_DIGITS: usize = 8;

pub(crate) fn check(data: &[u8], findings: &mut Findings) {
    // Entity declarations are searched for on the raw bytes, not through the tokenizer:
    // there is no honest use of one in an uploaded image, and a raw search cannot be
    // confused by quoting tricks.
    if let Some(at) = find_ci(data, 0, b"<!ENTITY") {
        findings.add(rules::SVG_ENTITY, Verdict::Reject, || {
            format!("XML entity declaration at offset {at}")
        });
    }

    // Where markup ends is decided the way the parser that ends it *earliest* would (XML
    // for SVG files, HTML for SVG inlined or served as a page), so no construct can hide
    // markup from this scan that one of them would act on. Text that only one of them
    // treats as markup is tokenized anyway, which at worst reports something inert.
    let mut i = 0usize;
    // End of the region the DOCTYPE parser has already read: a DOCTYPE inside it is part of
    // the earlier one, and reading it again would make nested ones quadratic.
    let mut dtd_read_until = 0usize;
    while let Some(lt) = find_byte(data, i, b'<') {
        i = lt.saturating_add(1);
        if has_at(data, i, b"!--") {
            i = comment_end(data, i.saturating_add(3));
        } else if has_at_ci(data, i, b"![CDATA[") {
            i = after(data, i.saturating_add(8), b"]]>");
        } else if has_at_ci(data, i, b"!DOCTYPE") {
            if i >= dtd_read_until {
                dtd_read_until = doctype(data, i.saturating_add(8), findings);
            }
            // HTML ends a DOCTYPE at its first `>`; whatever an XML internal subset holds
            // after that is tokenized as well.
            i = after(data, i, b">");
        } else if byte(data, i) == Some(b'?') {
            i = processing_instruction(data, i.saturating_add(1), findings);
        } else if matches!(byte(data, i), Some(b'!' | b'/')) {
            // Other declarations and end tags carry nothing that runs or loads.
            i = after(data, i, b">");
        } else {
            i = start_tag(data, i, findings);
        }
    }
}

/// Where a comment whose body starts at `body` ends: XML's `-->`, or HTML's earlier ends
/// (`--!>`, and `<!-->` / `<!--->` closing at once).
fn comment_end(d: &[u8], body: usize) -> usize {
    if byte(d, body) == Some(b'>') {
        return body.saturating_add(1);
    }
    if has_at(d, body, b"->") {
        return body.saturating_add(2);
    }
    // One forward search for `--`, so a file of many comments stays linear.
    let mut p = body;
    while let Some(dashes) = find(d, p, b"--") {
        let rest = dashes.saturating_add(2);
        match byte(d, rest) {
            Some(b'>') => return rest.saturating_add(1),
            Some(b'!') if byte(d, rest.saturating_add(1)) == Some(b'>') => {
                return rest.saturating_add(2)
            }
            _ => p = dashes.saturating_add(1),
        }
    }
    d.len()
}

/// Offset after the first `pat` at or after `from`, or the end of the data.
fn after(d: &[u8], from: usize, pat: &[u8]) -> usize {
    find(d, from, pat).map_or(d.len(), |p| p.saturating_add(pat.len()))
}

/// The name after a namespace prefix (`svg:script` -> `script`).
fn local_name(name: &[u8]) -> &[u8] {
    name.rsplit(|&b| b == b':').next().unwrap_or(name)
}

fn ends_name(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b'/' | b'>' | b'<' | b'=')
}

fn skip_ws(d: &[u8], mut p: usize) -> usize {
    while byte(d, p).is_some_and(|b| b.is_ascii_whitespace()) {
        p += 1;
    }
    p
}

/// One attribute of a tag, with the offset of its name.
struct Attr<'a> {
    name: &'a [u8],
    value: &'a [u8],
    at: usize,
}

/// Parses attributes from `p` up to the end of the tag (`>`, `/>`, a stray `<` or the end
/// of `d`), calling `each` for every one. Returns the offset after the tag and whether it
/// was self-closing. A stray `<` ends the tag without being consumed, so an unterminated
/// tag cannot hide the next one.
fn attributes<'a>(d: &'a [u8], mut p: usize, mut each: impl FnMut(Attr<'a>)) -> (usize, bool) {
    loop {
        p = skip_ws(d, p);
        match byte(d, p) {
            None => return (d.len(), false),
            Some(b'>') => return (p + 1, false),
            Some(b'<') => return (p, false),
            Some(b'/') if byte(d, p + 1) == Some(b'>') => return (p + 2, true),
            Some(b'/' | b'=') => {
                p += 1;
                continue;
            }
            Some(_) => {}
        }
        let at = p;
        while byte(d, p).is_some_and(|b| !ends_name(b)) {
            p += 1;
        }
        let name = d.get(at..p).unwrap_or_default();
        p = skip_ws(d, p);
        let mut value: &[u8] = &[];
        if byte(d, p) == Some(b'=') {
            p = skip_ws(d, p + 1);
            match byte(d, p) {
                Some(q @ (b'"' | b'\'')) => {
                    let start = p + 1;
                    let end = find_byte(d, start, q).unwrap_or(d.len());
                    value = d.get(start..end).unwrap_or_default();
                    p = end.saturating_add(1);
                }
                _ => {
                    let start = p;
                    while byte(d, p).is_some_and(|b| !b.is_ascii_whitespace() && b != b'>') {
                        p += 1;
                    }
                    value = d.get(start..p).unwrap_or_default();
                }
            }
        }
        each(Attr { name, value, at });
    }
}

/// A start tag whose name begins at `i` (just after `<`). Returns where to continue.
fn start_tag(d: &[u8], i: usize, findings: &mut Findings) -> usize {
    let mut name_end = i;
    while byte(d, name_end).is_some_and(|b| !ends_name(b)) {
        name_end += 1;
    }
    let name = d.get(i..name_end).unwrap_or_default();
    if name.is_empty() {
        // A bare `<` in text.
        return i;
    }
    let element = local_name(name);
    let tag_at = i.saturating_sub(1);
    let is = |n: &[u8]| element.eq_ignore_ascii_case(n);

    // Verdict Reject: script runs whenever the SVG is opened as a document. SVG Tiny's
    // <handler> is script by another name.
    if is(b"script") || is(b"handler") {
        findings.add(rules::SVG_SCRIPT, Verdict::Reject, || {
            format!("<{}> element at offset {tag_at}", snippet(name))
        });
    }
    // Verdict Suspicious: foreignObject embeds HTML, which is how text wrapping is done
    // honestly, but it also reaches HTML-only features; what it holds is judged by the other
    // rules (script, handlers, references).
    if is(b"foreignObject") {
        findings.add(rules::SVG_FOREIGN_OBJECT, Verdict::Suspicious, || {
            format!("<foreignObject> at offset {tag_at}")
        });
    }

    let anchor = is(b"a");
    let object = is(b"object");
    let animation = is(b"set") || is(b"animate");
    let (end, self_closing) = attributes(d, name_end, |attr| {
        attribute(&attr, anchor, object, animation, findings);
    });

    // Style and script bodies are raw text to an HTML parser and text to an XML one: read
    // the style body for CSS references, and step over either body without tokenizing it.
    if !self_closing && (is(b"style") || is(b"script")) {
        let close: &[u8] = if is(b"style") {
            b"</style"
        } else {
            b"</script"
        };
        let body_end = find_ci(d, end, close).unwrap_or(d.len());
        if is(b"style") {
            css(d.get(end..body_end).unwrap_or_default(), end, findings);
        }
        return body_end.max(end);
    }
    end
}

fn attribute(
    attr: &Attr<'_>,
    anchor: bool,
    object: bool,
    animation: bool,
    findings: &mut Findings,
) {
    let local = local_name(attr.name);
    let at = attr.at;

    // Verdict Reject: an event handler is script.
    if local.len() > 2 && has_at_ci(local, 0, b"on") {
        findings.add(rules::SVG_EVENT_HANDLER, Verdict::Reject, || {
            format!(
                "event handler attribute {:?} at offset {at}",
                snippet(attr.name)
            )
        });
    }

    let is_ref = local.eq_ignore_ascii_case(b"href")
        || local.eq_ignore_ascii_case(b"src")
        || (object && local.eq_ignore_ascii_case(b"data"));
    if is_ref {
        if let Some((verdict, why)) = classify_reference(attr.value, anchor) {
            report_reference(findings, verdict, why, attr.value, at);
        }
    } else if contains_javascript_uri(attr.value) {
        // <set attributeName="href" to="javascript:..."> and friends put the URI into an
        // attribute that is not itself a reference.
        report_reference(findings, Verdict::Reject, "javascript: URI", attr.value, at);
    } else if animation
        && ["to", "from", "values", "by"]
            .iter()
            .any(|n| local.eq_ignore_ascii_case(n.as_bytes()))
        && (find(attr.value, 0, b"://").is_some() || has_at_ci(trim(attr.value), 0, b"data:"))
    {
        report_reference(findings, Verdict::Reject, "animated URL", attr.value, at);
    }

    // CSS in attributes (style="...", fill="url(...)") can reference external resources.
    css(attr.value, at, findings);
}

fn report_reference(findings: &mut Findings, verdict: Verdict, why: &str, value: &[u8], at: usize) {
    findings.add(rules::SVG_EXTERNAL_REFERENCE, verdict, || {
        format!("{why} {:?} at offset {at}", snippet(trim(value)))
    });
}

/// Judges one reference. Verdicts: anything but a same-document fragment is Reject, because
/// renderers fetch http(s) (SSRF) and read file: and relative paths from their own disk;
/// `javascript:` is script; a `data:` URI of a raster image only embeds a picture
/// (Suspicious), while any other `data:` type (SVG, HTML) is an unscanned active document
/// (Reject). Links (`<a href>`) are navigated by a user, never fetched, so only a
/// `javascript:` link is rejected and any other is Suspicious.
fn classify_reference(value: &[u8], anchor: bool) -> Option<(Verdict, &'static str)> {
    let v = trim(value);
    if v.is_empty() || v.first() == Some(&b'#') {
        return None;
    }
    if contains_javascript_uri(v) {
        return Some((Verdict::Reject, "javascript: URI"));
    }
    if anchor {
        return Some((Verdict::Suspicious, "link"));
    }
    if has_at_ci(v, 0, b"data:") {
        let media = v.get(5..).unwrap_or_default();
        let raster = RASTER_DATA_TYPES
            .iter()
            .any(|t| has_at_ci(media, 0, t) && matches!(byte(media, t.len()), Some(b';' | b',')));
        return Some(if raster {
            (Verdict::Suspicious, "embedded data: image")
        } else {
            (Verdict::Reject, "data: URI")
        });
    }
    Some((Verdict::Reject, "external reference"))
}

/// Whether `v` spells `javascript:` anywhere once character references are decoded and
/// whitespace and control characters (which URL parsers strip from a scheme) are dropped.
fn contains_javascript_uri(v: &[u8]) -> bool {
    const PAT: &[u8] = b"javascript:";
    let mut matched = 0usize;
    let mut i = 0usize;
    while i < v.len() {
        let (c, next) = decode_char(v, i);
        i = next;
        if c <= b' ' {
            continue;
        }
        let c = c.to_ascii_lowercase();
        // `j` occurs only at the start of the pattern, so after a mismatch the only
        // possible new match starts at this character.
        matched = if PAT.get(matched) == Some(&c) {
            matched + 1
        } else {
            usize::from(c == b'j')
        };
        if matched == PAT.len() {
            return true;
        }
    }
    false
}

/// The character at `i` with XML/HTML character references decoded (numeric ones, and
/// the named ones that matter for a scheme), and where the next one starts. Characters
/// beyond ASCII decode to 0xFF, which matches nothing.
fn decode_char(v: &[u8], i: usize) -> (u8, usize) {
    let Some(&b) = v.get(i) else {
        return (0, v.len());
    };
    let next = i + 1;
    if b != b'&' {
        return (b, next);
    }
    for (name, c) in [
        (&b"&colon;"[..], b':'),
        (b"&tab;", b'\t'),
        (b"&newline;", b'\n'),
    ] {
        if has_at_ci(v, i, name) {
            return (c, i + name.len());
        }
    }
    if byte(v, next) != Some(b'#') {
        return (b, next);
    }
    let hex = matches!(byte(v, next + 1), Some(b'x' | b'X'));
    let digits_at = if hex { next + 2 } else { next + 1 };
    let radix = if hex { 16 } else { 10 };
    let mut value: u32 = 0;
    let mut p = digits_at;
    while let Some(d) = byte(v, p).and_then(|c| char::from(c).to_digit(radix)) {
        if p - digits_at >= MAX_CHAR_REF_DIGITS {
            return (b, next);
        }
        value = value * radix + d;
        p += 1;
    }
    if p == digits_at {
        return (b, next);
    }
    // The terminating `;` is optional in HTML.
    if byte(v, p) == Some(b';') {
        p += 1;
    }
    (
        u8::try_from(value)
            .ok()
            .filter(u8::is_ascii)
            .unwrap_or(0xFF),
        p,
    )
}

/// CSS references: every `url(...)` target and every `@import` (which always loads).
fn css(text: &[u8], base: usize, findings: &mut Findings) {
    let mut p = 0usize;
    while let Some(u) = find_ci(text, p, b"url(") {
        let start = u + 4;
        let end = find_byte(text, start, b')').unwrap_or(text.len());
        let target = trim(text.get(start..end).unwrap_or_default());
        let target = target
            .strip_prefix(b"\"")
            .or_else(|| target.strip_prefix(b"'"))
            .unwrap_or(target);
        let target = target
            .strip_suffix(b"\"")
            .or_else(|| target.strip_suffix(b"'"))
            .unwrap_or(target);
        if let Some((verdict, why)) = classify_reference(target, false) {
            report_reference(findings, verdict, why, target, base.saturating_add(u));
        }
        p = end;
    }
    if let Some(at) = find_ci(text, 0, b"@import") {
        let target = text.get(at..).unwrap_or_default();
        report_reference(
            findings,
            Verdict::Reject,
            "CSS @import",
            target,
            base.saturating_add(at),
        );
    }
}

/// `<?name ...?>` starting after `<?`. Only `xml-stylesheet` loads anything.
///
/// The PI is taken to end at its first `>`: that is where HTML ends it (as a bogus
/// comment), and XML's `?>` can only come later, so nothing after it escapes the tokenizer,
/// and no search for a missing `?>` runs to the end of the data once per PI.
fn processing_instruction(d: &[u8], i: usize, findings: &mut Findings) -> usize {
    let end = find_byte(d, i, b'>').unwrap_or(d.len());
    let body = d.get(i..end).unwrap_or_default();
    if has_at_ci(body, 0, b"xml-stylesheet") {
        // The pseudo-attributes follow XML attribute syntax; `at` stays relative to `body`.
        attributes(body, b"xml-stylesheet".len(), |attr| {
            if attr.name.eq_ignore_ascii_case(b"href") {
                if let Some((verdict, why)) = classify_reference(attr.value, false) {
                    report_reference(
                        findings,
                        verdict,
                        why,
                        attr.value,
                        i.saturating_add(attr.at),
                    );
                }
            }
        });
    }
    end.saturating_add(1).min(d.len())
}

/// A DOCTYPE starting after `<!DOCTYPE`. Returns the offset after it.
///
/// Verdicts: an internal subset is Suspicious (it exists to declare entities, elements and
/// attributes; the entities themselves are `svg-entity`), and Reject when it declares
/// attribute defaults (`<!ATTLIST svg onload CDATA "...">` injects a handler no tag
/// shows). A non-W3C external DTD is Suspicious as a DTD, and its system identifier is
/// judged as a reference, since a validating parser fetches it.
fn doctype(d: &[u8], start: usize, findings: &mut Findings) -> usize {
    let at = start.saturating_sub(b"<!DOCTYPE".len());
    let mut p = start;
    let mut quote: Option<u8> = None;
    let mut literal_start = 0usize;
    let mut literals: [&[u8]; 2] = [&[], &[]];
    let mut literal_count = 0usize;
    let mut in_subset = false;
    let mut had_subset = false;
    let mut attlist = false;
    let mut external: Option<&'static str> = None;

    while let Some(b) = byte(d, p) {
        if let Some(q) = quote {
            if b == q {
                quote = None;
                if !in_subset {
                    if let Some(slot) = literals.get_mut(literal_count) {
                        *slot = d.get(literal_start..p).unwrap_or_default();
                        literal_count += 1;
                    }
                }
            }
            p += 1;
            continue;
        }
        if in_subset {
            if has_at(d, p, b"<!--") {
                p = after(d, p + 4, b"-->");
                continue;
            }
            if has_at_ci(d, p, b"<!ATTLIST") {
                attlist = true;
            }
            match b {
                b'"' | b'\'' => quote = Some(b),
                b']' => in_subset = false,
                _ => {}
            }
            p += 1;
            continue;
        }
        match b {
            b'"' | b'\'' => {
                quote = Some(b);
                literal_start = p + 1;
            }
            b'[' => {
                in_subset = true;
                had_subset = true;
            }
            b'>' => {
                p += 1;
                break;
            }
            _ if external.is_none() && has_at_ci(d, p, b"SYSTEM") => external = Some("SYSTEM"),
            _ if external.is_none() && has_at_ci(d, p, b"PUBLIC") => external = Some("PUBLIC"),
            _ => {}
        }
        p += 1;
    }

    if had_subset {
        let verdict = if attlist {
            Verdict::Reject
        } else {
            Verdict::Suspicious
        };
        findings.add(rules::SVG_DTD, verdict, || {
            if attlist {
                format!("DOCTYPE internal subset declares attribute defaults at offset {at}")
            } else {
                format!("DOCTYPE with an internal subset at offset {at}")
            }
        });
    }
    let system_id = match external {
        Some("PUBLIC") => {
            let [public_id, system_id] = literals;
            let w3c = W3C_SVG_PUBLIC_IDS.contains(&public_id)
                && (literal_count < 2 || W3C_DTD_HOSTS.iter().any(|h| has_at(system_id, 0, h)));
            if w3c {
                return p;
            }
            (literal_count >= 2).then_some(system_id)
        }
        Some(_) => (literal_count >= 1).then_some(literals[0]),
        None => return p,
    };
    findings.add(rules::SVG_DTD, Verdict::Suspicious, || {
        format!("DOCTYPE with a non-standard external DTD at offset {at}")
    });
    if let Some(sys) = system_id {
        if let Some((verdict, why)) = classify_reference(sys, false) {
            report_reference(findings, verdict, why, sys, at);
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(svg: &str) -> Findings {
        let mut f = Findings::default();
        check(svg.as_bytes(), &mut f);
        f
    }

    fn verdict(svg: &str, rule: &str) -> Option<Verdict> {
        run(svg).verdict_of(rule)
    }

    pub(crate) const BENIGN: &str = r##"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">
<!-- Created with an editor: <script> in a comment is inert -->
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"
     width="10" height="10" viewBox="0 0 10 10">
  <defs><linearGradient id="g"><stop offset="0" stop-color="#fff"/></linearGradient></defs>
  <style>.a { fill: url(#g); opacity: 0.5 }</style>
  <rect class="a" width="10" height="10" fill="url('#g')" data-note="a > b"/>
  <use xlink:href="#g" href=" #g "/>
  <text><![CDATA[ <script>alert(1)</script> onload=x ]]> 1 &lt; 2</text>
</svg>"##;

    #[test]
    fn benign_svg_has_no_findings() {
        let f = run(BENIGN);
        assert!(f.into_report(media_probe::Kind::Svg).findings.is_empty());
    }

    #[test]
    fn script_element_is_rejected() {
        for svg in [
            "<svg><script>alert(1)</script></svg>",
            "<svg><SCRIPT type='text/ecmascript'/></svg>",
            "<svg:svg><svg:script>x</svg:script></svg:svg>",
            "<svg><handler type='application/ecmascript'>x</handler></svg>",
            "<svg><script/src=x></svg>",
        ] {
            assert_eq!(
                verdict(svg, rules::SVG_SCRIPT),
                Some(Verdict::Reject),
                "{svg}"
            );
        }
    }

    #[test]
    fn event_handler_attributes_are_rejected() {
        for svg in [
            r#"<svg onload="alert(1)"/>"#,
            "<svg><rect ONCLICK='x'/></svg>",
            "<svg><animate onbegin=alert(1) /></svg>",
            "<svg\nonload\n=\n'x'>",
            "<svg x='1'onload='x'>",
        ] {
            assert_eq!(
                verdict(svg, rules::SVG_EVENT_HANDLER),
                Some(Verdict::Reject),
                "{svg}"
            );
        }
    }

    #[test]
    fn quoted_markup_is_not_mistaken_for_attributes() {
        let svg = r#"<svg><text title='onload="x" <script>'>t</text><desc>onload=x</desc></svg>"#;
        let f = run(svg);
        assert!(!f.has(rules::SVG_EVENT_HANDLER));
        assert!(!f.has(rules::SVG_SCRIPT));
    }

    #[test]
    fn external_references_are_rejected() {
        for svg in [
            r#"<svg><image href="http://169.254.169.254/latest/meta-data"/></svg>"#,
            r#"<svg><image xlink:href="https://evil.example/x.png"/></svg>"#,
            r#"<svg><image xlink:href="file:///etc/passwd"/></svg>"#,
            r#"<svg><use href="other.svg#icon"/></svg>"#,
            r#"<svg><feImage href="//evil.example/x"/></svg>"#,
            r#"<svg><image href="data:image/svg+xml;base64,PHN2Zz4="/></svg>"#,
            r#"<svg><rect style="fill:url(http://evil.example/p)"/></svg>"#,
            r#"<svg><style>@import 'https://evil.example/a.css';</style></svg>"#,
            r#"<svg><style>rect{fill:url( "file:///x" )}</style></svg>"#,
            "<?xml-stylesheet type=\"text/css\" href=\"http://evil.example/s.css\"?><svg/>",
            r#"<svg><set attributeName="href" to="http://evil.example/x"/></svg>"#,
        ] {
            assert_eq!(
                verdict(svg, rules::SVG_EXTERNAL_REFERENCE),
                Some(Verdict::Reject),
                "{svg}"
            );
        }
    }

    #[test]
    fn javascript_uris_are_rejected_even_when_obfuscated() {
        for svg in [
            r#"<svg><a href="javascript:alert(1)"><text>x</text></a></svg>"#,
            r#"<svg><a xlink:href=" JaVaScRiPt:alert(1)">x</a></svg>"#,
            r#"<svg><a href="java&#x09;script&colon;alert(1)">x</a></svg>"#,
            r#"<svg><a href="&#106;avascript:alert(1)">x</a></svg>"#,
            r#"<svg><a><set attributeName="href" to="javascript:alert(1)"/></a></svg>"#,
            r##"<svg><animate attributeName="href" values="#a;&#x6A;avascript:alert(1)"/></svg>"##,
        ] {
            assert_eq!(
                verdict(svg, rules::SVG_EXTERNAL_REFERENCE),
                Some(Verdict::Reject),
                "{svg}"
            );
        }
    }

    #[test]
    fn raster_data_uri_and_plain_links_are_only_suspicious() {
        for svg in [
            r#"<svg><image href="data:image/png;base64,iVBORw0KGgo="/></svg>"#,
            r#"<svg><a href="https://example.com/">x</a></svg>"#,
        ] {
            assert_eq!(
                verdict(svg, rules::SVG_EXTERNAL_REFERENCE),
                Some(Verdict::Suspicious),
                "{svg}"
            );
        }
    }

    #[test]
    fn entity_declarations_are_rejected() {
        let xxe = r#"<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><svg>&xxe;</svg>"#;
        assert_eq!(verdict(xxe, rules::SVG_ENTITY), Some(Verdict::Reject));
        assert_eq!(verdict(xxe, rules::SVG_DTD), Some(Verdict::Suspicious));
        let laughs = r#"<!DOCTYPE svg [<!ENTITY a "lol"><!entity b "&a;&a;&a;">]><svg>&b;</svg>"#;
        assert_eq!(verdict(laughs, rules::SVG_ENTITY), Some(Verdict::Reject));
    }

    #[test]
    fn dtd_without_entities_is_suspicious() {
        for svg in [
            "<!DOCTYPE svg [ <!ELEMENT svg ANY> ]><svg/>",
            r#"<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://evil.example/svg11.dtd"><svg/>"#,
            r#"<!DOCTYPE svg SYSTEM "svg.dtd"><svg/>"#,
        ] {
            let f = run(svg);
            assert_eq!(
                f.verdict_of(rules::SVG_DTD),
                Some(Verdict::Suspicious),
                "{svg}"
            );
            assert!(!f.has(rules::SVG_ENTITY), "{svg}");
        }
    }

    #[test]
    fn external_dtd_system_id_is_judged_as_a_reference() {
        let svg = r#"<!DOCTYPE svg SYSTEM "http://evil.example/x.dtd"><svg/>"#;
        assert_eq!(
            verdict(svg, rules::SVG_EXTERNAL_REFERENCE),
            Some(Verdict::Reject)
        );
    }

    #[test]
    fn attribute_defaults_in_the_internal_subset_are_rejected() {
        let svg = r#"<!DOCTYPE svg [<!ATTLIST svg onload CDATA "alert(1)">]><svg/>"#;
        assert_eq!(verdict(svg, rules::SVG_DTD), Some(Verdict::Reject));
    }

    #[test]
    fn w3c_doctype_is_clean() {
        for svg in [
            r#"<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.0//EN" "http://www.w3.org/TR/2001/REC-SVG-20010904/DTD/svg10.dtd"><svg/>"#,
            "<!DOCTYPE svg><svg/>",
        ] {
            assert!(!run(svg).has(rules::SVG_DTD), "{svg}");
        }
    }

    #[test]
    fn foreign_object_is_suspicious() {
        let svg = r#"<svg><foreignObject width="9" height="9"><div xmlns="http://www.w3.org/1999/xhtml">t</div></foreignObject></svg>"#;
        assert_eq!(
            verdict(svg, rules::SVG_FOREIGN_OBJECT),
            Some(Verdict::Suspicious)
        );
        assert_eq!(
            run(svg).into_report(media_probe::Kind::Svg).verdict,
            Verdict::Suspicious
        );
    }

    #[test]
    fn markup_an_html_parser_would_see_is_not_hidden_in_comments_or_declarations() {
        for svg in [
            "<svg><!-- --!><script>alert(1)</script> --></svg>",
            "<svg><!--><script>alert(1)</script> --></svg>",
            "<svg><!---><script>alert(1)</script> --></svg>",
            "<svg><? x ><script>alert(1)</script> ?></svg>",
            "<!DOCTYPE svg [ <!ELEMENT x ANY> <script>alert(1)</script> ]><svg/>",
        ] {
            assert_eq!(
                verdict(svg, rules::SVG_SCRIPT),
                Some(Verdict::Reject),
                "{svg}"
            );
        }
    }

    #[test]
    fn unterminated_tag_does_not_hide_the_next_one() {
        let svg = "<svg><rect width='1' <script>alert(1)</script></svg>";
        assert_eq!(verdict(svg, rules::SVG_SCRIPT), Some(Verdict::Reject));
    }

    #[test]
    fn unterminated_constructs_end_the_scan_quietly() {
        for svg in [
            "<svg><!-- ",
            "<svg><![CDATA[",
            "<!DOCTYPE svg [",
            "<svg a='",
            "<?xml",
            "<",
            "<svg a=",
        ] {
            let _ = run(svg);
        }
    }

    /// Repeats of each pathological unit in the smaller input; the larger has twice as many.
    /// Small enough that a quadratic regression still ends in seconds, large enough that the
    /// scan's fixed costs do not blur the ratio.
    const LINEAR_REPEATS: usize = 4_000;
    /// Work on twice the input may be at most this many times the work on the input: 2 for a
    /// linear walk (with room for fixed costs), 4 for a quadratic one.
    const MAX_WORK_RATIO: f64 = 2.25;

    #[test]
    fn pathological_markup_costs_work_linear_in_its_length() {
        // Each of these would be quadratic for a tokenizer that rescans from every `<`. The
        // work is counted (bytes the helpers examine), not timed, so a loaded machine cannot
        // make the test pass or fail.
        for unit in [
            "<a ",
            "<!--",
            "<!DOCTYPE [",
            "<?",
            "<a b='",
            "<style>",
            "url(",
            "&#",
        ] {
            let work = |repeats: usize| {
                let svg = unit.repeat(repeats);
                crate::bytes::work::measure(|| drop(run(&svg)))
            };
            let (once, twice) = (work(LINEAR_REPEATS), work(2 * LINEAR_REPEATS));
            // The counter sees the scan: every byte is looked at least once.
            assert!(
                once >= (unit.len() * LINEAR_REPEATS) as u64,
                "{unit:?}: {once}"
            );
            let ratio = twice as f64 / once as f64;
            assert!(
                ratio <= MAX_WORK_RATIO,
                "{unit:?}: doubling the input multiplied the work by {ratio:.2} ({once} -> {twice})"
            );
        }
    }

    #[test]
    fn decode_char_handles_references() {
        assert_eq!(decode_char(b"&#106;", 0), (b'j', 6));
        assert_eq!(decode_char(b"&#x6a", 0), (b'j', 5));
        assert_eq!(decode_char(b"&#x10FFFF;", 0), (0xFF, 10));
        assert_eq!(decode_char(b"&#999999999999;", 0), (b'&', 1));
        assert_eq!(decode_char(b"&amp;", 0), (b'&', 1));
        assert!(!contains_javascript_uri(b"java"));
        assert!(contains_javascript_uri(b"jjavascript:"));
    }
}
