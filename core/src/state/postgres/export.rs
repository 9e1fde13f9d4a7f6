//! The chain as the file backend's files, for the readers: `audit verify`,
//! `audit log`, `audit grants` and the store's listings read a private
//! temporary copy of the table with the code that reads `audit.jsonl`.
//!
//! Guarantees: the copy holds the rows' lines byte for byte, in chain order
//! (`seq`, then row id: a duplicated seq shows as a duplicate, a missing one
//! as a gap), and the head row's checkpoint as `audit.checkpoint`; so every
//! verdict on the table is the verifier's verdict on exactly those lines.
//! The copy is one consistent snapshot (one `REPEATABLE READ` transaction),
//! mode 0600 in a 0700 directory, removed when the [`Export`] is dropped.
//! It holds the store document too, as `secrets.json` (ciphertexts only),
//! so the readers that open the store for its audit keys open it there;
//! the key file is never copied, only linked ([`Export::link_key`]).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use futures_util::{StreamExt, pin_mut};

use super::conn::{db_err, pool_err};
use super::{PgError, PgState, schema};
use crate::audit::{AUDIT_FILE, CHECKPOINT_FILE};
use crate::store::{KEY_FILE, STORE_FILE};

/// A temporary state dir holding the chain's lines and checkpoint.
#[derive(Debug)]
pub struct Export {
    dir: tempfile::TempDir,
    /// Rows copied.
    pub records: u64,
}

impl Export {
    /// The directory to read as a state dir (`audit.jsonl`, `audit.checkpoint`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The copied log.
    pub fn audit_path(&self) -> PathBuf {
        self.dir.path().join(AUDIT_FILE)
    }

    /// Links the key file of the state dir `home` (if it has one) into the
    /// copy, so the store opens there; the key's bytes are never copied.
    pub fn link_key(&self, home: &Path) -> Result<(), PgError> {
        let key = home.join(KEY_FILE);
        if !key.exists() {
            return Ok(());
        }
        let key = std::path::absolute(&key).map_err(|e| local_err(&e))?;
        std::os::unix::fs::symlink(key, self.dir.path().join(KEY_FILE)).map_err(|e| local_err(&e))
    }
}

impl PgState {
    /// Copies the chain and its checkpoint into a fresh private temp dir.
    pub fn export(&self) -> Result<Export, PgError> {
        let dir = tempfile::Builder::new()
            .prefix("scopehold-chain")
            .tempdir()
            .map_err(|e| local_err(&e))?;
        let log = create(&dir.path().join(AUDIT_FILE)).map_err(|e| local_err(&e))?;
        let checkpoint_path = dir.path().join(CHECKPOINT_FILE);
        let document_path = dir.path().join(STORE_FILE);
        let (records, checkpoint, document) = self.db().run(move |pool| async move {
            let mut client = pool.get().await.map_err(pool_err)?;
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(db_err("begin reading the chain"))?;
            schema::check(&tx).await?;
            let records = copy_lines(&tx, log).await?;
            let head = tx
                .query_opt("SELECT checkpoint FROM chain_head", &[])
                .await
                .map_err(db_err("read the chain head"))?;
            let document = tx
                .query_opt("SELECT document FROM store_document", &[])
                .await
                .map_err(db_err("read the store"))?;
            let text = |row: tokio_postgres::Row| row.get::<_, String>(0);
            Ok((records, head.map(text), document.map(text)))
        })?;
        if let Some(text) = document {
            let mut file = create(&document_path).map_err(|e| local_err(&e))?;
            file.write_all(text.as_bytes()).map_err(|e| local_err(&e))?;
        }
        if let Some(text) = checkpoint.filter(|t| !t.is_empty()) {
            let mut file = create(&checkpoint_path).map_err(|e| local_err(&e))?;
            writeln!(file, "{text}").map_err(|e| local_err(&e))?;
        }
        Ok(Export { dir, records })
    }
}

/// Streams every row's line, in chain order, into `log`.
async fn copy_lines(tx: &deadpool_postgres::Transaction<'_>, log: File) -> Result<u64, PgError> {
    let rows = tx
        .query_raw(
            "SELECT line FROM audit_record ORDER BY seq, id",
            std::iter::empty::<i32>(),
        )
        .await
        .map_err(db_err("read the chain"))?;
    pin_mut!(rows);
    let mut out = BufWriter::new(log);
    let mut count = 0;
    while let Some(row) = rows.next().await {
        let row = row.map_err(db_err("read the chain"))?;
        let line: &str = row.get(0);
        out.write_all(line.as_bytes())
            .and_then(|()| out.write_all(b"\n"))
            .map_err(|e| local_err(&e))?;
        count += 1;
    }
    out.flush().map_err(|e| local_err(&e))?;
    Ok(count)
}

fn create(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

fn local_err(error: &std::io::Error) -> PgError {
    PgError::Query {
        action: "copy the chain to a temporary file",
        detail: error.to_string(),
    }
}
