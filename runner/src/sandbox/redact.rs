//! Output redaction: the task's stdout and stderr with every secret value
//! released in the run replaced by `[REDACTED:name]`.
//!
//! Guarantees:
//! - A value is redacted however the task splits it across writes: bytes
//!   that could be the start of a value are held back until the next write
//!   shows whether they are, and released by [`Redact::finish`] at the end.
//! - The filter sees every value released so far at each write, including
//!   values injected into requests (which the task never had).
//!
//! The filter is a plain [`Write`] layer, so other layers (an output byte
//! counter, say) stack on the same stream; [`Output`] turns any such stack
//! into the stream wasmtime-wasi hands to the task.

use std::io::{self, Write};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use secrecy::ExposeSecret;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

use crate::broker::Released;

/// Replaces released values in the bytes written through it.
pub struct Redact<W: Write> {
    inner: W,
    released: Released,
    /// Bytes that may be the first part of a value.
    held: Vec<u8>,
}

impl<W: Write> Redact<W> {
    pub fn new(inner: W, released: Released) -> Self {
        Redact {
            inner,
            released,
            held: Vec::new(),
        }
    }

    /// The layer below this one.
    pub fn inner_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Writes out what is held back; call once the task has ended.
    pub fn finish(&mut self) -> io::Result<()> {
        let held = std::mem::take(&mut self.held);
        self.inner.write_all(&held)?;
        self.inner.flush()
    }

    /// Splits `data` into what can be written now (values replaced) and the
    /// tail that could still grow into a value.
    fn filter(&self, data: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let values = self.released.values();
        let values: Vec<(String, &[u8])> = values
            .iter()
            .map(|(name, value)| {
                (
                    format!("[REDACTED:{name}]"),
                    value.expose_secret().as_bytes(),
                )
            })
            .filter(|(_, value)| !value.is_empty())
            .collect();
        let mut out = Vec::with_capacity(data.len());
        let mut at = 0;
        'scan: while at < data.len() {
            let rest = &data[at..];
            // Longest value first, so a value containing another is one marker.
            let full = values
                .iter()
                .filter(|(_, v)| rest.starts_with(v))
                .max_by_key(|(_, v)| v.len());
            if let Some((marker, value)) = full {
                out.extend_from_slice(marker.as_bytes());
                at += value.len();
                continue 'scan;
            }
            if values.iter().any(|(_, v)| v.starts_with(rest)) {
                return (out, rest.to_vec());
            }
            out.push(data[at]);
            at += 1;
        }
        (out, Vec::new())
    }
}

impl<W: Write> Write for Redact<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut data = std::mem::take(&mut self.held);
        data.extend_from_slice(buf);
        let (ready, held) = self.filter(&data);
        self.inner.write_all(&ready)?;
        self.held = held;
        Ok(buf.len())
    }

    /// Flushes what was written, but keeps a possible partial value held:
    /// WASI flushes after every write, which must not defeat the filter.
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A layer stack shared by every stream the task opens on stdout (or stderr).
pub struct Output<W> {
    shared: Arc<Mutex<W>>,
    terminal: bool,
}

impl<W> Clone for Output<W> {
    fn clone(&self) -> Self {
        Output {
            shared: self.shared.clone(),
            terminal: self.terminal,
        }
    }
}

impl<W: Write + Send + 'static> Output<W> {
    pub fn new(layers: W, terminal: bool) -> Self {
        Output {
            shared: Arc::new(Mutex::new(layers)),
            terminal,
        }
    }

    /// The layer stack, e.g. to finish it when the run ends.
    pub fn lock(&self) -> MutexGuard<'_, W> {
        // Writes are whole operations on the stack; a panic elsewhere
        // cannot leave it inconsistent.
        self.shared
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<W: Send> IsTerminal for Output<W> {
    fn is_terminal(&self) -> bool {
        self.terminal
    }
}

impl<W: Write + Send + 'static> StdoutStream for Output<W> {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

fn failed(error: io::Error) -> StreamError {
    StreamError::LastOperationFailed(wasmtime::Error::from(error))
}

impl<W: Write + Send + 'static> OutputStream for Output<W> {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.lock().write_all(&bytes).map_err(failed)
    }

    fn flush(&mut self) -> StreamResult<()> {
        self.lock().flush().map_err(failed)
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl<W: Write + Send + 'static> Pollable for Output<W> {
    async fn ready(&mut self) {}
}

impl<W: Write + Send + 'static> tokio::io::AsyncWrite for Output<W> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::task::Poll::Ready(self.lock().write(buf))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(self.lock().flush())
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;
    use crate::names::SecretName;

    fn released(value: &str) -> Released {
        let released = Released::default();
        let name = SecretName::new("posthog-read").unwrap();
        released.push(name, SecretString::from(value.to_owned()), Vec::new());
        released
    }

    fn run(value: &str, writes: &[&[u8]]) -> String {
        let mut redact = Redact::new(Vec::new(), released(value));
        for chunk in writes {
            redact.write_all(chunk).unwrap();
            redact.flush().unwrap();
        }
        redact.finish().unwrap();
        String::from_utf8(redact.inner).unwrap()
    }

    #[test]
    fn redacts_whole_and_split_values() {
        let v = "phc_k3y";
        assert_eq!(
            run(v, &[b"key=phc_k3y!\n"]),
            "key=[REDACTED:posthog-read]!\n"
        );
        let bytes: Vec<&[u8]> = v.as_bytes().chunks(1).collect();
        assert_eq!(run(v, &bytes), "[REDACTED:posthog-read]");
        assert_eq!(
            run(v, &[b"a phc_", b"k3y b"]),
            "a [REDACTED:posthog-read] b"
        );
    }

    #[test]
    fn releases_a_false_start() {
        assert_eq!(run("phc_k3y", &[b"phc_", b"other"]), "phc_other");
        assert_eq!(run("phc_k3y", &[b"ends with phc_k"]), "ends with phc_k");
        assert_eq!(run("aab", &[b"aaab"]), "a[REDACTED:posthog-read]");
    }
}
