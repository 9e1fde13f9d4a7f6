//! Key derivation, entry encryption, key wrapping and the entry-list MAC.
//!
//! The store's random data key is never used directly: every use derives its
//! own key with blake3 `derive_key` under a distinct context string, so the
//! entry key, the list MAC key, the public key id and subkeys handed to other
//! modules (the audit checkpoint MAC) are independent of each other. The data
//! key itself is stored only wrapped (sealed) by a key-encryption key.
//!
//! Each entry is sealed with XChaCha20-Poly1305 under a fresh random 24-byte
//! nonce. Its associated data binds the format version, store id, key id,
//! project, name and version, so a ciphertext copied to another entry, version
//! or store fails to decrypt. Plaintext buffers are allocated at their exact
//! size and zeroized, so no stray copy is left behind by a reallocation.

use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{KeyInit, Tag, XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretBox, SecretSlice};
use zeroize::{Zeroize, Zeroizing};

use super::StoreError;

/// Context for the public key id written into the store header.
pub(crate) const KEY_ID_CONTEXT: &str = "scopehold store key id v1";
/// Context for the key that encrypts entries.
pub(crate) const DATA_KEY_CONTEXT: &str = "scopehold store data key v1";
/// Context for the key that authenticates the whole entry list.
pub(crate) const MAC_KEY_CONTEXT: &str = "scopehold store entry list mac v1";
/// Context for the key-encryption key derived from a key file or passphrase.
pub(crate) const KEK_CONTEXT: &str = "scopehold store key-encryption key v1";
/// Context for the public id of a key-encryption key.
pub(crate) const KEK_ID_CONTEXT: &str = "scopehold store key-encryption key id v1";
/// Context for the key that seals the subkey seed under the data key.
pub(crate) const SUBKEY_SEED_CONTEXT: &str = "scopehold store subkey seed v1";
/// Contexts reserved for the store itself; `derive_subkey` refuses them.
pub(crate) const RESERVED_CONTEXTS: [&str; 6] = [
    SUBKEY_SEED_CONTEXT,
    KEY_ID_CONTEXT,
    DATA_KEY_CONTEXT,
    MAC_KEY_CONTEXT,
    KEK_CONTEXT,
    KEK_ID_CONTEXT,
];

pub(crate) const NONCE_LEN: usize = 24;
pub(crate) const TAG_LEN: usize = 16;

/// The store's data key; every key that touches entries is derived from it.
pub(crate) type RootKey = SecretBox<[u8; 32]>;

/// Derives a 32-byte key for `context` straight into zeroizing memory.
pub(crate) fn derive(context: &str, root: &RootKey) -> SecretBox<[u8; 32]> {
    SecretBox::init_with_mut(|out: &mut [u8; 32]| {
        let mut hasher = blake3::Hasher::new_derive_key(context);
        hasher.update(root.expose_secret());
        hasher.finalize_xof().fill(out);
    })
}

/// The key id: 16 hex digits identifying the data key without revealing it.
pub(crate) fn key_id(root: &RootKey) -> String {
    id_under(KEY_ID_CONTEXT, root)
}

/// 16 hex digits identifying `root` under `context`; reveals nothing of it.
pub(crate) fn id_under(context: &str, root: &RootKey) -> String {
    let id = blake3::derive_key(context, root.expose_secret());
    hex_encode(&id[..8])
}

/// A fresh random 32-byte key in zeroizing memory.
pub(crate) fn random_key() -> Result<RootKey, StoreError> {
    let mut fill_err = None;
    let key = SecretBox::init_with_mut(|k: &mut [u8; 32]| fill_err = getrandom::fill(k).err());
    match fill_err {
        Some(err) => Err(StoreError::Random(err)),
        None => Ok(key),
    }
}

/// Fills a fresh random byte array from the operating system.
pub(crate) fn random<const N: usize>() -> Result<[u8; N], StoreError> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(StoreError::Random)?;
    Ok(buf)
}

/// Length-prefixed binary encoding: the input to associated data and MACs.
/// Every field carries its length, so no two field lists encode alike.
#[derive(Default)]
pub(crate) struct Encoder(Vec<u8>);

impl Encoder {
    pub(crate) fn bytes(&mut self, field: &[u8]) -> &mut Self {
        self.0
            .extend_from_slice(&(field.len() as u64).to_le_bytes());
        self.0.extend_from_slice(field);
        self
    }

    pub(crate) fn str(&mut self, field: &str) -> &mut Self {
        self.bytes(field.as_bytes())
    }

    pub(crate) fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.0)
    }
}

/// Everything an entry's ciphertext is bound to.
pub(crate) struct Binding<'a> {
    pub format: u32,
    pub store_id: &'a str,
    pub key_id: &'a str,
    pub project: &'a str,
    pub name: &'a str,
    pub version: u32,
}

impl Binding<'_> {
    fn associated_data(&self) -> Vec<u8> {
        Encoder::default()
            .str("scopehold store entry v1")
            .bytes(&self.format.to_le_bytes())
            .str(self.store_id)
            .str(self.key_id)
            .str(self.project)
            .str(self.name)
            .bytes(&self.version.to_le_bytes())
            .finish()
    }
}

fn cipher(root: &RootKey, context: &str) -> XChaCha20Poly1305 {
    let key = derive(context, root);
    XChaCha20Poly1305::new(key.expose_secret().into())
}

/// Encrypts `value` under a fresh nonce; returns (nonce, ciphertext || tag).
pub(crate) fn seal(
    root: &RootKey,
    binding: &Binding<'_>,
    value: &SecretSlice<u8>,
) -> Result<([u8; NONCE_LEN], Vec<u8>), StoreError> {
    let aad = binding.associated_data();
    seal_bytes(&cipher(root, DATA_KEY_CONTEXT), &aad, value.expose_secret())
}

/// Wraps the data key under a key-encryption key (the KEK's root bytes).
pub(crate) fn wrap(
    kek: &RootKey,
    aad: &[u8],
    data_key: &RootKey,
) -> Result<([u8; NONCE_LEN], Vec<u8>), StoreError> {
    wrap_under(KEK_CONTEXT, kek, aad, data_key)
}

/// Seals a 32-byte key under a key derived from `root` for `context`.
pub(crate) fn wrap_under(
    context: &str,
    root: &RootKey,
    aad: &[u8],
    key: &RootKey,
) -> Result<([u8; NONCE_LEN], Vec<u8>), StoreError> {
    seal_bytes(&cipher(root, context), aad, key.expose_secret())
}

/// Unwraps the data key; `None` for a wrong KEK or altered bytes alike.
pub(crate) fn unwrap(
    kek: &RootKey,
    aad: &[u8],
    nonce: &[u8; NONCE_LEN],
    wrapped: &[u8],
) -> Option<RootKey> {
    unwrap_under(KEK_CONTEXT, kek, aad, nonce, wrapped)
}

/// Opens a key sealed by [`wrap_under`]; `None` on any failure.
pub(crate) fn unwrap_under(
    context: &str,
    root: &RootKey,
    aad: &[u8],
    nonce: &[u8; NONCE_LEN],
    wrapped: &[u8],
) -> Option<RootKey> {
    let plain = open_bytes(&cipher(root, context), aad, nonce, wrapped)?;
    let bytes = plain.expose_secret();
    (bytes.len() == 32)
        .then(|| SecretBox::init_with_mut(|k: &mut [u8; 32]| k.copy_from_slice(bytes)))
}

fn seal_bytes(
    cipher: &XChaCha20Poly1305,
    aad: &[u8],
    plain: &[u8],
) -> Result<([u8; NONCE_LEN], Vec<u8>), StoreError> {
    let nonce = random::<NONCE_LEN>()?;
    let mut buf = vec![0u8; plain.len() + TAG_LEN];
    buf[..plain.len()].copy_from_slice(plain);
    let sealed =
        cipher.encrypt_in_place_detached(XNonce::from_slice(&nonce), aad, &mut buf[..plain.len()]);
    match sealed {
        Ok(tag) => {
            buf[plain.len()..].copy_from_slice(&tag);
            Ok((nonce, buf))
        }
        Err(_) => {
            buf.zeroize();
            Err(StoreError::Encrypt)
        }
    }
}

/// Decrypts and authenticates an entry. `None` covers every failure (wrong
/// key, tampered bytes, moved ciphertext) alike: the caller reports one error.
pub(crate) fn open(
    root: &RootKey,
    binding: &Binding<'_>,
    nonce: &[u8; NONCE_LEN],
    sealed: &[u8],
) -> Option<SecretSlice<u8>> {
    let aad = binding.associated_data();
    open_bytes(&cipher(root, DATA_KEY_CONTEXT), &aad, nonce, sealed)
}

fn open_bytes(
    cipher: &XChaCha20Poly1305,
    aad: &[u8],
    nonce: &[u8; NONCE_LEN],
    sealed: &[u8],
) -> Option<SecretSlice<u8>> {
    let body_len = sealed.len().checked_sub(TAG_LEN)?;
    let (body, tag) = sealed.split_at(body_len);
    // Exact length, so converting into a boxed slice never reallocates.
    let mut buf = Zeroizing::new(vec![0u8; body_len]);
    buf.copy_from_slice(body);
    cipher
        .decrypt_in_place_detached(
            XNonce::from_slice(nonce),
            aad,
            &mut buf,
            Tag::from_slice(tag),
        )
        .ok()?;
    Some(SecretSlice::from(std::mem::take(&mut *buf)))
}

/// MAC over the encoded entry list, keyed by a key derived from the root.
pub(crate) fn list_mac(root: &RootKey, encoded: &[u8]) -> [u8; 32] {
    let key = derive(MAC_KEY_CONTEXT, root);
    *blake3::keyed_hash(key.expose_secret(), encoded).as_bytes()
}

/// Constant-time comparison of a stored MAC with a computed one.
pub(crate) fn mac_matches(stored: &[u8; 32], computed: [u8; 32]) -> bool {
    blake3::Hash::from_bytes(*stored) == blake3::Hash::from_bytes(computed)
}

/// Lowercase hex.
pub(crate) fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// Parses lowercase hex only, so every byte string has one spelling.
pub(crate) fn hex_decode(text: &str) -> Option<Vec<u8>> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let text = text.as_bytes();
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks_exact(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root(byte: u8) -> RootKey {
        SecretBox::init_with_mut(|k: &mut [u8; 32]| *k = [byte; 32])
    }

    fn binding(name: &str, version: u32) -> Binding<'_> {
        let (format, store_id, key_id, project) = (1, "s", "k", "p");
        Binding {
            format,
            store_id,
            key_id,
            project,
            name,
            version,
        }
    }

    #[test]
    fn hex_round_trip_and_strictness() {
        let bytes = [0u8, 1, 0xab, 0xff];
        assert_eq!(hex_encode(&bytes), "0001abff");
        assert_eq!(hex_decode("0001abff").unwrap(), bytes);
        for bad in ["0", "0G", "AB", " 00", "0x00"] {
            assert!(hex_decode(bad).is_none(), "{bad:?} accepted");
        }
    }

    #[test]
    fn seal_open_round_trip_and_binding() {
        let value = SecretSlice::from(b"v4lue".to_vec());
        let (nonce, sealed) = seal(&root(1), &binding("a", 1), &value).unwrap();
        let back = open(&root(1), &binding("a", 1), &nonce, &sealed).unwrap();
        assert_eq!(back.expose_secret(), b"v4lue");
        assert!(open(&root(2), &binding("a", 1), &nonce, &sealed).is_none());
        assert!(open(&root(1), &binding("b", 1), &nonce, &sealed).is_none());
        assert!(open(&root(1), &binding("a", 2), &nonce, &sealed).is_none());
        assert!(open(&root(1), &binding("a", 1), &nonce, &sealed[..10]).is_none());
    }

    #[test]
    fn fresh_nonce_per_seal() {
        let value = SecretSlice::from(b"same".to_vec());
        let (n1, c1) = seal(&root(1), &binding("a", 1), &value).unwrap();
        let (n2, c2) = seal(&root(1), &binding("a", 1), &value).unwrap();
        assert_ne!(n1, n2);
        assert_ne!(c1, c2);
    }

    #[test]
    fn derived_keys_are_independent() {
        let r = root(7);
        let data = derive(DATA_KEY_CONTEXT, &r);
        let mac = derive(MAC_KEY_CONTEXT, &r);
        assert_ne!(data.expose_secret(), mac.expose_secret());
        assert_ne!(data.expose_secret(), r.expose_secret());
        assert_eq!(key_id(&r).len(), 16);
        assert_ne!(key_id(&r), key_id(&root(8)));
    }

    #[test]
    fn encoder_is_unambiguous() {
        let ab_c = Encoder::default().str("ab").str("c").finish();
        let a_bc = Encoder::default().str("a").str("bc").finish();
        assert_ne!(ab_c, a_bc);
    }
}
