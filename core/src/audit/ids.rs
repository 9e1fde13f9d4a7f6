//! Fixed-size identifiers and tokens that appear in audit records.
//!
//! Every type here validates on construction and on deserialisation, and has
//! exactly one text form: lowercase hex for byte strings, kebab-case for
//! tokens. Parsing accepts only that form, so a record line has a single
//! canonical spelling and a changed letter case is detected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes the lowercase hex of `bytes` into `out` (twice as long) and returns it.
fn to_hex<'a>(bytes: &[u8], out: &'a mut [u8]) -> &'a str {
    for (b, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = HEX[usize::from(b >> 4)];
        pair[1] = HEX[usize::from(b & 0xf)];
    }
    std::str::from_utf8(out).expect("hex digits are ASCII")
}

/// Hex digit values; 0xff for anything but `0-9a-f`. A table, because
/// `verify` decodes five ids per record.
static UNHEX: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < 16 {
        table[HEX[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// Decodes exactly `2 * N` lowercase hex digits.
fn from_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.as_bytes();
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    let mut bad = 0u8;
    for (byte, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        let (hi, lo) = (UNHEX[usize::from(pair[0])], UNHEX[usize::from(pair[1])]);
        bad |= hi | lo;
        *byte = (hi << 4) | lo;
    }
    (bad & 0xf0 == 0).then_some(out)
}

/// Why a string is not a valid identifier or token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{what} {value:?} is not {len} lowercase hex digits")]
    BadHex {
        what: &'static str,
        value: String,
        len: usize,
    },
    #[error(
        "{what} {value:?} is not a kebab-case token (lowercase letters and digits \
         separated by single '-', starting with a letter, at most {MAX_TOKEN_LEN} bytes)"
    )]
    BadToken { what: &'static str, value: String },
}

macro_rules! hex_id {
    ($(#[$doc:meta])* $ty:ident, $len:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $ty([u8; $len]);

        impl $ty {
            pub const fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
        }

        impl FromStr for $ty {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                from_hex::<$len>(s).map(Self).ok_or_else(|| IdError::BadHex {
                    what: $what,
                    value: s.chars().take(80).collect(),
                    len: 2 * $len,
                })
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(to_hex(&self.0, &mut [0u8; 2 * $len]))
            }
        }

        impl Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(to_hex(&self.0, &mut [0u8; 2 * $len]))
            }
        }

        // By hand rather than `try_from = "String"`: decodes borrowed strings
        // without allocating, which matters to `verify`'s throughput.
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct HexVisitor;
                impl serde::de::Visitor<'_> for HexVisitor {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "{} as {} lowercase hex digits", $what, 2 * $len)
                    }
                    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<$ty, E> {
                        s.parse().map_err(E::custom)
                    }
                }
                d.deserialize_str(HexVisitor)
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($ty), self)
            }
        }
    };
}

hex_id!(
    /// A 32-byte blake3 hash: a record hash, or a component or policy digest.
    Hash,
    32,
    "hash"
);
hex_id!(
    /// A log's identity: 16 random bytes chosen when the log is created.
    LogId,
    16,
    "log id"
);
hex_id!(
    /// One `runner exec` invocation: 16 random bytes, links its records.
    RunId,
    16,
    "run id"
);

impl Hash {
    /// The `prev` of the first record.
    pub const ZERO: Hash = Hash([0; 32]);

    /// The blake3 hash of `bytes` (component and policy digests).
    pub fn of(bytes: &[u8]) -> Hash {
        blake3::hash(bytes).into()
    }
}

impl From<blake3::Hash> for Hash {
    fn from(h: blake3::Hash) -> Hash {
        Hash(*h.as_bytes())
    }
}

/// 16 bytes from the OS random source.
fn random16() -> Result<[u8; 16], getrandom::Error> {
    let mut buf = [0u8; 16];
    getrandom::fill(&mut buf)?;
    Ok(buf)
}

impl LogId {
    pub fn random() -> Result<LogId, getrandom::Error> {
        random16().map(LogId)
    }
}

impl RunId {
    pub fn random() -> Result<RunId, getrandom::Error> {
        random16().map(RunId)
    }
}

/// Longest accepted [`Token`], in bytes.
pub const MAX_TOKEN_LEN: usize = 64;

/// A short kebab-case code: a deny reason (`not-granted`) or an exec outcome
/// (`exited`). Machine-readable, so it is restricted to one spelling.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Token(String);

impl Token {
    pub fn new(value: impl Into<String>) -> Result<Token, IdError> {
        let value = value.into();
        if is_kebab(&value) {
            Ok(Token(value))
        } else {
            let value = value.chars().take(80).collect();
            Err(IdError::BadToken {
                what: "token",
                value,
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_kebab(s: &str) -> bool {
    s.len() <= MAX_TOKEN_LEN
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

impl TryFrom<String> for Token {
    type Error = IdError;
    fn try_from(s: String) -> Result<Token, IdError> {
        Token::new(s)
    }
}

impl FromStr for Token {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Token, IdError> {
        Token::new(s)
    }
}

impl From<Token> for String {
    fn from(t: Token) -> String {
        t.0
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_strictness() {
        let h = Hash::of(b"abc");
        assert_eq!(h.to_string(), blake3::hash(b"abc").to_hex().as_str());
        assert_eq!(h.to_string().parse::<Hash>().unwrap(), h);
        let upper = h.to_string().to_uppercase();
        assert!(upper.parse::<Hash>().is_err());
        assert!("00".parse::<Hash>().is_err());
        assert!("g".repeat(32).parse::<RunId>().is_err());
        assert_eq!(Hash::ZERO.to_string(), "0".repeat(64));
    }

    #[test]
    fn hex_serde_round_trip_and_wrong_type() {
        let id = RunId::random().unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<RunId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<RunId>("17").is_err());
        let err = serde_json::from_str::<Hash>("\"ABC\"").unwrap_err();
        assert!(err.to_string().contains("64 lowercase hex digits"), "{err}");
    }

    #[test]
    fn tokens() {
        for ok in ["exited", "not-granted", "a1-b2", "x"] {
            Token::new(ok).unwrap();
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a--b",
            "Upper",
            "1abc",
            "a_b",
            "a b",
            &"a".repeat(65),
        ] {
            assert!(Token::new(bad).is_err(), "{bad:?}");
        }
    }
}
