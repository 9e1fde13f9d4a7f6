//! A stand-in for the PostHog events API, for the quick start and the tests.
//!
//! It listens on a loopback address and answers, one request per connection:
//! - `GET /api/projects/1/events...` with `Authorization: Bearer KEY`: 200
//!   and canned events JSON; with any other authorization: 401.
//! - `GET /redirect?to=URL`: 302 to URL.
//! - `GET /big`: 200, the `Authorization` header then [`BIG_PADDING`] bytes.
//! - `GET /echo`: 200, the `Authorization` header echoed in the body and in
//!   an `x-echo` header (what a debugging endpoint might do).
//! - the reflecting endpoints of a hostile API (`/gzip-echo`, `/store`,
//!   `/read`): see [`reflect`].
//! - anything else: 200 `ok`.
//!
//! Every request received is kept ([`Server::received`]) so a test can check
//! what reached the wire, and what never did.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

pub mod reflect;

/// The canned answer to an authorised events query.
pub const EVENTS_JSON: &str = r#"{"results":[{"event":"$pageview","distinct_id":"u1"},{"event":"signed_up","distinct_id":"u2"},{"event":"$pageview","distinct_id":"u3"}]}"#;

/// Bytes of padding after the echoed header in a `/big` answer.
pub const BIG_PADDING: usize = 4 * 1024 * 1024;

/// One request as the server read it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub target: String,
    /// Lowercase names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A running stand-in; it stops serving when the process ends.
pub struct Server {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Server {
    /// Listens on `addr` (port 0 picks a free one) and serves in a thread.
    pub fn start(addr: &str, key: &str) -> std::io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let received = Arc::new(Mutex::new(Vec::new()));
        let (log, key) = (received.clone(), key.to_owned());
        let stored = reflect::Stored::default();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Ok(request) = serve(stream, &key, &stored) {
                    log.lock().unwrap_or_else(|p| p.into_inner()).push(request);
                }
            }
        });
        Ok(Server { addr, received })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request served so far.
    pub fn received(&self) -> Vec<Received> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn serve(stream: TcpStream, key: &str, stored: &reflect::Stored) -> std::io::Result<Received> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let request = read_request(&mut reader)?;
    let (status, headers, body) = reflect::answer(&request, stored).unwrap_or_else(|| {
        let (status, headers, body) = answer(&request, key);
        (status, headers, body.into_bytes())
    });
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    )?;
    for (name, value) in headers {
        write!(out, "{name}: {value}\r\n")?;
    }
    out.write_all(b"\r\n")?;
    out.write_all(&body)?;
    out.flush()?;
    Ok(request)
}

fn answer(request: &Received, key: &str) -> (&'static str, Vec<(String, String)>, String) {
    let json = vec![("content-type".to_owned(), "application/json".to_owned())];
    if request.target.starts_with("/api/projects/1/events") {
        return match request.header("authorization") {
            Some(auth) if auth == format!("Bearer {key}") => ("200 OK", json, EVENTS_JSON.into()),
            _ => (
                "401 Unauthorized",
                json,
                r#"{"detail":"invalid API key"}"#.into(),
            ),
        };
    }
    if let Some(to) = request.target.strip_prefix("/redirect?to=") {
        return (
            "302 Found",
            vec![("location".into(), to.to_owned())],
            String::new(),
        );
    }
    if request.target.starts_with("/big") {
        // Larger than any socket buffer, so the body arrives over many reads.
        let auth = request.header("authorization").unwrap_or_default();
        return (
            "200 OK",
            Vec::new(),
            format!("{auth}{}", "x".repeat(BIG_PADDING)),
        );
    }
    if request.target.starts_with("/echo") {
        // Reflects the authorization header, as debugging endpoints do.
        let auth = request
            .header("authorization")
            .unwrap_or_default()
            .to_owned();
        return (
            "200 OK",
            vec![("x-echo".into(), auth.clone())],
            format!("you sent: {auth}"),
        );
    }
    ("200 OK", Vec::new(), "ok".into())
}

fn read_request(reader: &mut impl BufRead) -> std::io::Result<Received> {
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim_end().is_empty() {
            break;
        }
        if let Some((name, value)) = header.trim_end().split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length.min(1 << 20)];
    reader.read_exact(&mut body)?;
    Ok(Received {
        method,
        target,
        headers,
        body,
    })
}
