//! `inject` on a grant: where in a request the egress gate may put the
//! secret's value. The operator decides this, not the task.
//!
//! Syntax (`docs/egress.md`):
//! - `"header:NAME"`: the whole value of header NAME is the placeholder;
//! - `"header:NAME:TEMPLATE"`: header NAME's value is TEMPLATE with its one
//!   `{}` replaced, e.g. `"header:Authorization:Bearer {}"` (the default);
//! - `"query:NAME"`: the value of query parameter NAME is the placeholder.
//!
//! Guarantees: parsing is strict (header names are HTTP tokens, never one
//! that frames or routes the request such as `Host` or `Content-Length`;
//! templates are printable ASCII with exactly one `{}`; query names are
//! URL-safe), so an [`InjectAt`] can only ever name one header or one query
//! parameter, never the URL's host, path, method or body.

use std::fmt;

/// Where a grant's value may be injected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InjectAt {
    /// Header `name` (lowercase) whose value is `prefix` + value + `suffix`.
    Header {
        name: String,
        prefix: String,
        suffix: String,
    },
    /// Query parameter `name` whose value is the value (percent-encoded).
    Query { name: String },
}

/// Headers a value may never be injected into: they route or frame the
/// request (or would let the value choose where the request goes).
const FORBIDDEN_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
    "trailer",
    "keep-alive",
    "proxy-connection",
    "accept-encoding",
    "content-encoding",
];

impl Default for InjectAt {
    /// `Authorization: Bearer {}`.
    fn default() -> Self {
        InjectAt::Header {
            name: "authorization".into(),
            prefix: "Bearer ".into(),
            suffix: String::new(),
        }
    }
}

impl InjectAt {
    /// Parses a grant's `inject` value; the error says what is wrong.
    pub fn parse(text: &str) -> Result<InjectAt, String> {
        if let Some(rest) = text.strip_prefix("header:") {
            let (name, template) = rest.split_once(':').unwrap_or((rest, "{}"));
            let name = header_name(text, name)?;
            let (prefix, suffix) = template_parts(text, template)?;
            return Ok(InjectAt::Header {
                name,
                prefix,
                suffix,
            });
        }
        if let Some(name) = text.strip_prefix("query:") {
            let ok = !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
            if !ok {
                return Err(format!(
                    "{text:?}: a query parameter name is 1 to 64 letters, digits, '_', '-' or '.'"
                ));
            }
            return Ok(InjectAt::Query { name: name.into() });
        }
        Err(format!(
            "{text:?} names no position; write \"header:NAME\", \"header:NAME:TEMPLATE\" \
             (one {{}} marks the value) or \"query:NAME\""
        ))
    }
}

fn header_name(text: &str, name: &str) -> Result<String, String> {
    // RFC 9110 token characters.
    let token = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !token {
        return Err(format!(
            "{text:?}: the header name must be 1 to 64 letters, digits or -_.!#$%&'*+^`|~"
        ));
    }
    let name = name.to_ascii_lowercase();
    if FORBIDDEN_HEADERS.contains(&name.as_str()) {
        return Err(format!("{text:?}: a value may not be injected into {name}"));
    }
    Ok(name)
}

fn template_parts(text: &str, template: &str) -> Result<(String, String), String> {
    let printable = template.bytes().all(|b| (b' '..=b'~').contains(&b));
    let Some((prefix, suffix)) = template.split_once("{}") else {
        return Err(format!(
            "{text:?}: the template must hold one {{}} for the value"
        ));
    };
    if !printable || template.len() > 256 || suffix.contains("{}") {
        return Err(format!(
            "{text:?}: the template must be printable ASCII, at most 256 bytes, with one {{}}"
        ));
    }
    Ok((prefix.into(), suffix.into()))
}

impl fmt::Display for InjectAt {
    /// The canonical spelling, which parses back to the same position.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InjectAt::Header {
                name,
                prefix,
                suffix,
            } => write!(f, "header:{name}:{prefix}{{}}{suffix}"),
            InjectAt::Query { name } => write!(f, "query:{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_headers_templates_and_queries() {
        let bearer = InjectAt::parse("header:Authorization:Bearer {}").unwrap();
        assert_eq!(bearer, InjectAt::default());
        assert_eq!(bearer.to_string(), "header:authorization:Bearer {}");
        let whole = InjectAt::parse("header:X-Api-Key").unwrap();
        assert_eq!(whole.to_string(), "header:x-api-key:{}");
        let query = InjectAt::parse("query:api_key").unwrap();
        assert_eq!(query.to_string(), "query:api_key");
        for text in ["header:x:token={};", "query:a.b-c_d"] {
            let parsed = InjectAt::parse(text).unwrap();
            assert_eq!(InjectAt::parse(&parsed.to_string()).unwrap(), parsed);
        }
    }

    #[test]
    fn rejects_anything_but_one_header_or_one_query_parameter() {
        for bad in [
            "",
            "host",
            "url",
            "body",
            "path:x",
            "header:",
            "header:Host",
            "header:content-length",
            "header:x y",
            "header:x:\n{}",
            "header:x:no-marker",
            "header:x:{}{}",
            "header:x:\u{1b}{}",
            "query:",
            "query:a b",
            "query:a&b",
            "query:a=b",
            "Header:x",
        ] {
            assert!(InjectAt::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
