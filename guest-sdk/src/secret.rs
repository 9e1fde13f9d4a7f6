//! The value of a resolved secret, kept out of accidental output.
//!
//! [`Secret`] has no `Display`, its `Debug` shows only the name and length, and
//! its buffer is overwritten with zeros when it is dropped.

use zeroize::Zeroizing;

/// A resolved secret value. Read it with [`Secret::expose`] at the point of use.
pub struct Secret {
    name: String,
    value: Zeroizing<String>,
}

impl Secret {
    pub(crate) fn new(name: &str, value: String) -> Self {
        Secret {
            name: name.to_owned(),
            value: Zeroizing::new(value),
        }
    }

    /// The name the secret was resolved under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value itself. Keep it out of logs and output.
    pub fn expose(&self) -> &str {
        &self.value
    }

    /// Length of the value in bytes.
    pub fn len(&self) -> usize {
        self.value.len()
    }

    /// Whether the value is empty (the store never holds empty values).
    pub fn is_empty(&self) -> bool {
        self.value.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Secret({:?}, {} bytes, redacted)",
            self.name,
            self.value.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("posthog-read", "phc_CANARY_1234".to_owned());
        let shown = format!("{secret:?}");
        assert!(!shown.contains("CANARY"), "{shown}");
        assert!(
            shown.contains("posthog-read") && shown.contains("15 bytes"),
            "{shown}"
        );
    }
}
