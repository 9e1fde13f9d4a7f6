//! The egress gate: every outgoing wasi:http request of a task passes here.
//!
//! Guarantees, checked on every request (a redirect the task follows is a
//! new request, so it is checked again; the host itself never follows one):
//! - The destination (scheme, host, port) must match the agent's
//!   `allowed_hosts`; absent or empty denies everything. The check happens
//!   before any DNS lookup or connection.
//! - A placeholder in the URL or a header is swapped for its secret's value
//!   only if the secret's grant is bound (`hosts`) to the destination; the
//!   value is resolved through the broker, so it is audited first.
//! - A request whose URL, headers or body carries a value the run released,
//!   to a destination that secret is not bound to, is refused. The body is
//!   read in full (up to [`MAX_BODY_BYTES`]) and scanned before anything is
//!   sent, so no byte of a refused request leaves the machine.
//! - The response to a request with an injected value is read in full and
//!   the value masked in it, so a server echoing headers cannot hand it to
//!   the task (`scrub.rs`).
//! - Every attempt is recorded as `http.request`: method, target, path with
//!   values and placeholders masked, decision, injected names, status; never
//!   header values or bodies. A denial tells the operator on stderr the exact
//!   tasks.toml line that would allow the request.

mod scrub;
mod send;

use http::{HeaderValue, Request, Uri};
use secrecy::ExposeSecret;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::audit::{Event, Token};
use crate::broker::{Broker, Released};
use crate::names::SecretName;
use crate::policy::{Destination, Scheme, allows};

pub use send::MAX_BODY_BYTES;

/// The wasi:http hooks of one run; owns the run's broker.
pub struct Gate {
    pub broker: Broker,
    released: Released,
}

/// What the audit record of a request says, built up as it is checked.
#[derive(Clone)]
pub(crate) struct Attempt {
    method: String,
    to: Destination,
    /// Path and query with values and placeholders masked.
    path: String,
    injected: Vec<SecretName>,
}

/// A denial: its audit reason code and what the operator is told.
#[derive(Debug)]
pub(crate) struct Denied {
    pub reason: &'static str,
    pub detail: String,
    pub hint: Option<String>,
}

type Sent = (
    http::Response<WasiBody>,
    Box<dyn Future<Output = Result<(), Error>> + Send>,
);
type SendFuture = Box<dyn Future<Output = Result<Sent, Error>> + Send>;

impl Gate {
    pub fn new(broker: Broker) -> Gate {
        let released = broker.released();
        Gate { broker, released }
    }

    /// The checks that need no body: allowlist, placeholders, carried values.
    /// On success the request has its placeholders replaced.
    fn admit(
        &mut self,
        request: &mut Request<WasiBody>,
        attempt: &mut Attempt,
    ) -> Result<(), Denied> {
        let allowed = self
            .broker
            .agent()
            .allowed_hosts
            .as_deref()
            .unwrap_or_default();
        if !allows(allowed, &attempt.to) {
            return Err(self.not_allowed(&attempt.to));
        }
        let guest_text = request_text(request);
        check_carried(&self.released, guest_text.as_bytes(), &attempt.to)?;
        for (token, secret) in self.released.placeholders_in(&guest_text) {
            let bound = self.broker.hosts_of(&secret);
            if !allows(&bound, &attempt.to) {
                return Err(unbound(&secret, &attempt.to, "placeholder-unbound"));
            }
            let value = self.broker.resolve(secret.as_str()).map_err(|_| Denied {
                reason: "secret-unavailable",
                detail: format!("{secret} could not be resolved for injection"),
                hint: None,
            })?;
            substitute(request, &token, value.expose_secret())?;
            attempt.injected.push(secret);
        }
        Ok(())
    }

    fn not_allowed(&self, to: &Destination) -> Denied {
        let agent = self.broker.agent();
        let mut entries: Vec<String> = agent
            .allowed_hosts
            .iter()
            .flatten()
            .map(|p| format!("{:?}", p.to_string()))
            .collect();
        entries.push(format!("{:?}", to.as_pattern()));
        Denied {
            reason: "not-allowed",
            detail: format!("{to} is not in allowed_hosts"),
            hint: Some(format!(
                "to allow it, write this line in [agents.{}] of tasks.toml:\n    \
                 allowed_hosts = [{}]",
                agent.name,
                entries.join(", ")
            )),
        }
    }

    /// Records an attempt; a record that cannot be written is reported.
    pub(crate) fn record(
        broker_audit: &(crate::audit::AuditLog, crate::broker::RunIdentity),
        attempt: &Attempt,
        outcome: Result<u16, &Denied>,
    ) {
        let (audit, who) = broker_audit;
        let (decision, reason, status) = match outcome {
            Ok(0) => ("allowed", "no-response", 0),
            Ok(status) => ("allowed", "sent", status),
            Err(denied) => ("denied", denied.reason, 0),
        };
        let injected: Vec<&str> = attempt.injected.iter().map(|s| s.as_str()).collect();
        let event = Event::HttpRequest {
            run: who.run,
            agent: who.agent.clone(),
            project: who.project.clone(),
            method: attempt.method.clone(),
            target: attempt.to.to_string(),
            path: attempt.path.clone(),
            decision: Token::new(decision).expect("decisions are valid tokens"),
            reason: Token::new(reason).expect("reason codes are valid tokens"),
            injected: injected.join(","),
            status,
        };
        if let Err(error) = audit.append(event) {
            eprintln!("scopehold: an HTTP request could not be recorded: {error}");
        }
    }
}

/// Tells the operator about a denial on stderr.
pub(crate) fn report(agent: &str, attempt: &Attempt, denied: &Denied) {
    eprintln!(
        "scopehold: HTTP request denied to agent {agent}: {} {}{}: {}",
        attempt.method, attempt.to, attempt.path, denied.detail
    );
    if let Some(hint) = &denied.hint {
        eprintln!("scopehold: hint: {hint}");
    }
}

/// A secret travelling to a destination its grant is not bound to.
pub(crate) fn unbound(secret: &SecretName, to: &Destination, reason: &'static str) -> Denied {
    Denied {
        reason,
        detail: format!("{secret} may not be sent to {to}: its grant is not bound to it"),
        hint: Some(format!(
            "if {to} is meant to receive it, add {:?} to hosts of the grant of {secret}, e.g. \
             {{ secret = \"{secret}\", hosts = [{:?}] }}",
            to.as_pattern(),
            to.as_pattern()
        )),
    }
}

/// Refuses if `bytes` carries a released value not bound to `to`.
pub(crate) fn check_carried(
    released: &Released,
    bytes: &[u8],
    to: &Destination,
) -> Result<(), Denied> {
    for (secret, bound) in released.carried_in(bytes) {
        if !allows(&bound, to) {
            return Err(unbound(&secret, to, "exfiltration"));
        }
    }
    Ok(())
}

/// URL and headers (names and values) as the guest wrote them, for scanning.
fn request_text(request: &Request<WasiBody>) -> String {
    let mut text = request.uri().to_string();
    for (name, value) in request.headers() {
        text.push('\n');
        text.push_str(name.as_str());
        text.push(':');
        text.push_str(&String::from_utf8_lossy(value.as_bytes()));
    }
    text
}

/// Replaces `token` by `value` in the request's URL and header values.
fn substitute(request: &mut Request<WasiBody>, token: &str, value: &str) -> Result<(), Denied> {
    let malformed = || Denied {
        reason: "malformed",
        detail: "the request with the secret substituted is not a valid HTTP request".into(),
        hint: None,
    };
    let uri = request.uri().to_string();
    if uri.contains(token) {
        *request.uri_mut() = uri
            .replace(token, value)
            .parse::<Uri>()
            .map_err(|_| malformed())?;
    }
    for header in request.headers_mut().values_mut() {
        let text = String::from_utf8_lossy(header.as_bytes());
        if text.contains(token) {
            let mut new =
                HeaderValue::from_str(&text.replace(token, value)).map_err(|_| malformed())?;
            new.set_sensitive(true);
            *header = new;
        }
    }
    Ok(())
}

/// Where a request goes, from its URI; `None` if it names no usable host.
fn destination(uri: &Uri) -> Option<Destination> {
    let scheme = Scheme::parse(uri.scheme_str()?)?;
    let host = uri.host()?.to_ascii_lowercase();
    let port = uri.port_u16().unwrap_or(scheme.default_port());
    Some(Destination { scheme, host, port })
}

impl WasiHttpHooks for Gate {
    fn send_request(
        &mut self,
        mut request: Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> SendFuture {
        let log = (self.broker.audit().clone(), self.broker.identity().clone());
        let agent = self.broker.identity().agent.to_string();
        let Some(to) = destination(request.uri()) else {
            eprintln!("scopehold: HTTP request denied to agent {agent}: the URL names no host");
            return Box::new(async { Err(Error::HttpRequestUriInvalid) });
        };
        let path = request
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let mut attempt = Attempt {
            method: request.method().as_str().to_owned(),
            to,
            path: truncate(&self.released.scrub(path)),
            injected: Vec::new(),
        };
        if let Err(denied) = self.admit(&mut request, &mut attempt) {
            report(&agent, &attempt, &denied);
            Gate::record(&log, &attempt, Err(&denied));
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        let released = self.released.clone();
        Box::new(send::checked(
            request, options, released, log, attempt, agent,
        ))
    }
}

/// Paths are recorded up to 1 KiB, so a hostile task cannot bloat the log.
fn truncate(path: &str) -> String {
    let mut end = path.len().min(1024);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    path[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use http_body_util::{BodyExt, Empty};

    use super::*;

    fn request(uri: &str, header: &str) -> Request<WasiBody> {
        let body = Empty::new().map_err(|never| match never {}).boxed_unsync();
        Request::builder()
            .uri(uri)
            .header("authorization", header)
            .body(body)
            .unwrap()
    }

    #[test]
    fn destination_has_scheme_lowercase_host_and_default_port() {
        let to = destination(&"https://API.Example.com/x".parse().unwrap()).unwrap();
        assert_eq!(to.to_string(), "https://api.example.com:443");
        let to = destination(&"http://127.0.0.1:8080/".parse().unwrap()).unwrap();
        assert_eq!(to.to_string(), "http://127.0.0.1:8080");
        assert!(destination(&"ftp://x.com/".parse().unwrap()).is_none());
        assert!(destination(&"/relative".parse().unwrap()).is_none());
    }

    #[test]
    fn substitute_swaps_the_token_in_url_and_headers_only() {
        let mut req = request("http://h/p?k=TOKEN", "Bearer TOKEN");
        substitute(&mut req, "TOKEN", "value").unwrap();
        assert_eq!(req.uri().to_string(), "http://h/p?k=value");
        let auth = req.headers().get("authorization").unwrap();
        assert_eq!(auth.as_bytes(), b"Bearer value");
        assert!(auth.is_sensitive(), "injected headers are marked sensitive");
    }

    #[test]
    fn substitute_refuses_a_value_that_breaks_the_request() {
        let mut req = request("http://h/p", "Bearer TOKEN");
        assert!(substitute(&mut req, "TOKEN", "line\nbreak").is_err());
    }

    #[test]
    fn request_text_covers_url_header_names_and_values() {
        let text = request_text(&request("http://h/p?q=1", "Bearer abc"));
        assert!(text.contains("http://h/p?q=1") && text.contains("authorization:Bearer abc"));
    }
}
