//! The egress gate: every outgoing wasi:http request of a task passes here.
//!
//! Guarantees, checked on every request (a redirect the task follows is a
//! new request, so it is checked again; the host itself never follows one):
//! - The run's `requests` limit: the request past it stops the task.
//! - Method, URL and headers stay within documented caps (`caps.rs`).
//! - The destination (scheme, host, port) must match the agent's
//!   `allowed_hosts`; absent or empty denies everything. The check happens
//!   before any DNS lookup or connection.
//! - A placeholder is swapped for its secret's value only if the secret's
//!   grant is bound (`hosts`) to the destination and the placeholder sits
//!   exactly in the grant's `inject` position; anywhere else (host, path,
//!   another header, the method, the body) the request is refused
//!   (`place.rs`). The value is resolved through the broker, so it is
//!   audited first.
//! - A request whose method, URL, headers or body carries a value the run
//!   released, to a destination that secret is not bound to, is refused. The
//!   body is read in full (up to [`MAX_BODY_BYTES`]) and scanned before
//!   anything is sent, so no byte of a refused request leaves the machine.
//! - Bodies the gate buffers count against a budget the size of the
//!   agent's `memory` limit, shared by all requests in flight (`budget.rs`).
//! - Once a value was injected, requests to every destination its grant
//!   binds it to ask for unencoded responses, and those responses are masked
//!   for the rest of the run (`scrub.rs`).
//! - Every attempt is recorded as `http.request` (`record.rs`): an allowed
//!   one before it is sent (not sent if it cannot be recorded), a denial
//!   synced. A denial tells the operator on stderr the exact tasks.toml line
//!   that would allow the request.

mod budget;
mod caps;
mod place;
mod record;
mod scrub;
mod send;

use http::{Request, Uri};
use secrecy::ExposeSecret;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use crate::broker::{Broker, Released};
use crate::names::SecretName;
use crate::policy::{Destination, HostPattern, InjectAt, Limit, Scheme, allows};

use super::limits::Tripwire;
use budget::HostBytes;
use place::Spot;
use record::Recorder;
pub use send::MAX_BODY_BYTES;

/// The wasi:http hooks of one run; owns the run's broker.
pub struct Gate {
    pub broker: Broker,
    released: Released,
    tripwire: Tripwire,
    /// Host memory for buffered bodies.
    bytes: HostBytes,
}

/// A request as the guest wrote it, for its audit record (masked and cut
/// only when recorded or printed: a value may be released later).
#[derive(Clone)]
pub(crate) struct Attempt {
    method: String,
    to: Destination,
    /// Path and query.
    path: String,
    injected: Vec<SecretName>,
}

impl Attempt {
    /// `METHOD scheme://host:portPATH`, unmasked.
    fn line(&self) -> String {
        format!("{} {}{}", self.method, self.to, self.path)
    }
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
    pub fn new(broker: Broker, tripwire: Tripwire) -> Gate {
        let released = broker.released();
        let memory = broker.agent().confinement.limits.memory;
        Gate {
            broker,
            released,
            bytes: HostBytes::new(memory, tripwire.clone()),
            tripwire,
        }
    }

    fn recorder(&self) -> Recorder {
        Recorder {
            audit: self.broker.audit().clone(),
            who: self.broker.identity().clone(),
            sync: self.broker.audit_sync(),
            released: self.released.clone(),
        }
    }

    /// The checks that need no body: allowlist, placeholders, carried values.
    /// On success the request has its placeholders replaced.
    fn admit(
        &mut self,
        request: &mut Request<WasiBody>,
        attempt: &mut Attempt,
    ) -> Result<(), Denied> {
        caps::check(request)?;
        let allowed = self.broker.agent().allowed_hosts.as_deref();
        if !allows(allowed.unwrap_or_default(), &attempt.to) {
            return Err(self.not_allowed(&attempt.to));
        }
        let guest_text = request_text(request);
        check_carried(&self.released, guest_text.as_bytes(), &attempt.to)?;
        let found = self.released.placeholders_in(&guest_text);
        // Every placeholder is checked before any value is resolved.
        let mut places = Vec::with_capacity(found.len());
        for (token, secret) in found {
            let (bound, at) = self.broker.injection_of(&secret);
            if !allows(&bound, &attempt.to) {
                return Err(unbound(&secret, &attempt.to, "placeholder-unbound"));
            }
            place::check(request, &token, &at).map_err(|spot| misplaced(&secret, &spot))?;
            places.push((token, secret, bound, at));
        }
        self.inject(request, attempt, places)
    }

    /// Resolves each checked placeholder's value (audited) and writes it in.
    fn inject(
        &mut self,
        request: &mut Request<WasiBody>,
        attempt: &mut Attempt,
        places: Vec<(String, SecretName, Vec<HostPattern>, InjectAt)>,
    ) -> Result<(), Denied> {
        for (token, secret, bound, at) in places {
            let value = self.broker.resolve(secret.as_str()).map_err(|_| Denied {
                reason: "secret-unavailable",
                detail: format!("{secret} could not be resolved for injection"),
                hint: None,
            })?;
            place::substitute(request, &token, &at, value.expose_secret()).map_err(|()| {
                Denied {
                    reason: "malformed",
                    detail: "the request with the secret substituted is not a valid HTTP request"
                        .into(),
                    hint: None,
                }
            })?;
            if let InjectAt::Query { .. } = at {
                // An API may echo the form it received: guard and mask it too.
                let encoded = place::percent_encode(value.expose_secret());
                let encoded = secrecy::SecretString::from(encoded);
                self.released.push(secret.clone(), encoded, bound.clone());
            }
            self.released.mark_injected(&bound);
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

    /// Counts one request; past the `requests` limit the task is stopped.
    fn within_request_limit(&mut self) -> bool {
        let requests = self.broker.count_request();
        let limit = self.broker.agent().confinement.limits.requests;
        if requests <= limit {
            return true;
        }
        self.tripwire.trip(Limit::Requests);
        false
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

/// A placeholder outside its grant's `inject` position.
pub(crate) fn misplaced(secret: &SecretName, spot: &Spot) -> Denied {
    Denied {
        reason: "placeholder-position",
        detail: format!(
            "the placeholder of {secret} is in {spot}; its grant injects it only where \
             its `inject` says"
        ),
        hint: Some(format!(
            "put it where the grant of {secret} injects it (default \"{}\"), or set \
             inject on that grant in tasks.toml, e.g. inject = \"header:X-Api-Key\"",
            InjectAt::default()
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

/// Method, URL and headers (names and values) as the guest wrote them, for
/// scanning.
fn request_text(request: &Request<WasiBody>) -> String {
    let mut text = format!("{} {}", request.method().as_str(), request.uri());
    for (name, value) in request.headers() {
        text.push('\n');
        text.push_str(name.as_str());
        text.push(':');
        text.push_str(&String::from_utf8_lossy(value.as_bytes()));
    }
    text
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
        if !self.within_request_limit() {
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        let Some(to) = destination(request.uri()) else {
            let agent = &self.broker.identity().agent;
            crate::broker::notice::say(&format!(
                "scopehold: HTTP request denied to agent {agent}: the URL names no host"
            ));
            return Box::new(async { Err(Error::HttpRequestUriInvalid) });
        };
        let path = request.uri().path_and_query().map(|p| p.as_str());
        let mut attempt = Attempt {
            method: request.method().as_str().to_owned(),
            to,
            path: path.unwrap_or("/").to_owned(),
            injected: Vec::new(),
        };
        if let Err(denied) = self.admit(&mut request, &mut attempt) {
            self.broker.anchor_if_possible();
            self.recorder().denied(&attempt, &denied);
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        if self.released.masks(&attempt.to) {
            scrub::ask_identity(&mut request);
        }
        let bytes = self.bytes.clone();
        Box::new(send::checked(
            request,
            options,
            self.recorder(),
            attempt,
            bytes,
        ))
    }
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
    fn request_text_covers_url_header_names_and_values() {
        let text = request_text(&request("http://h/p?q=1", "Bearer abc"));
        assert!(
            text.starts_with("GET http://h/p?q=1"),
            "the method is scanned too"
        );
        assert!(text.contains("authorization:Bearer abc"));
    }
}
