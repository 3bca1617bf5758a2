//! What a file is called and what it is said to be: display names made safe, the
//! stored content type, and the headers a download is served with.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Longest stored name, in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 255;
/// Longest stored content type.
const MAX_CONTENT_TYPE: usize = 255;

/// A display name from whatever a client sent: the last path component (as browsers
/// send it), without control characters or bidirectional overrides, trimmed, at most
/// 255 bytes cut on a character boundary; `file` when nothing is left.
pub fn sanitize(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let kept: String = base.chars().filter(|c| !c.is_control() && !is_format_control(*c)).collect();
    let trimmed = kept.trim();
    let mut end = trimmed.len().min(MAX_NAME_BYTES);
    while !trimmed.is_char_boundary(end) {
        end -= 1;
    }
    let name = trimmed[..end].trim_end();
    if name.is_empty() || name == "." || name == ".." { "file".to_owned() } else { name.to_owned() }
}

/// Invisible characters that change how text around them is shown: bidi embeddings,
/// overrides and isolates, direction marks, zero-width and byte-order marks.
fn is_format_control(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// The content type to store: what the client declared when it says something
/// (a form encoding or `application/octet-stream` says nothing), else a guess from
/// the name's extension.
pub fn content_type(declared: Option<&str>, name: &str) -> String {
    let declared = declared
        .filter(|text| text.len() <= MAX_CONTENT_TYPE)
        .and_then(|text| text.parse::<mime::Mime>().ok())
        .filter(|m| {
            !matches!(
                m.essence_str(),
                "application/octet-stream" | "application/x-www-form-urlencoded" | "multipart/form-data"
            )
        });
    match declared {
        Some(mime) => mime.essence_str().to_owned(),
        None => mime_guess::from_path(name).first_or_octet_stream().essence_str().to_owned(),
    }
}

/// The `Content-Type` a download is served with: as stored, except that anything a
/// browser would run or render as a document (HTML, SVG, XML, scripts) is served as
/// opaque bytes.
pub fn served_type(stored: &str) -> &str {
    let essence = stored.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let active = matches!(
        essence.as_str(),
        "text/html"
            | "application/xhtml+xml"
            | "image/svg+xml"
            | "text/xml"
            | "application/xml"
            | "text/xsl"
            | "application/xslt+xml"
            | "text/javascript"
            | "application/javascript"
            | "application/x-javascript"
            | "application/ecmascript"
            | "text/ecmascript"
            | "application/wasm"
            | "text/cache-manifest"
    ) || essence.ends_with("+xml")
        || essence.starts_with("multipart/");
    if active { "application/octet-stream" } else { stored }
}

/// RFC 8187 `attr-char`: what may stand unencoded in `filename*`.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `Content-Disposition: attachment` naming the file (RFC 6266): `filename*` in UTF-8
/// for clients that read it, an ASCII `filename` for those that do not.
pub fn attachment(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| if (c.is_ascii_graphic() || c == ' ') && !matches!(c, '"' | '\\' | '%') { c } else { '_' })
        .collect();
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{}", utf8_percent_encode(name, ATTR_CHAR))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_become_plain_ones() {
        assert_eq!(sanitize("../../etc/passwd"), "passwd");
        assert_eq!(sanitize("C:\\Users\\eve\\report.pdf"), "report.pdf");
        assert_eq!(sanitize("a\0b\r\nc.txt"), "abc.txt");
        assert_eq!(sanitize("invoice\u{202E}fdp.exe"), "invoicefdp.exe");
        assert_eq!(sanitize(".."), "file");
        assert_eq!(sanitize("  "), "file");
        assert_eq!(sanitize("dir/"), "file");
        let long = "é".repeat(200);
        let cut = sanitize(&long);
        assert!(cut.len() <= MAX_NAME_BYTES && cut.chars().all(|c| c == 'é'), "{}", cut.len());
        assert_eq!(cut.len(), 254);
    }

    #[test]
    fn content_types_are_declared_or_guessed() {
        assert_eq!(content_type(Some("image/png"), "x"), "image/png");
        assert_eq!(content_type(Some("text/plain; charset=utf-8"), "x"), "text/plain");
        assert_eq!(content_type(Some("application/x-www-form-urlencoded"), "a.pdf"), "application/pdf");
        assert_eq!(content_type(None, "a.txt"), "text/plain");
        assert_eq!(content_type(Some("not a type"), "blob"), "application/octet-stream");
    }

    #[test]
    fn active_content_is_served_as_bytes() {
        for active in
            ["text/html", "image/svg+xml", "application/xml", "text/javascript", "application/atom+xml"]
        {
            assert_eq!(served_type(active), "application/octet-stream", "{active}");
        }
        assert_eq!(served_type("image/png"), "image/png");
        assert_eq!(served_type("text/plain"), "text/plain");
    }

    #[test]
    fn disposition_has_both_forms() {
        assert_eq!(
            attachment("résumé \"final\".pdf"),
            "attachment; filename=\"r_sum_ _final_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.pdf"
        );
    }
}
