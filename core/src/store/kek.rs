//! Key-encryption keys: what unlocks the store's data key.
//!
//! A KEK comes from the 32-byte key file or from a passphrase run through
//! Argon2id. Either way the raw bytes (file or KDF output) are only a root:
//! the wrapping key and the public KEK id are derived from it under separate
//! contexts, so the id reveals nothing usable.
//!
//! Guarantees:
//! - Argon2id parameters come from the store header, which anyone able to
//!   write the file controls, so they are checked against fixed caps
//!   ([`MAX_MEMORY_KIB`], [`MAX_PASSES`], [`MAX_LANES`]) *before* the KDF
//!   runs: a crafted header cannot make the runner allocate gigabytes or spin.
//! - Passphrases, KDF output and keys live in zeroizing memory; no type here
//!   that holds key material implements `Debug`.

use secrecy::{ExposeSecret, SecretBox, SecretString};
use serde::{Deserialize, Serialize};

use super::StoreError;
use super::crypto::{self, KEK_ID_CONTEXT, RootKey};

/// Argon2id settings for new passphrase stores: 64 MiB, 3 passes, 1 lane.
const DEFAULT_MEMORY_KIB: u32 = 64 * 1024;
const DEFAULT_PASSES: u32 = 3;
const DEFAULT_LANES: u32 = 1;

// The caps are what `init --passphrase` and `rekey --passphrase` write, and
// no more: a header asking for more was not written by this runner, and
// honouring it would let anyone who can edit the file make every open cost
// seconds and a gigabyte before the integrity check fails.
/// Largest Argon2id memory a store header may ask for: 64 MiB.
pub const MAX_MEMORY_KIB: u32 = DEFAULT_MEMORY_KIB;
/// Most Argon2id passes a store header may ask for.
pub const MAX_PASSES: u32 = DEFAULT_PASSES;
/// Most Argon2id lanes a store header may ask for.
pub const MAX_LANES: u32 = DEFAULT_LANES;
/// Shortest accepted new passphrase, in bytes.
pub const MIN_PASSPHRASE_LEN: usize = 8;

/// Where the key-encryption key comes from (public: stored in the header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KekSource {
    KeyFile,
    Passphrase(KdfParams),
}

/// Argon2id parameters and salt (public: stored in the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KdfParams {
    pub memory_kib: u32,
    pub passes: u32,
    pub lanes: u32,
    pub salt: [u8; 16],
}

impl KdfParams {
    /// Default cost with a fresh random salt.
    pub(crate) fn fresh() -> Result<KdfParams, StoreError> {
        Ok(KdfParams {
            memory_kib: DEFAULT_MEMORY_KIB,
            passes: DEFAULT_PASSES,
            lanes: DEFAULT_LANES,
            salt: crypto::random::<16>()?,
        })
    }

    /// Checks the parameters against the caps (and Argon2's own minimums).
    pub(crate) fn check(&self) -> Result<(), String> {
        let min_memory = 8 * self.lanes.max(1);
        if !(1..=MAX_LANES).contains(&self.lanes) {
            return Err(format!(
                "Argon2id lanes {} outside 1..={MAX_LANES}",
                self.lanes
            ));
        }
        if !(1..=MAX_PASSES).contains(&self.passes) {
            return Err(format!(
                "Argon2id passes {} outside 1..={MAX_PASSES}",
                self.passes
            ));
        }
        if !(min_memory..=MAX_MEMORY_KIB).contains(&self.memory_kib) {
            return Err(format!(
                "Argon2id memory {} KiB outside {min_memory}..={MAX_MEMORY_KIB} KiB",
                self.memory_kib
            ));
        }
        Ok(())
    }
}

impl KekSource {
    /// The canonical description bound into the wrapped key and the MAC.
    pub(crate) fn describe(&self) -> String {
        match self {
            KekSource::KeyFile => "key-file".into(),
            KekSource::Passphrase(p) => format!(
                "passphrase argon2id v19 m={} t={} p={} salt={}",
                p.memory_kib,
                p.passes,
                p.lanes,
                crypto::hex_encode(&p.salt)
            ),
        }
    }
}

/// The header's `kek` object as serialised.
#[derive(Serialize, Deserialize)]
#[serde(tag = "source", deny_unknown_fields)]
pub(crate) enum KekRepr {
    #[serde(rename = "key-file")]
    KeyFile,
    #[serde(rename = "passphrase")]
    Passphrase {
        kdf: String,
        memory_kib: u32,
        passes: u32,
        lanes: u32,
        salt: String,
    },
}

impl KekSource {
    /// KDF parameters are checked against the caps here too, so a crafted
    /// header is refused as malformed before anything else happens.
    pub(crate) fn from_repr(repr: KekRepr) -> Result<KekSource, String> {
        let KekRepr::Passphrase {
            kdf,
            memory_kib,
            passes,
            lanes,
            salt,
        } = repr
        else {
            return Ok(KekSource::KeyFile);
        };
        if kdf != "argon2id" {
            return Err(format!(
                "kek.kdf {kdf:?} is not supported; only \"argon2id\" is"
            ));
        }
        let salt = super::format::fixed::<16>(&salt, "kek.salt")?;
        let params = KdfParams {
            memory_kib,
            passes,
            lanes,
            salt,
        };
        params.check()?;
        Ok(KekSource::Passphrase(params))
    }

    pub(crate) fn to_repr(&self) -> KekRepr {
        match self {
            KekSource::KeyFile => KekRepr::KeyFile,
            KekSource::Passphrase(p) => KekRepr::Passphrase {
                kdf: "argon2id".into(),
                memory_kib: p.memory_kib,
                passes: p.passes,
                lanes: p.lanes,
                salt: crypto::hex_encode(&p.salt),
            },
        }
    }
}

/// A key-encryption key: the root bytes the wrapping key derives from.
pub(crate) struct Kek {
    pub root: RootKey,
    /// Public id of this KEK (16 hex digits).
    pub id: String,
}

impl Kek {
    /// The KEK of a key file's 32 bytes.
    pub(crate) fn from_key_file(root: RootKey) -> Kek {
        let id = crypto::id_under(KEK_ID_CONTEXT, &root);
        Kek { root, id }
    }

    /// Runs Argon2id over the passphrase. The parameters are checked first,
    /// so a header asking for more than the caps costs no KDF work.
    pub(crate) fn from_passphrase(
        passphrase: &SecretString,
        params: &KdfParams,
    ) -> Result<Kek, StoreError> {
        params.check().map_err(StoreError::KdfRefused)?;
        let argon_params =
            argon2::Params::new(params.memory_kib, params.passes, params.lanes, Some(32))
                .map_err(|e| StoreError::KdfRefused(e.to_string()))?;
        let argon = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon_params,
        );
        let mut failed = None;
        let root = SecretBox::init_with_mut(|out: &mut [u8; 32]| {
            let pass = passphrase.expose_secret().as_bytes();
            failed = argon.hash_password_into(pass, &params.salt, out).err();
        });
        if let Some(err) = failed {
            return Err(StoreError::KdfRefused(err.to_string()));
        }
        Ok(Kek::from_key_file(root))
    }
}

/// Checks a new passphrase is long enough to be worth stretching.
pub(crate) fn check_new_passphrase(passphrase: &SecretString) -> Result<(), StoreError> {
    match passphrase.expose_secret().len() >= MIN_PASSPHRASE_LEN {
        true => Ok(()),
        false => Err(StoreError::PassphraseTooShort),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(memory_kib: u32, passes: u32, lanes: u32) -> KdfParams {
        KdfParams {
            memory_kib,
            passes,
            lanes,
            salt: [3; 16],
        }
    }

    #[test]
    fn caps_are_enforced_before_the_kdf() {
        let pass = SecretString::from("correct horse battery");
        for bad in [
            params(MAX_MEMORY_KIB + 1, 1, 1),
            params(u32::MAX, 1, 1),
            params(64, MAX_PASSES + 1, 1),
            params(64, 0, 1),
            params(64, 1, 0),
            params(64, 1, MAX_LANES + 1),
            params(7, 1, 1),
            // The old caps: 1 GiB, 16 passes, 8 lanes.
            params(1024 * 1024, 1, 1),
            params(64, 16, 1),
            params(64, 1, 8),
        ] {
            let err = Kek::from_passphrase(&pass, &bad).err().expect("refused");
            assert!(matches!(err, StoreError::KdfRefused(_)), "{err}");
        }
    }

    #[test]
    fn same_passphrase_and_salt_give_the_same_kek() {
        let pass = SecretString::from("correct horse battery");
        let a = Kek::from_passphrase(&pass, &params(64, 1, 1)).unwrap();
        let b = Kek::from_passphrase(&pass, &params(64, 1, 1)).unwrap();
        assert_eq!(a.root.expose_secret(), b.root.expose_secret());
        assert_eq!(a.id, b.id);
        let mut salted = params(64, 1, 1);
        salted.salt = [4; 16];
        let c = Kek::from_passphrase(&pass, &salted).unwrap();
        assert_ne!(a.id, c.id);
        let other = SecretString::from("correct horse battery!");
        assert_ne!(
            a.id,
            Kek::from_passphrase(&other, &params(64, 1, 1)).unwrap().id
        );
    }

    #[test]
    fn describe_covers_every_parameter() {
        let base = KekSource::Passphrase(params(64, 1, 1));
        for other in [params(72, 1, 1), params(64, 2, 1), params(64, 1, 2)] {
            assert_ne!(base.describe(), KekSource::Passphrase(other).describe());
        }
        assert_eq!(KekSource::KeyFile.describe(), "key-file");
    }

    #[test]
    fn short_passphrases_are_refused() {
        assert!(check_new_passphrase(&SecretString::from("short")).is_err());
        assert!(check_new_passphrase(&SecretString::from("long enough")).is_ok());
    }
}
