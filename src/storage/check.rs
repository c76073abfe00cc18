//! A check of the LMDB data file before it is mapped: a `data.mdb` cut short (a bad copy, a
//! full disk during a restore) would otherwise kill the process with SIGBUS the first time
//! LMDB touches a page past the end of the file. Reads the file with `pread` only.
//!
//! The layout is LMDB's own (`libraries/liblmdb/mdb.c` of the `lmdb-master-sys` crate that
//! heed builds, without `MDB_VL32`): pages 0 and 1 are meta pages, each a page header
//! (`MDB_page`: page number, pad, flags, lower, upper) followed by `MDB_meta` (magic
//! `0xBEEFC0DE`, data version 1, map address, map size, the free-page and main `MDB_db`
//! records — the free one's `md_pad` holds the page size — the last used page number and
//! the committing transaction id). LMDB uses the meta page with the higher transaction id.
//! `pgno_t`, `mdb_size_t` and pointers are `size_t`, and everything is in native byte
//! order, so the layout is the one of the machine that wrote the file, which is the one
//! reading it (LMDB files do not move between word sizes).
//!
//! Pages up to the meta's `mm_last_pg` are either in use or listed in the free-page
//! database, and mdb.c notes that the file "may be shorter if the freeDB lists the final
//! pages" (pages a transaction allocated and freed again are never written). So when the
//! file is shorter than `(mm_last_pg + 1) * page size`, the free-page B-tree is read too and
//! only the pages below the last page in use must be present. Imports only `storage`.

use super::StoreError;
use std::collections::HashSet;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// `size_t` of this build: the width of `pgno_t`, `mdb_size_t` and pointers in the file.
const WORD: usize = std::mem::size_of::<usize>();
/// `PAGEHDRSZ`: page number (word), `mp_pad` u16, `mp_flags` u16, `mp_lower`/`mp_upper` u16.
const PAGE_HEADER: usize = WORD + 8;
const MDB_MAGIC: u32 = 0xBEEF_C0DE;
const MDB_DATA_VERSION: u32 = 1;
const P_BRANCH: u16 = 0x01;
const P_LEAF: u16 = 0x02;
const P_OVERFLOW: u16 = 0x04;
const P_META: u16 = 0x08;
const P_LEAF2: u16 = 0x20;
/// Node flag: the value is on overflow pages.
const F_BIGDATA: u16 = 0x01;
/// `NODESIZE`: `mn_lo`, `mn_hi`, `mn_flags`, `mn_ksize`, all u16.
const NODE_HEADER: usize = 8;
/// Offsets inside `MDB_meta` (after the page header).
const META_PSIZE: usize = 8 + 2 * WORD; // mm_dbs[FREE_DBI].md_pad
const META_FREE_DEPTH: usize = META_PSIZE + 6; // mm_dbs[FREE_DBI].md_depth
const META_FREE_ROOT: usize = META_PSIZE + 8 + 4 * WORD; // mm_dbs[FREE_DBI].md_root
const META_LAST_PG: usize = 24 + 12 * WORD;
const META_TXNID: usize = 24 + 13 * WORD;
const META_LEN: usize = 24 + 14 * WORD;
/// Page size assumed when even the first meta page cannot be read.
const DEFAULT_PAGE_SIZE: u64 = 4096;

/// What the newest meta page says.
#[derive(Debug, Clone, Copy)]
struct Meta {
    page_size: u64,
    last_pg: u64,
    txnid: u64,
    free_root: u64,
    free_depth: u16,
}

/// Checks that `<dir>/data.mdb`, if present and not empty, holds every page its newest
/// meta page says is in use. A missing or empty file (LMDB starts a new environment) and
/// files that are not LMDB data files of this build's word size (LMDB reports those itself
/// when opening) pass.
///
/// # Errors
/// [`StoreError::Truncated`] when pages in use lie past the end of the file (or the meta
/// pages themselves are cut); [`StoreError::Io`] when the file cannot be read.
pub(super) fn check_data_file(dir: &Path) -> Result<(), StoreError> {
    let path = dir.join("data.mdb");
    let io = |source| StoreError::Io {
        path: path.clone(),
        source,
    };
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io(e)),
    };
    let size = file.metadata().map_err(io)?.len();
    let truncated = |needed: u64| StoreError::Truncated {
        path: dir.to_path_buf(),
        size,
        needed,
    };
    if size == 0 {
        return Ok(());
    }
    if size < (PAGE_HEADER + META_LEN) as u64 {
        return Err(truncated(2 * DEFAULT_PAGE_SIZE));
    }
    let Some(first) = read_meta(&file, 0).map_err(io)? else {
        return Ok(());
    };
    let page_size = first.page_size;
    if size < 2 * page_size {
        return Err(truncated(2 * page_size));
    }
    let meta = match read_meta(&file, page_size).map_err(io)? {
        Some(second) if second.page_size == page_size && second.txnid > first.txnid => second,
        Some(_) => first,
        None => return Ok(()),
    };
    let Some(by_meta) = meta
        .last_pg
        .checked_add(1)
        .and_then(|n| n.checked_mul(page_size))
    else {
        return Ok(());
    };
    if size >= by_meta {
        return Ok(());
    }
    // Shorter than the meta says: fine only if every missing page is a free one.
    let mut free = FreePages {
        file: &file,
        size,
        meta,
        pages: HashSet::new(),
        visited: 0,
    };
    if free.walk(meta.free_root, meta.free_depth).is_none() {
        return Err(truncated(by_meta));
    }
    let mut last_used = meta.last_pg;
    while last_used > 1 && free.pages.contains(&last_used) {
        last_used -= 1;
    }
    let needed = (last_used + 1) * page_size;
    if size >= needed {
        tracing::debug!(
            path = %path.display(),
            size,
            by_meta,
            "data.mdb ends in free pages that were never written"
        );
        Ok(())
    } else {
        Err(truncated(needed))
    }
}

/// Reads the meta page at `offset`; `None` when it is not an LMDB meta page of this build's
/// layout (wrong flags, magic, version, or a page size that is no power of two).
fn read_meta(file: &File, offset: u64) -> std::io::Result<Option<Meta>> {
    let mut buf = [0u8; PAGE_HEADER + META_LEN];
    file.read_exact_at(&mut buf, offset)?;
    let meta = &buf[PAGE_HEADER..];
    if u16_at(&buf, WORD + 2) & P_META == 0
        || u32_at(meta, 0) != MDB_MAGIC
        || u32_at(meta, 4) != MDB_DATA_VERSION
    {
        return Ok(None);
    }
    let page_size = u64::from(u32_at(meta, META_PSIZE));
    if !page_size.is_power_of_two() || !(256..=65536).contains(&page_size) {
        return Ok(None);
    }
    Ok(Some(Meta {
        page_size,
        last_pg: word_at(meta, META_LAST_PG),
        txnid: word_at(meta, META_TXNID),
        free_root: word_at(meta, META_FREE_ROOT),
        free_depth: u16_at(meta, META_FREE_DEPTH),
    }))
}

/// The page numbers listed in the free-page database (`FREE_DBI`): its keys are transaction
/// ids, its values ID lists (`MDB_IDL`: a count, then that many page numbers).
struct FreePages<'f> {
    file: &'f File,
    size: u64,
    meta: Meta,
    pages: HashSet<u64>,
    visited: u64,
}

impl FreePages<'_> {
    /// Collects the free pages under `pgno`; `None` when a page of the tree lies past the
    /// end of the file or does not parse (either way the tail cannot be proved free).
    fn walk(&mut self, pgno: u64, depth: u16) -> Option<()> {
        if pgno == invalid_pgno() {
            return Some(()); // an empty free-page database
        }
        // A tree of the stated depth, and never more pages than the file can hold.
        self.visited += 1;
        if depth == 0 || self.visited > self.meta.last_pg {
            return None;
        }
        let page = self.page(pgno)?;
        let flags = u16_at(&page, WORD + 2);
        let lower = usize::from(u16_at(&page, WORD + 4));
        if lower > page.len() {
            return None;
        }
        let count = lower.checked_sub(PAGE_HEADER)? / 2;
        for i in 0..count {
            let at = usize::from(u16_at(&page, PAGE_HEADER + 2 * i));
            let node = page.get(at..at + NODE_HEADER)?;
            let node_flags = u16_at(node, 4);
            if flags & P_BRANCH != 0 {
                // NODEPGNO: mn_lo | mn_hi << 16, and mn_flags << 32 where pgno_t is 64-bit.
                let mut child = u64::from(u32_at(node, 0));
                if WORD == 8 {
                    child |= u64::from(node_flags) << 32;
                }
                self.walk(child, depth - 1)?;
            } else if flags & P_LEAF != 0 && flags & P_LEAF2 == 0 {
                let data_len = u32_at(node, 0) as usize;
                let data_at = at + NODE_HEADER + usize::from(u16_at(node, 6));
                let ids = if node_flags & F_BIGDATA != 0 {
                    let first = word_at(page.get(data_at..data_at + WORD)?, 0);
                    self.overflow(first, data_len)?
                } else {
                    page.get(data_at..data_at.checked_add(data_len)?)?.to_vec()
                };
                self.add_id_list(&ids)?;
            } else {
                return None;
            }
        }
        Some(())
    }

    /// Adds an `MDB_IDL` (count, then page numbers).
    fn add_id_list(&mut self, ids: &[u8]) -> Option<()> {
        let count = usize::try_from(word_at(ids.get(..WORD)?, 0)).ok()?;
        let list = ids.get(WORD..WORD + count.checked_mul(WORD)?)?;
        self.pages
            .extend(list.chunks_exact(WORD).map(|id| word_at(id, 0)));
        Some(())
    }

    /// The `len` value bytes stored on the overflow pages starting at `pgno`.
    fn overflow(&self, pgno: u64, len: usize) -> Option<Vec<u8>> {
        let head = self.page(pgno)?;
        if u16_at(&head, WORD + 2) & P_OVERFLOW == 0 {
            return None;
        }
        let start = pgno.checked_mul(self.meta.page_size)? + PAGE_HEADER as u64;
        if start.checked_add(len as u64)? > self.size {
            return None;
        }
        let mut buf = vec![0u8; len];
        self.file.read_exact_at(&mut buf, start).ok()?;
        Some(buf)
    }

    /// Page `pgno`, or `None` when it is past the end of the file (or past `mm_last_pg`).
    fn page(&self, pgno: u64) -> Option<Vec<u8>> {
        let page_size = self.meta.page_size;
        if pgno < 2 || pgno > self.meta.last_pg || (pgno + 1) * page_size > self.size {
            return None;
        }
        let mut buf = vec![0u8; usize::try_from(page_size).ok()?];
        self.file.read_exact_at(&mut buf, pgno * page_size).ok()?;
        Some(buf)
    }
}

/// `P_INVALID`: the root of an empty tree, all ones in a `pgno_t`.
fn invalid_pgno() -> u64 {
    usize::MAX as u64
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    let mut b = [0u8; 2];
    b.copy_from_slice(&bytes[at..at + 2]);
    u16::from_ne_bytes(b)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&bytes[at..at + 4]);
    u32::from_ne_bytes(b)
}

/// A native-endian `size_t` at `at`.
fn word_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; WORD];
    b.copy_from_slice(&bytes[at..at + WORD]);
    usize::from_ne_bytes(b) as u64
}

#[cfg(test)]
mod tests;
