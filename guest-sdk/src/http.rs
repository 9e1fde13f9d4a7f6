//! A small blocking HTTP client over `wasi:http/outgoing-handler`.
//!
//! ```no_run
//! use scopehold::http::Request;
//!
//! // The task never holds the key: the host swaps the placeholder for it,
//! // and only on the way to a host the grant is bound to.
//! let key = scopehold::placeholder("posthog-read").expect("granted");
//! let response = Request::get("https://us.posthog.com/api/projects/1/events")
//!     .bearer(&key)
//!     .send()
//!     .expect("request allowed");
//! println!("{} {}", response.status, response.text());
//! ```
//!
//! The host swaps a placeholder only where the grant's `inject` says
//! (default: `Authorization: Bearer <placeholder>`, what [`Request::bearer`]
//! writes; an API that wants `X-Api-Key: <key>` or `?api_key=<key>` needs
//! `inject = "header:X-Api-Key"` or `"query:api_key"` on the grant). A
//! placeholder anywhere else gets the request refused ([`HttpError::Denied`]).
//!
//! Redirects are followed (at most [`MAX_REDIRECTS`]); each hop is a new
//! request, checked by the host against the agent's `allowed_hosts` again.

use wasi::http::outgoing_handler;
use wasi::http::types::{ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, Scheme};
use wasi::io::streams::StreamError;

/// How many redirects [`Request::send`] follows.
pub const MAX_REDIRECTS: usize = 5;

/// Why a request produced no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The host refused it: destination not in `allowed_hosts`, a secret
    /// bound elsewhere, or a placeholder this agent may not use there.
    Denied,
    /// The URL is not `http(s)://host[:port][/path]`.
    InvalidUrl(String),
    /// Anything else (connection, protocol, too many redirects).
    Failed(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Denied => f.write_str("HTTP request denied by the host"),
            HttpError::InvalidUrl(url) => write!(f, "invalid URL {url:?}"),
            HttpError::Failed(why) => write!(f, "HTTP request failed: {why}"),
        }
    }
}

impl std::error::Error for HttpError {}

/// An outgoing request, built up and then [`send`](Request::send)t.
#[derive(Debug, Clone)]
pub struct Request {
    method: Method,
    url: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

/// A response with its whole body read.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn new(method: &str, url: &str) -> Request {
        let method = match method.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "PATCH" => Method::Patch,
            "HEAD" => Method::Head,
            other => Method::Other(other.to_owned()),
        };
        Request {
            method,
            url: url.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn get(url: &str) -> Request {
        Request::new("GET", url)
    }

    pub fn post(url: &str) -> Request {
        Request::new("POST", url)
    }

    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers
            .push((name.to_ascii_lowercase(), value.as_bytes().to_vec()));
        self
    }

    /// `Authorization: Bearer TOKEN`; TOKEN is typically a [`crate::placeholder`].
    pub fn bearer(self, token: &str) -> Request {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// The URL this request goes to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Header values as this task set them (placeholders, not secrets).
    pub fn headers(&self) -> &[(String, Vec<u8>)] {
        &self.headers
    }

    /// Sends the request and reads the response, following redirects.
    pub fn send(&self) -> Result<Response, HttpError> {
        let mut request = self.clone();
        for _ in 0..=MAX_REDIRECTS {
            let response = request.send_once()?;
            match (response.status, response.header("location")) {
                (301 | 302 | 303 | 307 | 308, Some(location)) => {
                    request.url = resolve(&request.url, location);
                    if response.status == 303 {
                        request.method = Method::Get;
                        request.body.clear();
                    }
                }
                _ => return Ok(response),
            }
        }
        Err(HttpError::Failed(format!(
            "more than {MAX_REDIRECTS} redirects"
        )))
    }

    fn send_once(&self) -> Result<Response, HttpError> {
        let url = Url::parse(&self.url)?;
        let fields = Fields::from_list(&self.headers)
            .map_err(|e| HttpError::Failed(format!("bad header: {e:?}")))?;
        let outgoing = OutgoingRequest::new(fields);
        let invalid = |_| HttpError::InvalidUrl(self.url.clone());
        outgoing
            .set_method(&self.method)
            .map_err(|_| HttpError::Failed("bad method".into()))?;
        outgoing.set_scheme(Some(&url.scheme)).map_err(invalid)?;
        outgoing
            .set_authority(Some(&url.authority))
            .map_err(invalid)?;
        outgoing
            .set_path_with_query(Some(&url.path))
            .map_err(invalid)?;
        let body = outgoing
            .body()
            .map_err(|_| HttpError::Failed("no body".into()))?;
        let future = outgoing_handler::handle(outgoing, None).map_err(error)?;
        write_body(body, &self.body)?;
        future.subscribe().block();
        let response = match future.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(error(code)),
            _ => return Err(HttpError::Failed("no response".into())),
        };
        let headers = response.headers().entries();
        let status = response.status();
        let body = read_body(&response)?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

impl Response {
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The first value of header `name` (case-insensitive), if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        let (_, value) = self
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))?;
        std::str::from_utf8(value).ok()
    }
}

fn error(code: ErrorCode) -> HttpError {
    match code {
        ErrorCode::HttpRequestDenied => HttpError::Denied,
        other => HttpError::Failed(format!("{other:?}")),
    }
}

fn write_body(body: OutgoingBody, bytes: &[u8]) -> Result<(), HttpError> {
    let failed = |what: &str| HttpError::Failed(format!("writing the request body: {what}"));
    {
        let stream = body.write().map_err(|_| failed("no stream"))?;
        // blocking-write-and-flush takes at most 4096 bytes per call.
        for chunk in bytes.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|_| failed("stream closed"))?;
        }
    }
    OutgoingBody::finish(body, None).map_err(error)
}

fn read_body(response: &wasi::http::types::IncomingResponse) -> Result<Vec<u8>, HttpError> {
    let failed = || HttpError::Failed("reading the response body".into());
    let body = response.consume().map_err(|_| failed())?;
    let mut data = Vec::new();
    {
        let stream = body.stream().map_err(|_| failed())?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => data.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(_)) => return Err(failed()),
            }
        }
    }
    Ok(data)
}

/// The parts of an absolute `http(s)://` URL that wasi:http wants.
struct Url {
    scheme: Scheme,
    authority: String,
    path: String,
}

impl Url {
    fn parse(url: &str) -> Result<Url, HttpError> {
        let invalid = || HttpError::InvalidUrl(url.to_owned());
        let (scheme, rest) = url.split_once("://").ok_or_else(invalid)?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return Err(invalid()),
        };
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        if authority.is_empty() {
            return Err(invalid());
        }
        let path = match path {
            "" => "/".to_owned(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_owned(),
        };
        Ok(Url {
            scheme,
            authority: authority.to_owned(),
            path,
        })
    }
}

/// A `Location` resolved against the URL it came from.
fn resolve(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_owned();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        format!("{scheme}://{authority}/{location}")
    }
}
