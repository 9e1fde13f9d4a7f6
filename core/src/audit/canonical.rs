//! The canonical-spelling check for record lines.
//!
//! A line that parsed strictly may still be spelt differently from what the
//! writer writes: spaces between tokens, another key order, or other string
//! escapes (`\u0061` for `a`, `\/`, `\u000a`, `\u001F`). Numbers cannot
//! differ: the typed parse rejects signs, leading zeros, fractions and
//! exponents. This scanner accepts exactly serde_json's compact output for a
//! flat object with the given keys, in one pass and without re-serialising,
//! which keeps `verify` fast. The round-trip property tests check it against
//! serde_json's actual output.

/// Checks that `line` is `{"k1":v1,"k2":v2,...}` with exactly the keys of
/// `keys` (concatenated) in order, no whitespace, and strings escaped as
/// serde_json escapes them.
pub(crate) fn check(line: &[u8], keys: &[&[&str]]) -> Result<(), String> {
    let mut s = Scanner { line, at: 0 };
    s.expect(b"{")?;
    for (n, key) in keys.iter().flat_map(|k| k.iter()).enumerate() {
        if n > 0 {
            s.expect(b",")?;
        }
        s.expect(b"\"")?;
        s.expect(key.as_bytes())?;
        s.expect(b"\":")?;
        s.value()?;
    }
    s.expect(b"}")?;
    if s.at != line.len() {
        return Err(s.error());
    }
    Ok(())
}

struct Scanner<'a> {
    line: &'a [u8],
    at: usize,
}

impl Scanner<'_> {
    fn error(&self) -> String {
        format!(
            "record is not in canonical form at byte {}: spacing, escapes or field order \
             differ from what the writer writes",
            self.at + 1
        )
    }

    fn expect(&mut self, bytes: &[u8]) -> Result<(), String> {
        if self.line[self.at..].starts_with(bytes) {
            self.at += bytes.len();
            Ok(())
        } else {
            Err(self.error())
        }
    }

    /// A string, an integer or a boolean (already validated by the parser).
    fn value(&mut self) -> Result<(), String> {
        for word in [&b"true"[..], b"false"] {
            if self.line[self.at..].starts_with(word) {
                self.at += word.len();
                return Ok(());
            }
        }
        if self.line.get(self.at) == Some(&b'"') {
            self.at += 1;
            return self.string_rest();
        }
        let digits = self.line[self.at..]
            .iter()
            .take_while(|c| c.is_ascii_digit() || **c == b'-')
            .count();
        if digits == 0 {
            return Err(self.error());
        }
        self.at += digits;
        Ok(())
    }

    /// The rest of a string after its opening quote, through the closing one.
    fn string_rest(&mut self) -> Result<(), String> {
        loop {
            let rest = &self.line[self.at..];
            let Some(i) = memchr::memchr2(b'"', b'\\', rest) else {
                return Err(self.error());
            };
            self.at += i + 1;
            if rest[i] == b'"' {
                return Ok(());
            }
            self.escape()?;
        }
    }

    /// After a backslash: the escape serde_json would write, and only that.
    fn escape(&mut self) -> Result<(), String> {
        let len = match self.line.get(self.at) {
            Some(b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't') => 1,
            Some(b'u') if self.is_canonical_u_escape() => 5,
            _ => return Err(self.error()),
        };
        self.at += len;
        Ok(())
    }

    /// `\u00XX` in lowercase hex, for a control character that has no
    /// short escape.
    fn is_canonical_u_escape(&self) -> bool {
        let Some(hex) = self.line.get(self.at + 1..self.at + 5) else {
            return false;
        };
        let lower_hex = |c: &u8| c.is_ascii_digit() || (b'a'..=b'f').contains(c);
        if !hex.starts_with(b"00") || !hex.iter().all(lower_hex) {
            return false;
        }
        let value = u8::from_str_radix(std::str::from_utf8(&hex[2..]).unwrap_or("zz"), 16);
        matches!(value, Ok(c) if c < 0x20 && !matches!(c, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_serde_json_spelling() {
        let value = "a\"b\\c\n\t\r\u{8}\u{c}\u{1}\u{1f}\u{7f}é🙂/";
        let line = format!(
            "{{\"k\":{},\"n\":-12,\"m\":0,\"t\":true,\"f\":false}}",
            serde_json::to_string(value).unwrap()
        );
        check(line.as_bytes(), &[&["k"], &["n", "m", "t", "f"]]).unwrap();
    }

    #[test]
    fn rejects_other_spellings() {
        let keys: [&[&str]; 2] = [&["k"], &["n"]];
        for bad in [
            r#"{"k":"a","n":1} "#,
            r#"{"k":"a", "n":1}"#,
            r#"{ "k":"a","n":1}"#,
            r#"{"n":1,"k":"a"}"#,
            r#"{"k":"a","n":1,"x":2}"#,
            r#"{"k":"a"}"#,
            r#"{"k":"\u0061","n":1}"#,
            r#"{"k":"\/","n":1}"#,
            r#"{"k":"\u000a","n":1}"#,
            r#"{"k":"\u001F","n":1}"#,
            r#"{"k":"\u007f","n":1}"#,
            r#"{"k":"\u00","n":1}"#,
            r#"{"k":"a,"n":1}"#,
            r#"{"k":True,"n":1}"#,
            r#"{"k":tru,"n":1}"#,
        ] {
            assert!(check(bad.as_bytes(), &keys).is_err(), "{bad}");
        }
    }
}
