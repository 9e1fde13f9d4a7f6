//! The part of the egress gate that runs after the guest hands over a
//! request: read and scan the body, then send, then record the status.

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

use super::{Attempt, Denied, Gate, Sent, check_carried, report};
use crate::audit::AuditLog;
use crate::broker::{Released, RunIdentity};

/// Largest request body a task may send. Bodies are read in full before
/// sending so a refused request sends nothing; this bounds the memory that
/// costs.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Reads the body, refuses it if it carries an unbound value, else sends.
pub(super) async fn checked(
    request: Request<WasiBody>,
    options: Option<RequestOptions>,
    released: Released,
    log: (AuditLog, RunIdentity),
    attempt: Attempt,
    agent: String,
) -> Result<Sent, Error> {
    let (parts, body) = request.into_parts();
    let denied = |denied: Denied| {
        report(&agent, &attempt, &denied);
        Gate::record(&log, &attempt, Err(&denied));
        Err(Error::HttpRequestDenied)
    };
    let body = match read_body(body).await {
        Ok(body) => body,
        Err(Some(refusal)) => return denied(refusal),
        Err(None) => return Err(Error::HttpRequestBodySize(Some(MAX_BODY_BYTES as u64))),
    };
    // Scanned now, not when `handle` was called: the task may have resolved
    // a value while it was still writing the body.
    if let Err(refusal) = check_carried(&released, &body, &attempt.to) {
        return denied(refusal);
    }
    let body = Full::new(body).map_err(|never| match never {});
    let request = Request::from_parts(parts, body);
    match wasmtime_wasi_http::default_send_request(request, options).await {
        Ok((response, io)) => {
            Gate::record(&log, &attempt, Ok(response.status().as_u16()));
            let mut response = response.map(BodyExt::boxed_unsync);
            // `io` drives the connection, body included: it must run while
            // the body is read below, not only once it is handed back.
            let io = wasmtime_wasi::runtime::spawn(io);
            if !attempt.injected.is_empty() {
                let injected: Vec<_> = released
                    .values()
                    .into_iter()
                    .filter(|(name, _)| attempt.injected.contains(name))
                    .collect();
                response = super::scrub::response(response, &injected).await?;
            }
            Ok((response, Box::new(io) as Box<dyn Future<Output = _> + Send>))
        }
        Err(error) => {
            Gate::record(&log, &attempt, Ok(0));
            Err(error)
        }
    }
}

/// The whole body; `Err(None)` if it is too large, `Err(Some(_))` if it
/// cannot be read or has trailers (which would escape the scan).
async fn read_body(mut body: WasiBody) -> Result<Bytes, Option<Denied>> {
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
