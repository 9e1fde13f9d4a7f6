//! Egress allowlist entries: `allowed_hosts` of an agent and `hosts` of a grant.
//!
//! An entry is `SCHEME://HOST[:PORT]`, where SCHEME is `http` or `https`, HOST
//! is a DNS name, an IPv4 address or `*.` followed by a DNS name (any
//! subdomain, never the name itself), and PORT defaults to the scheme's port.
//! Guarantees:
//! - Scheme and port are always part of the match (spin#720 ignored them):
//!   `https://api.example.com` does not allow `http://api.example.com` nor
//!   `https://api.example.com:8443`.
//! - Parsing is strict: paths, queries, user info, bare `*`, wildcards
//!   anywhere but the front and unknown schemes are errors, each with a reason.
//! - Matching compares lowercase ASCII hosts; no DNS lookup is involved.

use std::fmt;

/// One parsed allowlist entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    scheme: Scheme,
    host: HostMatch,
    port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Exact(String),
    /// `*.suffix`: holds `suffix`.
    Subdomains(String),
}

/// Where a request goes: what the allowlist is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub scheme: Scheme,
    /// Lowercase.
    pub host: String,
    pub port: u16,
}

impl Scheme {
    pub fn parse(text: &str) -> Option<Scheme> {
        match text.to_ascii_lowercase().as_str() {
            "http" => Some(Scheme::Http),
            "https" => Some(Scheme::Https),
            _ => None,
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

impl HostPattern {
    /// Parses one entry; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<HostPattern, String> {
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| format!("{text:?} has no scheme; write it as \"https://{text}\""))?;
        let scheme = Scheme::parse(scheme)
            .ok_or_else(|| format!("{text:?}: the scheme must be http or https"))?;
        if let Some(bad) = rest.chars().find(|c| matches!(c, '/' | '?' | '#' | '@')) {
            return Err(format!(
                "{text:?}: only scheme, host and port are allowed, not {bad:?}"
            ));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (host, parse_port(text, port)?),
            None => (rest, scheme.default_port()),
        };
        let host = host.to_ascii_lowercase();
        let host = match host.strip_prefix("*.") {
            Some(suffix) => HostMatch::Subdomains(valid_host(text, suffix)?),
            None => HostMatch::Exact(valid_host(text, &host)?),
        };
        Ok(HostPattern { scheme, host, port })
    }

    /// Whether a request to `to` is allowed by this entry.
    pub fn matches(&self, to: &Destination) -> bool {
        if self.scheme != to.scheme || self.port != to.port {
            return false;
        }
        match &self.host {
            HostMatch::Exact(host) => *host == to.host,
            HostMatch::Subdomains(suffix) => to
                .host
                .strip_suffix(suffix.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
        }
    }
}

fn parse_port(text: &str, port: &str) -> Result<u16, String> {
    // The round trip rejects `:080` and `:+80`, which name the same port twice.
    match port.parse::<u16>() {
        Ok(number) if number > 0 && number.to_string() == port => Ok(number),
        _ => Err(format!(
            "{text:?}: the port must be a number from 1 to 65535"
        )),
    }
}

fn valid_host(text: &str, host: &str) -> Result<String, String> {
    let labels_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if labels_ok {
        Ok(host.to_owned())
    } else {
        Err(format!(
            "{text:?}: the host must be a DNS name, an IPv4 address or *.NAME \
             (letters, digits, '-' and '.')"
        ))
    }
}

impl fmt::Display for HostPattern {
    /// The canonical spelling: default ports are left out.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme.as_str())?;
        match &self.host {
            HostMatch::Exact(host) => f.write_str(host)?,
            HostMatch::Subdomains(suffix) => write!(f, "*.{suffix}")?,
        }
        if self.port != self.scheme.default_port() {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

impl Destination {
    /// The allowlist entry that would allow exactly this destination.
    pub fn as_pattern(&self) -> String {
        let mut text = format!("{}://{}", self.scheme.as_str(), self.host);
        if self.port != self.scheme.default_port() {
            text.push_str(&format!(":{}", self.port));
        }
        text
    }
}

impl fmt::Display for Destination {
    /// Always `scheme://host:port`, as recorded in the audit log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}:{}", self.scheme.as_str(), self.host, self.port)
    }
}

/// Whether any of `patterns` allows `to`.
pub fn allows(patterns: &[HostPattern], to: &Destination) -> bool {
    patterns.iter().any(|p| p.matches(to))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to(scheme: Scheme, host: &str, port: u16) -> Destination {
        Destination {
            scheme,
            host: host.into(),
            port,
        }
    }

    #[test]
    fn scheme_host_and_port_all_count() {
        let p = HostPattern::parse("https://us.posthog.com").unwrap();
        assert!(p.matches(&to(Scheme::Https, "us.posthog.com", 443)));
        assert!(!p.matches(&to(Scheme::Http, "us.posthog.com", 443)));
        assert!(!p.matches(&to(Scheme::Https, "us.posthog.com", 8443)));
        assert!(!p.matches(&to(Scheme::Https, "eu.posthog.com", 443)));
        assert!(!p.matches(&to(Scheme::Https, "us.posthog.com.evil.net", 443)));
        let local = HostPattern::parse("http://127.0.0.1:8080").unwrap();
        assert!(local.matches(&to(Scheme::Http, "127.0.0.1", 8080)));
        assert!(!local.matches(&to(Scheme::Http, "127.0.0.1", 8081)));
    }

    #[test]
    fn wildcard_matches_subdomains_only() {
        let p = HostPattern::parse("https://*.Example.com").unwrap();
        assert!(p.matches(&to(Scheme::Https, "api.example.com", 443)));
        assert!(p.matches(&to(Scheme::Https, "a.b.example.com", 443)));
        assert!(!p.matches(&to(Scheme::Https, "example.com", 443)));
        assert!(!p.matches(&to(Scheme::Https, "badexample.com", 443)));
        assert_eq!(p.to_string(), "https://*.example.com");
    }

    #[test]
    fn rejects_what_is_not_scheme_host_port() {
        for bad in [
            "us.posthog.com",
            "ftp://x.com",
            "https://x.com/path",
            "https://x.com?q",
            "https://user@x.com",
            "https://*",
            "https://a.*.com",
            "https://x.com:0",
            "https://x.com:99999",
            "https://x.com:",
            "https://",
            "https://-x.com",
            "https://[::1]:80",
        ] {
            assert!(HostPattern::parse(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "https://us.posthog.com",
            "http://127.0.0.1:8080",
            "https://x.io:8443",
        ] {
            let p = HostPattern::parse(text).unwrap();
            assert_eq!(p.to_string(), text);
            assert_eq!(HostPattern::parse(&p.to_string()).unwrap(), p);
        }
        assert_eq!(
            HostPattern::parse("https://x.io:443").unwrap().to_string(),
            "https://x.io"
        );
    }
}
