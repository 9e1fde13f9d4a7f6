//! Keeps injected values out of what the task reads back.
//!
//! A bound API may echo a request (many debugging endpoints do), compress
//! the echo, or store the value and serve it to a later request that
//! carries no placeholder. So once a value has been injected towards a
//! destination, every response from every destination its grant binds it
//! to is, for the rest of the run:
//! - asked for without content encoding (`Accept-Encoding: identity`, no
//!   `TE`), and refused if it comes encoded all the same (a
//!   `Content-Encoding` other than `identity`, a `Transfer-Encoding` other
//!   than `chunked`): a compressed echo would carry the value past the mask;
//! - read in full (up to [`MAX_RESPONSE_BYTES`]) with every released value
//!   in its body or a header replaced by `[REDACTED:name]` before the task
//!   sees any of it. Trailers are dropped.
//!
//! An API that transforms what it stores (base64, hashing, reversing) and
//! reflects it is beyond any mask: see `docs/egress.md`.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, header};
use http_body_util::{BodyExt, Full};
use secrecy::{ExposeSecret, SecretString};
use wasmtime_wasi_http::{Error, WasiBody};

use super::budget::Reserved;
use crate::broker::Released;
use crate::names::SecretName;

/// Largest response from a destination a value was injected towards.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Why a response to be masked was not handed to the task.
pub(super) enum Unmasked {
    /// Encoded in a way the mask cannot see through; names the encoding.
    Encoded(String),
    Failed(Error),
}

/// Asks the server for the response as is: no compression, no transfer
/// coding but chunked.
pub(super) fn ask_identity<B>(request: &mut Request<B>) {
    let headers = request.headers_mut();
    headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    headers.remove(header::TE);
}

/// `response` with every value `released` holds masked.
pub(super) async fn response(
    response: Response<WasiBody>,
    released: &Released,
    mut reserved: Reserved,
) -> Result<Response<WasiBody>, Unmasked> {
    if let Some(coding) = encoding(response.headers()) {
        return Err(Unmasked::Encoded(coding));
    }
    let (mut parts, body) = response.into_parts();
    let data = read_all(body, &mut reserved).await?;
    let values = released.values();
    let data = mask(data, &values);
    for value in parts.headers.values_mut() {
        let masked = mask(value.as_bytes().to_vec(), &values);
        if masked != value.as_bytes() {
            *value = HeaderValue::from_bytes(&masked)
                .map_err(|_| Unmasked::Failed(Error::HttpResponseIncomplete))?;
        }
    }
    if parts.headers.contains_key(header::CONTENT_LENGTH) {
        parts
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(data.len()));
    }
    // The reservation lives as long as the buffered body does.
    let body = Full::new(Bytes::from(data))
        .map_err(|never| match never {})
        .map_frame(move |frame| {
            let _held = &reserved;
            frame
        })
        .boxed_unsync();
    Ok(Response::from_parts(parts, body))
}

/// The whole body, counted against the run's host budget; trailers are
/// dropped (they could carry the value past the mask).
async fn read_all(mut body: WasiBody, reserved: &mut Reserved) -> Result<Vec<u8>, Unmasked> {
    let mut data = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Ok(chunk) = frame.map_err(Unmasked::Failed)?.into_data() {
            let too_large = data.len() + chunk.len() > MAX_RESPONSE_BYTES;
            if too_large || reserved.grow(chunk.len()).is_err() {
                let limit = Some(MAX_RESPONSE_BYTES as u64);
                return Err(Unmasked::Failed(Error::HttpResponseBodySize(limit)));
            }
            data.extend_from_slice(&chunk);
        }
    }
    Ok(data)
}

/// The content or transfer coding of a response the mask cannot read
/// through, if any.
fn encoding(headers: &HeaderMap) -> Option<String> {
    let codings = |name| {
        let mut out = Vec::new();
        for value in headers.get_all(name) {
            for coding in String::from_utf8_lossy(value.as_bytes()).split(',') {
                let coding = coding.trim().to_ascii_lowercase();
                if !coding.is_empty() {
                    out.push(coding);
                }
            }
        }
        out
    };
    let content = codings(header::CONTENT_ENCODING);
    let transfer = codings(header::TRANSFER_ENCODING);
    let coding = content
        .into_iter()
        .find(|c| c != "identity")
        .or_else(|| transfer.into_iter().find(|c| c != "chunked"))?;
    // The server chose it: printable and short before anyone prints it.
    Some(
        coding
            .chars()
            .filter(char::is_ascii_graphic)
            .take(32)
            .collect(),
    )
}

/// `data` with each value replaced by its marker.
fn mask(mut data: Vec<u8>, values: &[(SecretName, SecretString)]) -> Vec<u8> {
    for (name, value) in values {
        let needle = value.expose_secret().as_bytes();
        if needle.is_empty() {
            continue;
        }
        let marker = format!("[REDACTED:{name}]");
        let mut out = Vec::with_capacity(data.len());
        let mut at = 0;
        while at < data.len() {
            if data[at..].starts_with(needle) {
                out.extend_from_slice(marker.as_bytes());
                at += needle.len();
            } else {
                out.push(data[at]);
                at += 1;
            }
        }
        data = out;
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_every_occurrence() {
        let values = [(
            SecretName::new("k").unwrap(),
            SecretString::from("s3cr3t".to_owned()),
        )];
        let masked = mask(b"a s3cr3t b s3cr3ts3cr3t s3cr".to_vec(), &values);
        assert_eq!(masked, b"a [REDACTED:k] b [REDACTED:k][REDACTED:k] s3cr");
    }

    #[test]
    fn only_identity_and_chunked_pass() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (name, value) in pairs {
                map.append(*name, HeaderValue::from_static(value));
            }
            map
        };
        assert_eq!(encoding(&headers(&[])), None);
        let plain = [
            ("content-encoding", "identity"),
            ("transfer-encoding", "chunked"),
        ];
        assert_eq!(encoding(&headers(&plain)), None);
        for (name, value) in [
            ("content-encoding", "gzip"),
            ("content-encoding", "identity, br"),
            ("content-encoding", "Deflate"),
            ("transfer-encoding", "gzip, chunked"),
        ] {
            assert!(
                encoding(&headers(&[(name, value)])).is_some(),
                "{name}: {value}"
            );
        }
    }
}
