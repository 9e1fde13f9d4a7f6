//! Where a placeholder sits in a request, and its substitution.
//!
//! The operator's grant names the one position a value may go
//! ([`InjectAt`]). A placeholder found anywhere else (the URL's host or
//! user info, its path, another query parameter, another header, a header
//! name, the method, the body), or twice, refuses the whole request before
//! anything is resolved or substituted; in particular the host is never
//! rewritten, so a value never reaches DNS or TLS SNI. Substitution writes
//! only the granted header's value or the granted query parameter's value.

use std::fmt;

use http::uri::PathAndQuery;
use http::{HeaderValue, Request, Uri};
use wasmtime_wasi_http::WasiBody;

use crate::policy::InjectAt;

/// A part of a request a placeholder was found in, for the denial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Spot {
    Method,
    Authority,
    Path,
    Query(String),
    Header(String),
    Body,
    /// In the granted position, but more than once.
    Repeated,
    /// Not in any part a request is checked in (cannot happen for a token
    /// found in the request's text; refused all the same).
    Elsewhere,
}

impl fmt::Display for Spot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Spot::Method => f.write_str("the method"),
            Spot::Authority => f.write_str("the URL's host"),
            Spot::Path => f.write_str("the URL's path"),
            Spot::Query(name) => write!(f, "query parameter {name:?}"),
            Spot::Header(name) => write!(f, "header {name:?}"),
            Spot::Body => f.write_str("the body"),
            Spot::Repeated => f.write_str("more than one place"),
            Spot::Elsewhere => f.write_str("an unexpected place"),
        }
    }
}

/// `Ok` if `token` occurs exactly once in `request` (body aside), in the
/// position `at`; else the first other place it was found.
pub(super) fn check(request: &Request<WasiBody>, token: &str, at: &InjectAt) -> Result<(), Spot> {
    let uri = request.uri();
    if request.method().as_str().contains(token) {
        return Err(Spot::Method);
    }
    if uri.authority().is_some_and(|a| a.as_str().contains(token)) {
        return Err(Spot::Authority);
    }
    if uri.path().contains(token) {
        return Err(Spot::Path);
    }
    let mut granted = 0;
    for pair in uri.query().unwrap_or_default().split('&') {
        let (name, _) = pair.split_once('=').unwrap_or((pair, ""));
        if matches!(at, InjectAt::Query { name: n } if pair == format!("{n}={token}")) {
            granted += 1;
        } else if pair.contains(token) {
            return Err(Spot::Query(name.to_owned()));
        }
    }
    for (name, value) in request.headers() {
        let value = String::from_utf8_lossy(value.as_bytes());
        if in_header(at, name.as_str(), &value, token) {
            granted += 1;
        } else if name.as_str().contains(token) || value.contains(token) {
            return Err(Spot::Header(name.as_str().to_owned()));
        }
    }
    match granted {
        1 => Ok(()),
        0 => Err(Spot::Elsewhere),
        _ => Err(Spot::Repeated),
    }
}

/// Whether header `name: value` is exactly the granted header with `token`.
fn in_header(at: &InjectAt, name: &str, value: &str, token: &str) -> bool {
    match at {
        InjectAt::Header {
            name: granted,
            prefix,
            suffix,
        } => {
            name == granted
                && value
                    .strip_prefix(prefix.as_str())
                    .and_then(|rest| rest.strip_suffix(suffix.as_str()))
                    == Some(token)
        }
        InjectAt::Query { .. } => false,
    }
}

/// Writes `value` where `token` is, in the position [`check`] accepted.
/// `Err` if the result is not a valid request (a value with a line break).
pub(super) fn substitute(
    request: &mut Request<WasiBody>,
    token: &str,
    at: &InjectAt,
    value: &str,
) -> Result<(), ()> {
    match at {
        InjectAt::Header {
            name,
            prefix,
            suffix,
        } => {
            let mut new =
                HeaderValue::from_str(&format!("{prefix}{value}{suffix}")).map_err(|_| ())?;
            new.set_sensitive(true);
            let name = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| ())?;
            request.headers_mut().insert(name, new);
            Ok(())
        }
        InjectAt::Query { name } => {
            let uri = request.uri().clone();
            let query = uri.query().unwrap_or_default();
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair == format!("{name}={token}") {
                    true => format!("{name}={}", percent_encode(value)),
                    false => pair.to_owned(),
                })
                .collect();
            let path_and_query = format!("{}?{}", uri.path(), pairs.join("&"));
            let mut parts = uri.into_parts();
            parts.path_and_query = Some(PathAndQuery::try_from(path_and_query).map_err(|_| ())?);
            *request.uri_mut() = Uri::from_parts(parts).map_err(|_| ())?;
            Ok(())
        }
    }
}

/// `value` with every byte but RFC 3986's unreserved ones percent-encoded.
pub(super) fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt, Empty};

    use super::*;

    const T: &str = "scopehold-placeholder-00";

    fn request(method: &str, uri: &str, headers: &[(&str, &str)]) -> Request<WasiBody> {
        let body = Empty::new().map_err(|never| match never {}).boxed_unsync();
        let mut builder = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(body).unwrap()
    }

    fn spot(req: &Request<WasiBody>, at: &InjectAt) -> Result<(), Spot> {
        check(req, T, at)
    }

    #[test]
    fn accepts_only_the_granted_position() {
        let bearer = InjectAt::default();
        let auth = format!("Bearer {T}");
        let ok = request("GET", "http://h/p?q=1", &[("authorization", &auth)]);
        assert_eq!(spot(&ok, &bearer), Ok(()));
        let query = InjectAt::parse("query:api_key").unwrap();
        let ok = request("GET", &format!("http://h/p?a=1&api_key={T}"), &[]);
        assert_eq!(spot(&ok, &query), Ok(()));
        assert_eq!(spot(&ok, &bearer), Err(Spot::Query("api_key".into())));
    }

    #[test]
    fn refuses_every_other_position() {
        let bearer = InjectAt::default();
        let auth = format!("Bearer {T}");
        let cases = [
            (
                request("GET", &format!("http://{T}.x/"), &[]),
                Spot::Authority,
            ),
            (
                request("GET", &format!("http://{T}@x/"), &[]),
                Spot::Authority,
            ),
            (request("GET", &format!("http://x/{T}"), &[]), Spot::Path),
            (request(T, "http://x/", &[]), Spot::Method),
            (
                request("GET", "http://x/", &[("x-other", &auth)]),
                Spot::Header("x-other".into()),
            ),
            (
                request(
                    "GET",
                    "http://x/",
                    &[("authorization", &format!("Basic {T}"))],
                ),
                Spot::Header("authorization".into()),
            ),
            (
                request(
                    "GET",
                    "http://x/",
                    &[("authorization", &auth), ("authorization", &auth)],
                ),
                Spot::Repeated,
            ),
        ];
        for (req, expected) in cases {
            assert_eq!(spot(&req, &bearer), Err(expected));
        }
    }

    #[test]
    fn substitutes_header_or_query_value_only() {
        let mut req = request(
            "GET",
            "http://h/p",
            &[("authorization", &format!("Bearer {T}"))],
        );
        substitute(&mut req, T, &InjectAt::default(), "v").unwrap();
        let auth = req.headers().get("authorization").unwrap();
        assert_eq!(auth.as_bytes(), b"Bearer v");
        assert!(auth.is_sensitive());
        assert!(substitute(&mut req, T, &InjectAt::default(), "a\nb").is_err());
        let at = InjectAt::parse("query:k").unwrap();
        let mut req = request("GET", &format!("http://h:8/p?a=1&k={T}"), &[]);
        substitute(&mut req, T, &at, "v &=").unwrap();
        assert_eq!(req.uri().to_string(), "http://h:8/p?a=1&k=v%20%26%3D");
    }
}
