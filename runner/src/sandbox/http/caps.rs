//! Size caps on what a task's request may hold, checked before anything
//! else: a request over a cap is refused (reason `too-large`) and recorded
//! with its fields cut to the audit log's own caps, so a request can never
//! be too large to record, and an unrecorded request is never sent.
//!
//! The caps are documented in `docs/egress.md`; real APIs stay far below
//! them.

use http::Request;
use wasmtime_wasi_http::WasiBody;

use super::Denied;

/// Longest method, in bytes.
pub const MAX_METHOD_BYTES: usize = 32;
/// Longest URL (scheme, authority, path and query), in bytes.
pub const MAX_URL_BYTES: usize = 8 * 1024;
/// Most header fields in one request.
pub const MAX_HEADER_COUNT: usize = 100;
/// Most bytes of header names and values together in one request.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// What the audit record keeps of the method, target and path (after
/// masking values): a hostile task cannot bloat the log.
pub const RECORD_METHOD_BYTES: usize = MAX_METHOD_BYTES;
pub const RECORD_TARGET_BYTES: usize = 300;
pub const RECORD_PATH_BYTES: usize = 1024;

/// `Err` if `request` passes a cap.
pub(super) fn check(request: &Request<WasiBody>) -> Result<(), Denied> {
    let method = request.method().as_str().len();
    if method > MAX_METHOD_BYTES {
        return Err(too_large(format!(
            "its method is {method} bytes, more than {MAX_METHOD_BYTES}"
        )));
    }
    let url = request.uri().to_string().len();
    if url > MAX_URL_BYTES {
        return Err(too_large(format!(
            "its URL is {url} bytes, more than {MAX_URL_BYTES}"
        )));
    }
    let count = request.headers().len();
    let bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if count > MAX_HEADER_COUNT || bytes > MAX_HEADER_BYTES {
        return Err(too_large(format!(
            "it has {count} header fields of {bytes} bytes; at most {MAX_HEADER_COUNT} \
             fields of {MAX_HEADER_BYTES} bytes in all"
        )));
    }
    Ok(())
}

fn too_large(detail: String) -> Denied {
    Denied {
        reason: "too-large",
        detail,
        hint: None,
    }
}

/// The first `max` bytes of `text`, cut at a character boundary.
pub(super) fn cut(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt, Empty};

    use super::*;

    fn request(method: &str, path: &str, headers: usize, size: usize) -> Request<WasiBody> {
        let body = Empty::new().map_err(|never| match never {}).boxed_unsync();
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("http://h{path}"));
        for n in 0..headers {
            builder = builder.header(format!("x-{n}"), "v".repeat(size));
        }
        builder.body(body).unwrap()
    }

    #[test]
    fn refuses_each_field_past_its_cap() {
        assert!(check(&request("GET", "/", 10, 100)).is_ok());
        let long = "X".repeat(MAX_METHOD_BYTES + 1);
        for bad in [
            request(&long, "/", 0, 0),
            request("GET", &format!("/{}", "p".repeat(MAX_URL_BYTES)), 0, 0),
            request("GET", "/", MAX_HEADER_COUNT + 1, 1),
            request("GET", "/", 2, MAX_HEADER_BYTES / 2),
        ] {
            assert_eq!(check(&bad).unwrap_err().reason, "too-large");
        }
    }

    #[test]
    fn cut_keeps_whole_characters() {
        assert_eq!(cut("aé", 2), "a");
        assert_eq!(cut("abc", 10), "abc");
    }
}
