//! Getting a passphrase: from the environment or, without echo, the terminal.
//!
//! `SCOPEHOLD_PASSPHRASE` (the current one) and `SCOPEHOLD_NEW_PASSPHRASE`
//! (the new one, for `runner rekey`) serve scripts and tests; otherwise the
//! passphrase is read from `/dev/tty` with echo off, so it never passes
//! through stdin (which carries secret values) or the command line. Bytes
//! are collected in a fixed-capacity zeroizing buffer, never reallocated.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};

use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
use secrecy::SecretString;
use zeroize::Zeroizing;

use super::StoreError;

/// Environment variable holding the store's passphrase.
pub const PASSPHRASE_ENV: &str = "SCOPEHOLD_PASSPHRASE";
/// Environment variable holding the new passphrase for `runner rekey`.
pub const NEW_PASSPHRASE_ENV: &str = "SCOPEHOLD_NEW_PASSPHRASE";
/// Longest passphrase read from the terminal, in bytes.
const MAX_LEN: usize = 1024;

/// The store's current passphrase.
pub fn current() -> Result<SecretString, StoreError> {
    from_env(PASSPHRASE_ENV)
        .or_else(|| ask("passphrase for the ScopeHold store: ").transpose())
        .unwrap_or(Err(StoreError::PassphraseRequired))
}

/// The store's passphrase from the environment only: never asks a person
/// (for a store opened while a task runs).
pub fn from_env_only() -> Result<SecretString, StoreError> {
    from_env(PASSPHRASE_ENV).unwrap_or(Err(StoreError::PassphraseRequired))
}

/// A new passphrase, from `env` or typed twice at the terminal.
pub fn new(env: &str) -> Result<SecretString, StoreError> {
    if let Some(pass) = from_env(env) {
        return pass;
    }
    let first = ask("new passphrase: ")?.ok_or(StoreError::PassphraseRequired)?;
    let second = ask("repeat the new passphrase: ")?.ok_or(StoreError::PassphraseRequired)?;
    use secrecy::ExposeSecret;
    match first.expose_secret() == second.expose_secret() {
        true => Ok(first),
        false => Err(StoreError::PassphraseMismatch),
    }
}

fn from_env(name: &str) -> Option<Result<SecretString, StoreError>> {
    std::env::var_os(name).map(|value| {
        let mut value = value
            .into_string()
            .map_err(|_| StoreError::PassphraseRequired)?;
        // Copied at its exact length; the original buffer is wiped.
        let secret = SecretString::from(value.as_str());
        zeroize::Zeroize::zeroize(&mut value);
        Ok(secret)
    })
}

/// Prompts on the terminal with echo off; `None` without a terminal.
fn ask(prompt: &str) -> Result<Option<SecretString>, StoreError> {
    let Ok(mut tty) = OpenOptions::new().read(true).write(true).open("/dev/tty") else {
        return Ok(None);
    };
    let to_err = |e: rustix::io::Errno| StoreError::ReadPassphrase(e.into());
    let saved = tcgetattr(&tty).map_err(to_err)?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    tcsetattr(&tty, OptionalActions::Flush, &quiet).map_err(to_err)?;
    let line = tty
        .write_all(prompt.as_bytes())
        .and_then(|()| read_line(&mut tty));
    // Echo comes back even if reading failed.
    let restored = tcsetattr(&tty, OptionalActions::Flush, &saved).map_err(to_err);
    let _ = tty.write_all(b"\n");
    let line = line.map_err(StoreError::ReadPassphrase)?;
    restored?;
    Ok(Some(line))
}

/// Reads one line (without its newline) into a buffer that never grows.
fn read_line(tty: &mut File) -> std::io::Result<SecretString> {
    let mut buf = Zeroizing::new(Vec::with_capacity(MAX_LEN));
    let mut byte = [0u8; 1];
    while tty.read(&mut byte)? == 1 && byte[0] != b'\n' {
        if buf.len() == MAX_LEN {
            return Err(std::io::Error::other(format!(
                "longer than {MAX_LEN} bytes"
            )));
        }
        buf.push(byte[0]);
    }
    let text = std::str::from_utf8(&buf).map_err(|_| std::io::Error::other("not UTF-8"))?;
    Ok(SecretString::from(text))
}

/// Reads a secret value from stdin at a terminal with echo off (to end of
/// input: Enter, then Ctrl-D), so it is not shown on the screen or left in
/// the terminal's scrollback. Echo comes back however reading ends.
pub fn read_value_hidden(
    stdin: std::io::StdinLock<'_>,
) -> Result<secrecy::SecretSlice<u8>, StoreError> {
    let to_err = |e: rustix::io::Errno| StoreError::ReadValue(e.into());
    let saved = tcgetattr(&stdin).map_err(to_err)?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    tcsetattr(&stdin, OptionalActions::Flush, &quiet).map_err(to_err)?;
    let mut stdin = stdin;
    let value = super::read_value(&mut stdin);
    let restored = tcsetattr(&stdin, OptionalActions::Flush, &saved).map_err(to_err);
    eprintln!();
    let value = value?;
    restored?;
    Ok(value)
}
