//! Sealing and unsealing the store's keys: a new key-encryption key, the
//! wrapped data key, the whole-file check and entry decryption.
//!
//! `unlock` is the one gate to a data key: it succeeds only if the KEK
//! unwraps the data key, the KEK id and key id match and the whole-file MAC
//! verifies; any failure is the same `None`, so callers report one error for
//! a wrong key and a corrupted file alike.

use std::path::Path;

use secrecy::{ExposeSecret, SecretSlice};

use super::EntryInfo;
use super::crypto::{self, RootKey};
use super::format::{Entry, StoreData};
use super::kek::{self, KdfParams, Kek, KekSource};
use super::{KeyProtection, StoreError, keyfile};

/// A new key-encryption key: a new key file at `key_path` (created, never
/// overwritten) or a checked passphrase with fresh Argon2id salt.
pub(crate) fn new_kek(
    key_path: &Path,
    protection: KeyProtection,
) -> Result<(Kek, KekSource), StoreError> {
    match protection {
        KeyProtection::KeyFile => Ok((
            Kek::from_key_file(keyfile::create(key_path)?),
            KekSource::KeyFile,
        )),
        KeyProtection::Passphrase(pass) => {
            kek::check_new_passphrase(&pass)?;
            let params = KdfParams::fresh()?;
            Ok((
                Kek::from_passphrase(&pass, &params)?,
                KekSource::Passphrase(params),
            ))
        }
    }
}

/// Wraps `key` under `kek` into `data`'s header and recomputes the MAC.
pub(crate) fn seal_header(
    data: &mut StoreData,
    kek: &Kek,
    key: &RootKey,
) -> Result<(), StoreError> {
    let (nonce, wrapped) = crypto::wrap(&kek.root, &data.wrap_aad(&kek.id), key)?;
    data.wrapping.kek_id = kek.id.clone();
    data.wrapping.nonce = nonce;
    data.wrapping.wrapped = wrapped;
    data.mac = crypto::list_mac(key, &data.mac_input());
    Ok(())
}

/// The data key and subkey seed, if `kek` unwraps the data key, the whole
/// file checks out under it and the seed opens.
pub(crate) fn unlock(data: &StoreData, kek: &Kek) -> Option<(RootKey, RootKey)> {
    let w = &data.wrapping;
    let key = crypto::unwrap(&kek.root, &data.wrap_aad(&kek.id), &w.nonce, &w.wrapped)?;
    if !(w.kek_id == kek.id && is_intact(&key, data)) {
        return None;
    }
    let seed = open_subkey_seed(data, &key)?;
    Some((key, seed))
}

/// Seals the subkey seed under the data key into `data` (before the MAC).
pub(crate) fn seal_subkey_seed(
    data: &mut StoreData,
    key: &RootKey,
    seed: &RootKey,
) -> Result<(), StoreError> {
    let aad = data.subkey_aad();
    let (nonce, sealed) = crypto::wrap_under(crypto::SUBKEY_SEED_CONTEXT, key, &aad, seed)?;
    data.subkey_nonce = nonce;
    data.subkey_seed = sealed;
    Ok(())
}

fn open_subkey_seed(data: &StoreData, key: &RootKey) -> Option<RootKey> {
    let (aad, nonce) = (data.subkey_aad(), &data.subkey_nonce);
    crypto::unwrap_under(
        crypto::SUBKEY_SEED_CONTEXT,
        key,
        &aad,
        nonce,
        &data.subkey_seed,
    )
}

/// Whether `data` was written under `key`: key id and whole-file MAC match.
pub(crate) fn is_intact(key: &RootKey, data: &StoreData) -> bool {
    let mac = crypto::list_mac(key, &data.mac_input());
    // Both checks always run, so timing does not tell which one failed.
    let id_ok = data.key_id == crypto::key_id(key);
    crypto::mac_matches(&data.mac, mac) & id_ok
}

/// Decrypts one entry of `data` with its data key.
pub(crate) fn open_entry(
    data: &StoreData,
    key: &RootKey,
    entry: &Entry,
) -> Result<SecretSlice<u8>, StoreError> {
    let binding = data.binding(&entry.info);
    crypto::open(key, &binding, &entry.nonce, &entry.sealed).ok_or_else(|| {
        StoreError::Undecryptable {
            project: entry.info.project.clone(),
            name: entry.info.name.clone(),
        }
    })
}

/// Seals `value` as the entry `info` describes and stores it in `store`.
pub(crate) fn seal_into(
    store: &mut StoreData,
    key: &RootKey,
    info: EntryInfo,
    value: &SecretSlice<u8>,
) -> Result<EntryInfo, StoreError> {
    super::value::check_len(value.expose_secret().len())?;
    let (nonce, sealed) = crypto::seal(key, &store.binding(&info), value)?;
    store.entries.insert(
        (info.project.clone(), info.name.clone()),
        Entry {
            info: info.clone(),
            nonce,
            sealed,
        },
    );
    Ok(info)
}
