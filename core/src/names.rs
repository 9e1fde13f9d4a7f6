//! Validated names shared by the policy, the store and the audit log.
//!
//! Agent, project and secret names appear in tasks.toml, on the command line, in
//! the store's associated data and in audit records. Restricting them to a small
//! alphabet keeps them printable everywhere, unambiguous in the `project/name`
//! form, and free of anything a terminal or a log reader could misinterpret.
//! Every constructor validates, so holding one of these types means the name is
//! well formed.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest accepted name, in bytes.
pub(crate) const MAX_NAME_LEN: usize = 64;

/// Why a string is not a valid name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{what} name is empty")]
    Empty { what: &'static str },
    #[error("{what} name {name:?} is longer than {MAX_NAME_LEN} bytes")]
    TooLong { what: &'static str, name: String },
    #[error(
        "{what} name {name:?} may use only lowercase letters, digits, '-', '_' and '.', \
         and must start with a letter or digit"
    )]
    BadCharacter { what: &'static str, name: String },
}

fn validate(what: &'static str, name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty { what });
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong {
            what,
            name: name.to_owned(),
        });
    }
    let first_ok = name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    if !first_ok || !rest_ok {
        return Err(NameError::BadCharacter {
            what,
            name: name.to_owned(),
        });
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $ty(String);

        impl $ty {
            /// Validates `name` and wraps it.
            pub fn new(name: impl Into<String>) -> Result<Self, NameError> {
                let name = name.into();
                validate($what, &name)?;
                Ok(Self(name))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $ty {
            type Error = NameError;
            fn try_from(name: String) -> Result<Self, NameError> {
                Self::new(name)
            }
        }

        impl From<$ty> for String {
            fn from(name: $ty) -> String {
                name.0
            }
        }

        impl std::str::FromStr for $ty {
            type Err = NameError;
            fn from_str(name: &str) -> Result<Self, NameError> {
                Self::new(name)
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

name_type!(
    /// The name of an agent: the identity a task runs as (`[agents.NAME]`).
    AgentName,
    "agent"
);
name_type!(
    /// The name of a project: the boundary secrets and agents belong to.
    ProjectName,
    "project"
);
name_type!(
    /// The name of a secret within its project (`posthog-read`).
    SecretName,
    "secret"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_typical_names() {
        for name in ["posthog-read", "a", "v1.2_x", "0day"] {
            SecretName::new(name).unwrap();
        }
    }

    #[test]
    fn rejects_bad_names() {
        let long = "a".repeat(MAX_NAME_LEN + 1);
        for name in [
            "",
            "Upper",
            "-lead",
            "has space",
            "a/b",
            "ü",
            long.as_str(),
            "x\n",
        ] {
            assert!(AgentName::new(name).is_err(), "{name:?} accepted");
        }
    }

    #[test]
    fn deserialize_validates() {
        let err = serde_json::from_str::<ProjectName>("\"Bad Name\"").unwrap_err();
        assert!(err.to_string().contains("lowercase"), "{err}");
    }
}
