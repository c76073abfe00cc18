//! The LMDB store (via heed), Hearth's source of truth: sessions, transcripts, runs,
//! idempotency keys, auth-profile cooldowns, and long-term memory (chunks, their vectors,
//! the indexing outbox and the state of each memory source), the message inbox, the
//! platform cursors, the delivery outbox, channel pairing, the exec approvals document,
//! the audit ledger and the cron jobs. The only module that imports
//! `heed`.
//!
//! One environment under `<data_dir>/store/`, an explicit map size, default durability
//! (fsync on commit), a schema version checked on open. Keys are big-endian integers or
//! UTF-8 strings so they sort; values are JSON. Callers open transactions with
//! [`Store::read_txn`] / [`Store::write_txn`], pass them to the typed methods, and never hold
//! one across an `.await`. LMDB admits one write transaction at a time (see
//! <http://www.lmdb.tech/doc/>), which makes check-and-insert inside one [`Wtxn`] atomic.

mod check;
mod inbox;
mod ledger;
mod memory;
mod outbox;
mod pairing;
mod records;
mod writer;

pub use inbox::*;
pub use ledger::*;
pub use memory::*;
pub use outbox::*;
pub use pairing::*;
pub use records::*;

use heed::types::Bytes;
use heed::{CommitOrAbort, Database, Env, EnvFlags, EnvOpenOptions};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// The schema this build reads and writes. Version-1 (before memory), version-2 (before
/// the inbox) and version-3 (before the delivery outbox) stores are upgraded in place on
/// open (each version only added databases); any other version is refused.
pub const SCHEMA_VERSION: u32 = 6;

/// A read transaction as typed methods take it; a [`Wtxn`] derefs to one, so reads inside a
/// write transaction see its own writes. Short-lived; never held across `.await`.
pub type Rtxn<'e> = heed::RoTxn<'e>;
/// A read transaction as [`Store::read_txn`] opens it.
pub type ReadTxn<'e> = heed::RoTxn<'e, heed::WithTls>;
/// The write transaction (one at a time per environment).
pub type Wtxn<'e> = heed::RwTxn<'e>;

type Db = Database<'static, Bytes, Bytes>;

const DB_NAMES: [&str; 17] = [
    "meta",
    "sessions",
    "transcript",
    "runs",
    "dedupe",
    "profiles",
    "chunks",
    "vectors",
    "mem_outbox",
    "mem_sources",
    "inbox",
    "cursors",
    "outbox",
    "pairing",
    "approvals",
    "audit",
    "cron",
];

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// LMDB reported an error (I/O, map full, …).
    #[error("store at {path}: {source}")]
    Lmdb {
        /// The environment directory.
        path: PathBuf,
        /// heed's error.
        source: heed::Error,
    },
    /// The store was written by another schema version.
    #[error(
        "store at {path} has schema version {found}, this build needs {SCHEMA_VERSION}; move it aside or run a matching version"
    )]
    Schema {
        /// The environment directory.
        path: PathBuf,
        /// The version found.
        found: u32,
    },
    /// A value did not decode; names the database and key.
    #[error("corrupt record in {db} at key {key}: {detail}")]
    Corrupt {
        /// Database name.
        db: &'static str,
        /// Key, printable.
        key: String,
        /// Decoder message.
        detail: String,
    },
    /// A group commit of the writer failed; every write of the batch was lost.
    #[error("store at {path}: commit failed: {message}")]
    Commit {
        /// The environment directory.
        path: PathBuf,
        /// heed's error, as text (one failure is reported to every writer of the batch).
        message: String,
    },
    /// The writer dropped the write without an answer (it could not begin a transaction).
    #[error("store at {path}: the writer dropped the write")]
    WriterGone {
        /// The environment directory.
        path: PathBuf,
    },
    /// Creating the directory, or reading the data file before opening it, failed.
    #[error("cannot create or read the store at {path}: {source}")]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// `data.mdb` is shorter than the pages its meta page says are in use (cut short by a
    /// bad copy or a full disk); opening it would crash the process with SIGBUS.
    #[error(
        "store at {path} is damaged: data.mdb has {size} bytes but the data it records needs {needed}; restore the store directory from a backup, or move it aside to start with an empty store"
    )]
    Truncated {
        /// The environment directory.
        path: PathBuf,
        /// Size of `data.mdb`, bytes.
        size: u64,
        /// Size its pages in use need, bytes.
        needed: u64,
    },
}

/// Options for [`Store::open`].
#[derive(Debug, Clone, Copy)]
pub struct StoreOptions {
    /// LMDB map size in bytes: the most the store can ever hold.
    pub map_size_bytes: usize,
}

/// A cheap cloneable handle to the environment and its databases.
#[derive(Clone)]
pub struct Store {
    env: Env,
    path: PathBuf,
    meta: Db,
    sessions: Db,
    transcript: Db,
    runs: Db,
    dedupe: Db,
    profiles: Db,
    chunks: Db,
    vectors: Db,
    mem_outbox: Db,
    mem_sources: Db,
    inbox: Db,
    cursors: Db,
    outbox: Db,
    pairing: Db,
    approvals: Db,
    audit: Db,
    cron: Db,
    writer: writer::Handle,
}

impl Store {
    /// Opens (creating if needed) the environment in `dir`, creates the databases in one
    /// write transaction and checks the schema version.
    ///
    /// # Errors
    /// [`StoreError::Io`] if the directory cannot be made or the data file read,
    /// [`StoreError::Truncated`] if the data file is cut short (checked before LMDB maps
    /// it), [`StoreError::Lmdb`] if LMDB cannot open it (permissions, map size smaller than
    /// the data), [`StoreError::Schema`] on a version mismatch.
    pub fn open(dir: &Path, opts: StoreOptions) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        check::check_data_file(dir)?;
        let lmdb = |source| StoreError::Lmdb {
            path: dir.to_path_buf(),
            source,
        };
        let mut eo = EnvOpenOptions::new();
        eo.map_size(round_to_page(opts.map_size_bytes))
            .max_dbs(DB_NAMES.len() as u32 + 2)
            .max_readers(126);
        // SAFETY: heed requires that one process does not open the same environment twice
        // (LMDB locks are per-process). The daemon opens it once; the data dir holds one store.
        let env = unsafe { eo.flags(EnvFlags::empty()).open(dir) }.map_err(lmdb)?;
        let wtxn = env.write_txn().map_err(lmdb)?;
        let dbs: [Db; DB_NAMES.len()] = env
            .create_databases_and_commit(wtxn, |opener, wtxn| -> Result<_, heed::Error> {
                let mut out = Vec::with_capacity(DB_NAMES.len());
                for name in DB_NAMES {
                    out.push(opener.create_database::<Bytes, Bytes>(wtxn, Some(name))?);
                }
                let arr: [Database<'_, Bytes, Bytes>; DB_NAMES.len()] = out
                    .try_into()
                    .unwrap_or_else(|_| unreachable!("one database per name in DB_NAMES"));
                Ok(CommitOrAbort::<_, ()>::Commit(arr))
            })
            .map_err(lmdb)?
            .unwrap_commit();
        let [
            meta,
            sessions,
            transcript,
            runs,
            dedupe,
            profiles,
            chunks,
            vectors,
            mem_outbox,
            mem_sources,
            inbox,
            cursors,
            outbox,
            pairing,
            approvals,
            audit,
            cron,
        ] = dbs;
        let store = Self {
            env,
            path: dir.to_path_buf(),
            meta,
            sessions,
            transcript,
            runs,
            dedupe,
            profiles,
            chunks,
            vectors,
            mem_outbox,
            mem_sources,
            inbox,
            cursors,
            outbox,
            pairing,
            approvals,
            audit,
            cron,
            writer: writer::Handle::default(),
        };
        store.check_schema()?;
        Ok(store)
    }

    fn check_schema(&self) -> Result<(), StoreError> {
        let mut w = self.write_txn()?;
        match self
            .meta
            .get(&w, b"schema_version")
            .map_err(|e| self.lmdb(e))?
        {
            Some(v) => {
                let found = v.try_into().map(u32::from_be_bytes).unwrap_or(0);
                if (1..SCHEMA_VERSION).contains(&found) {
                    // Versions 2 to 6 only added databases (memory; inbox and cursors;
                    // outbox; pairing; approvals, audit and cron), created above.
                    tracing::info!(path = %self.path.display(), "store upgraded from schema {found} to {SCHEMA_VERSION}");
                    self.meta
                        .put(&mut w, b"schema_version", &SCHEMA_VERSION.to_be_bytes())
                        .map_err(|e| self.lmdb(e))?;
                } else if found != SCHEMA_VERSION {
                    return Err(StoreError::Schema {
                        path: self.path.clone(),
                        found,
                    });
                }
            }
            None => {
                self.meta
                    .put(&mut w, b"schema_version", &SCHEMA_VERSION.to_be_bytes())
                    .map_err(|e| self.lmdb(e))?;
            }
        }
        w.commit().map_err(|e| self.lmdb(e))
    }

    /// Directory of the environment.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts a read transaction.
    ///
    /// # Errors
    /// [`StoreError::Lmdb`] (reader table full).
    pub fn read_txn(&self) -> Result<ReadTxn<'_>, StoreError> {
        self.env.read_txn().map_err(|e| self.lmdb(e))
    }

    /// Starts the write transaction, waiting for any other writer to finish.
    ///
    /// # Errors
    /// [`StoreError::Lmdb`].
    pub fn write_txn(&self) -> Result<Wtxn<'_>, StoreError> {
        self.env.write_txn().map_err(|e| self.lmdb(e))
    }

    /// Commits `wtxn` durably (fsync). Only after this returns may anything be acknowledged.
    ///
    /// # Errors
    /// [`StoreError::Lmdb`] (disk full, map full, I/O).
    pub fn commit(&self, wtxn: Wtxn<'_>) -> Result<(), StoreError> {
        wtxn.commit().map_err(|e| self.lmdb(e))
    }

    /// Bytes used by the data file (`data.mdb`), for `status`.
    pub fn disk_bytes(&self) -> u64 {
        std::fs::metadata(self.path.join("data.mdb"))
            .map(|m| m.len())
            .unwrap_or(0)
    }

    fn lmdb(&self, source: heed::Error) -> StoreError {
        StoreError::Lmdb {
            path: self.path.clone(),
            source,
        }
    }

    fn get_json<T: DeserializeOwned>(
        &self,
        rtxn: &heed::RoTxn<'_>,
        db: &Db,
        name: &'static str,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        match db.get(rtxn, key).map_err(|e| self.lmdb(e))? {
            None => Ok(None),
            Some(bytes) => decode(name, key, bytes).map(Some),
        }
    }

    fn put_json<T: Serialize>(
        &self,
        wtxn: &mut Wtxn<'_>,
        db: &Db,
        key: &[u8],
        value: &T,
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value).map_err(|e| StoreError::Corrupt {
            db: "encode",
            key: printable(key),
            detail: e.to_string(),
        })?;
        db.put(wtxn, key, &bytes).map_err(|e| self.lmdb(e))
    }
}

fn decode<T: DeserializeOwned>(
    db: &'static str,
    key: &[u8],
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        db,
        key: printable(key),
        detail: e.to_string(),
    })
}

fn printable(key: &[u8]) -> String {
    match std::str::from_utf8(key) {
        Ok(s) => s.to_string(),
        Err(_) => key.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

fn round_to_page(bytes: usize) -> usize {
    let page = 4096;
    bytes.div_ceil(page).max(64) * page
}

#[cfg(test)]
mod tests;
