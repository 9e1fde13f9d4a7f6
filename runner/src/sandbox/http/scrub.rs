//! Keeps injected values out of what the task reads back.
//!
//! A server may echo a request's headers (many debugging endpoints do), which
//! would hand the task the value it was never meant to hold. So when a value
//! was injected into a request, its response is read in full (up to
//! [`MAX_RESPONSE_BYTES`]) and every injected value in the body or a header is
//! replaced with `[REDACTED:name]` before the task sees any of it.

use bytes::Bytes;
use http::{HeaderValue, Response, header};
use http_body_util::{BodyExt, Full};
use secrecy::{ExposeSecret, SecretString};
use wasmtime_wasi_http::{Error, WasiBody};

use crate::names::SecretName;

/// Largest response to a request with an injected value.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// `response` with every one of `values` masked.
pub(super) async fn response(
    response: Response<WasiBody>,
    values: &[(SecretName, SecretString)],
) -> Result<Response<WasiBody>, Error> {
    let (mut parts, mut body) = response.into_parts();
    let mut data = Vec::new();
    while let Some(frame) = body.frame().await {
        // Trailers are dropped: they could carry the value past the mask.
        if let Ok(chunk) = frame?.into_data() {
            if data.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(Error::HttpResponseBodySize(Some(MAX_RESPONSE_BYTES as u64)));
            }
            data.extend_from_slice(&chunk);
        }
    }
    let data = mask(data, values);
    for value in parts.headers.values_mut() {
        let masked = mask(value.as_bytes().to_vec(), values);
        if masked != value.as_bytes() {
            *value = HeaderValue::from_bytes(&masked).map_err(|_| Error::HttpResponseIncomplete)?;
        }
    }
    if parts.headers.contains_key(header::CONTENT_LENGTH) {
        parts
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(data.len()));
    }
    let body = Full::new(Bytes::from(data))
        .map_err(|never| match never {})
        .boxed_unsync();
    Ok(Response::from_parts(parts, body))
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
}
