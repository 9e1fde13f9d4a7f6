//! The part of the egress gate that runs after the guest hands over a
//! request: read and scan the body, record, send, then mask and record the
//! answer.

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

use super::budget::{HostBytes, Reserved};
use super::place::Spot;
use super::record::Recorder;
use super::scrub::{self, Unmasked};
use super::{Attempt, Denied, Sent, check_carried, misplaced};

/// Largest request body a task may send. Bodies are read in full before
/// sending so a refused request sends nothing; this bounds the memory that
/// costs.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Reads the body, refuses it if it carries an unbound value or a
/// placeholder, records the request, then sends it.
pub(super) async fn checked(
    request: Request<WasiBody>,
    options: Option<RequestOptions>,
    recorder: Recorder,
    attempt: Attempt,
    bytes: HostBytes,
) -> Result<Sent, Error> {
    let (parts, body) = request.into_parts();
    let denied = |denied: Denied| {
        recorder.denied(&attempt, &denied);
        Err(Error::HttpRequestDenied)
    };
    // Held until the request has been sent.
    let mut reserved = bytes.reserve();
    let body = match read_body(body, &mut reserved).await {
        Ok(body) => body,
        Err(Some(refusal)) => return denied(refusal),
        Err(None) => return Err(Error::HttpRequestBodySize(Some(MAX_BODY_BYTES as u64))),
    };
    // Scanned now, not when `handle` was called: the task may have resolved
    // a value while it was still writing the body.
    if let Err(refusal) = check_carried(&recorder.released, &body, &attempt.to) {
        return denied(refusal);
    }
    let text = String::from_utf8_lossy(&body);
    if let Some((_, secret)) = recorder.released.placeholders_in(&text).into_iter().next() {
        return denied(misplaced(&secret, &Spot::Body));
    }
    if recorder.sending(&attempt).is_err() {
        return Err(Error::HttpRequestDenied);
    }
    let request = Request::from_parts(parts, Full::new(body).map_err(|never| match never {}));
    match wasmtime_wasi_http::default_send_request(request, options).await {
        Ok((response, io)) => {
            // `io` drives the connection, body included: it must run while
            // the body is read below, not only once it is handed back.
            let io = wasmtime_wasi::runtime::spawn(io);
            let status = response.status().as_u16();
            let mut response = response.map(BodyExt::boxed_unsync);
            // Decided now: a value injected meanwhile covers this answer too.
            if recorder.released.masks(&attempt.to) {
                response = masked(response, &recorder, &attempt, &bytes).await?;
            }
            recorder.answered(&attempt, "allowed", "sent", status);
            Ok((response, Box::new(io) as Box<dyn Future<Output = _> + Send>))
        }
        Err(error) => {
            recorder.answered(&attempt, "allowed", "no-response", 0);
            Err(error)
        }
    }
}

/// The response with every released value masked; an encoded one is
/// refused (and recorded as such).
async fn masked(
    response: http::Response<WasiBody>,
    recorder: &Recorder,
    attempt: &Attempt,
    bytes: &HostBytes,
) -> Result<http::Response<WasiBody>, Error> {
    let status = response.status().as_u16();
    match scrub::response(response, &recorder.released, bytes.reserve()).await {
        Ok(response) => Ok(response),
        Err(Unmasked::Encoded(coding)) => {
            let line = recorder.released.scrub(&attempt.line());
            crate::broker::notice::say(&format!(
                "scopehold: HTTP response refused to agent {}: {}: it is {coding}-encoded, and \
                 responses from a host a key was injected towards must come unencoded",
                recorder.who.agent,
                super::caps::cut(&line, 2048)
            ));
            recorder.answered(attempt, "denied", "encoded-response", status);
            Err(Error::HttpResponseContentCoding(Some(coding)))
        }
        Err(Unmasked::Failed(error)) => {
            recorder.answered(attempt, "allowed", "no-response", status);
            Err(error)
        }
    }
}

/// The whole body; `Err(None)` if it is too large, `Err(Some(_))` if it
/// cannot be read or has trailers (which would escape the scan).
async fn read_body(mut body: WasiBody, reserved: &mut Reserved) -> Result<Bytes, Option<Denied>> {
    let mut data = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| {
            Some(Denied {
                reason: "body-error",
                detail: format!("{error}"),
                hint: None,
            })
        })?;
        match frame.into_data() {
            Ok(chunk) if data.len() + chunk.len() <= MAX_BODY_BYTES => {
                reserved.grow(chunk.len()).map_err(|()| {
                    Some(Denied {
                        reason: "host-memory",
                        detail: "the bodies of its requests in flight passed its memory limit"
                            .into(),
                        hint: None,
                    })
                })?;
                data.extend_from_slice(&chunk)
            }
            Ok(_) => return Err(None),
            Err(_) => {
                let detail = "request trailers are not supported".to_owned();
                return Err(Some(Denied {
                    reason: "trailers",
                    detail,
                    hint: None,
                }));
            }
        }
    }
    Ok(Bytes::from(data))
}
