//! Endpoints of a hostile API (threat T2 of docs/egress.md): one that
//! reflects, compresses and stores what it receives, so the tests can check
//! that an injected key never comes back to the task.
//!
//! - `GET /gzip-echo`: 200, `you sent: <Authorization header>`; gzip-encoded
//!   (`Content-Encoding: gzip`) when the request's `Accept-Encoding` allows
//!   gzip, or always with `/gzip-echo?always`.
//! - `GET /store...`: keeps the request's `Authorization` header and its
//!   whole target (path and query); answers `stored`.
//! - `GET /read`: 200, everything stored so far, one item a line.

use std::sync::Mutex;

/// What the store endpoints keep, per server.
pub type Stored = Mutex<Vec<String>>;

/// A status line, extra headers and a body.
pub type Answer = (&'static str, Vec<(String, String)>, Vec<u8>);

/// The answer of a reflecting endpoint, or `None` if `request` is for none.
pub fn answer(request: &crate::Received, stored: &Stored) -> Option<Answer> {
    let target = request.target.as_str();
    let auth = request.header("authorization").unwrap_or_default();
    if target.starts_with("/gzip-echo") {
        let body = format!("you sent: {auth}").into_bytes();
        let accepts = request
            .header("accept-encoding")
            .is_some_and(|a| a.contains("gzip"));
        if accepts || target.contains("always") {
            let headers = vec![("content-encoding".to_owned(), "gzip".to_owned())];
            return Some(("200 OK", headers, gzip(&body)));
        }
        return Some(("200 OK", Vec::new(), body));
    }
    let mut kept = stored.lock().unwrap_or_else(|p| p.into_inner());
    if target.starts_with("/store") {
        kept.push(auth.to_owned());
        kept.push(target.to_owned());
        return Some(("200 OK", Vec::new(), b"stored".to_vec()));
    }
    if target.starts_with("/read") {
        return Some(("200 OK", Vec::new(), kept.join("\n").into_bytes()));
    }
    None
}

/// `data` as a gzip member: one deflate block with the fixed Huffman code,
/// literals only. Real compression coding, so the bytes on the wire do not
/// contain `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut bits = Bits::default();
    bits.push(1, 1); // last block
    bits.push(1, 2); // fixed Huffman codes
    for &byte in data {
        match byte {
            0..=143 => bits.code(0x30 + u32::from(byte), 8),
            _ => bits.code(0x190 + u32::from(byte) - 144, 9),
        }
    }
    bits.code(0, 7); // end of block
    out.extend(bits.finish());
    out.extend(crc32(data).to_le_bytes());
    out.extend((data.len() as u32).to_le_bytes());
    out
}

/// Deflate's bit packing: values LSB first, Huffman codes MSB first.
#[derive(Default)]
struct Bits {
    bytes: Vec<u8>,
    used: u32,
}

impl Bits {
    fn bit(&mut self, bit: u32) {
        if self.used.is_multiple_of(8) {
            self.bytes.push(0);
        }
        if bit != 0 {
            *self.bytes.last_mut().expect("pushed") |= 1 << (self.used % 8);
        }
        self.used += 1;
    }

    fn push(&mut self, value: u32, width: u32) {
        (0..width).for_each(|i| self.bit((value >> i) & 1));
    }

    fn code(&mut self, code: u32, width: u32) {
        (0..width).rev().for_each(|i| self.bit((code >> i) & 1));
    }

    fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_decodes_with_the_system_gzip_and_hides_the_text() {
        let text = b"you sent: Bearer phc_CANARY0123456789abcdef";
        let packed = gzip(text);
        assert!(!packed.windows(10).any(|w| w == b"phc_CANARY"));
        let mut child = std::process::Command::new("gzip")
            .arg("-dc")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("gzip is installed");
        use std::io::Write;
        child.stdin.take().unwrap().write_all(&packed).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, text);
    }
}
