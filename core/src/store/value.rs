//! Reading a secret value from stdin (or any reader) without leaving copies.
//!
//! `Read::read_to_end` grows its buffer by reallocation and leaves the old
//! allocations, holding part of the secret, unzeroized. Here every buffer is a
//! `Zeroizing` one that is grown by copying into a larger `Zeroizing` buffer,
//! and the result is copied into an exact-size allocation, so every byte that
//! held the value is wiped when dropped.

use std::io::{ErrorKind, Read};

use secrecy::SecretSlice;
use zeroize::Zeroizing;

use super::{MAX_VALUE_LEN, StoreError};

/// Read a secret value from a reader (stdin): all bytes, drop exactly one
/// trailing "\n" (or "\r\n"). An empty value, or one over `MAX_VALUE_LEN`
/// bytes, is an error.
pub fn read_value(mut reader: impl Read) -> Result<SecretSlice<u8>, StoreError> {
    let mut buf = Zeroizing::new(vec![0u8; 4096]);
    let mut len = 0;
    loop {
        if len == buf.len() {
            // The newline that may follow a maximum-size value still fits.
            if buf.len() > MAX_VALUE_LEN + 2 {
                return Err(StoreError::ValueTooLarge);
            }
            buf = grow(&buf);
        }
        match reader.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(err) if err.kind() == ErrorKind::Interrupted => {}
            Err(err) => return Err(StoreError::ReadValue(err)),
        }
    }
    let value = strip_one_newline(&buf[..len]);
    check_len(value.len())?;
    let mut exact = vec![0u8; value.len()];
    exact.copy_from_slice(value);
    Ok(SecretSlice::from(exact))
}

/// Rejects empty and oversized values.
pub(crate) fn check_len(len: usize) -> Result<(), StoreError> {
    match len {
        0 => Err(StoreError::EmptyValue),
        n if n > MAX_VALUE_LEN => Err(StoreError::ValueTooLarge),
        _ => Ok(()),
    }
}

fn grow(old: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut bigger = Zeroizing::new(vec![0u8; old.len() * 2]);
    bigger[..old.len()].copy_from_slice(old);
    bigger
}

/// `echo VALUE |` and interactive input end in one newline that is not part
/// of the value; any further newline is.
fn strip_one_newline(bytes: &[u8]) -> &[u8] {
    bytes
        .strip_suffix(b"\r\n")
        .or_else(|| bytes.strip_suffix(b"\n"))
        .unwrap_or(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn read(input: &[u8]) -> Result<Vec<u8>, StoreError> {
        read_value(input).map(|v| v.expose_secret().to_vec())
    }

    #[test]
    fn newline_rules() {
        assert_eq!(read(b"abc").unwrap(), b"abc");
        assert_eq!(read(b"abc\n").unwrap(), b"abc");
        assert_eq!(read(b"abc\r\n").unwrap(), b"abc");
        assert_eq!(read(b"a\n\n").unwrap(), b"a\n");
        assert_eq!(read(b"a\r\n\r\n").unwrap(), b"a\r\n");
        assert_eq!(read(b"a\r").unwrap(), b"a\r");
        assert_eq!(read(b"\nab").unwrap(), b"\nab");
    }

    #[test]
    fn binary_bytes_preserved() {
        let bytes: Vec<u8> = (0..=255u8).rev().collect();
        assert_eq!(read(&bytes).unwrap(), bytes);
    }

    #[test]
    fn empty_is_rejected() {
        for input in [&b""[..], b"\n", b"\r\n"] {
            let err = read(input).unwrap_err();
            assert!(matches!(err, StoreError::EmptyValue), "{input:?}: {err}");
            assert!(err.hint().is_some());
        }
    }

    #[test]
    fn large_values_grow_and_limit_holds() {
        let big = vec![b'x'; MAX_VALUE_LEN];
        assert_eq!(read(&big).unwrap().len(), MAX_VALUE_LEN);
        let mut with_newline = big.clone();
        with_newline.push(b'\n');
        assert_eq!(read(&with_newline).unwrap().len(), MAX_VALUE_LEN);
        let too_big = vec![b'x'; MAX_VALUE_LEN + 1];
        assert!(matches!(read(&too_big), Err(StoreError::ValueTooLarge)));
        let huge = std::io::repeat(b'y');
        assert!(matches!(read_value(huge), Err(StoreError::ValueTooLarge)));
    }

    #[test]
    fn read_errors_are_reported() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                Err(std::io::Error::other("boom"))
            }
        }
        assert!(matches!(read_value(Failing), Err(StoreError::ReadValue(_))));
    }
}
