//! A read-only reader of SQLite database files, enough to scan the rowid tables of
//! OpenClaw's state database: the file format of <https://www.sqlite.org/fileformat2.html>
//! (header, table b-trees, overflow pages, the record format) and its write-ahead log
//! (<https://www.sqlite.org/fileformat2.html#the_write_ahead_log>: committed frames whose
//! salts and cumulative checksums hold are laid over the main file, as SQLite does when it
//! opens a database a killed process left with a `-wal`).
//!
//! Linking SQLite itself cost 1.19 MB of the aarch64 binary for a command run once per
//! installation; this reads what the importer needs in a few hundred lines. It never
//! writes. Index b-trees and `WITHOUT ROWID` tables are not read (none of the tables read
//! is one); UTF-16 databases are refused.

use std::collections::HashMap;
use std::path::Path;

/// A column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A float.
    Real(f64),
    /// Text (UTF-8; invalid sequences replaced).
    Text(String),
    /// A blob.
    Blob(Vec<u8>),
}

impl Val {
    /// The text, if this is text.
    pub fn text(&self) -> Option<&str> {
        match self {
            Val::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// An open database: its pages (with committed WAL frames laid over) and its schema.
pub struct Db {
    bytes: Vec<u8>,
    page_size: usize,
    usable: usize,
    /// Pages replaced by the write-ahead log: page number → frame contents.
    wal: HashMap<u32, Vec<u8>>,
    /// Table name → (root page, column names).
    tables: HashMap<String, (u32, Vec<String>)>,
}

fn bad(what: impl std::fmt::Display) -> String {
    format!("not a readable SQLite database: {what}")
}

fn be16(b: &[u8], at: usize) -> Result<usize, String> {
    b.get(at..at + 2)
        .map(|x| u16::from_be_bytes([x[0], x[1]]) as usize)
        .ok_or_else(|| bad(format!("short read at {at}")))
}

fn be32(b: &[u8], at: usize) -> Result<u32, String> {
    b.get(at..at + 4)
        .map(|x| u32::from_be_bytes([x[0], x[1], x[2], x[3]]))
        .ok_or_else(|| bad(format!("short read at {at}")))
}

/// SQLite's varint: 1–9 bytes, big-endian, 7 bits per byte, the ninth byte whole.
fn varint(b: &[u8], at: usize) -> Result<(u64, usize), String> {
    let mut v: u64 = 0;
    for i in 0..9 {
        let byte = *b
            .get(at + i)
            .ok_or_else(|| bad("a varint runs off the page"))?;
        if i == 8 {
            return Ok(((v << 8) | u64::from(byte), 9));
        }
        v = (v << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            return Ok((v, i + 1));
        }
    }
    unreachable!("the loop returns by its ninth byte")
}

impl Db {
    /// Reads `path` and its `-wal` (if any).
    ///
    /// # Errors
    /// The file cannot be read, or is not an SQLite 3 database in UTF-8.
    pub fn open(path: &Path) -> Result<Db, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if bytes.len() < 100 || &bytes[..16] != b"SQLite format 3\0" {
            return Err(bad("no SQLite header"));
        }
        let page_size = match be16(&bytes, 16)? {
            1 => 65536,
            n if n >= 512 && n.is_power_of_two() => n,
            n => return Err(bad(format!("page size {n}"))),
        };
        let usable = page_size - usize::from(bytes[20]);
        if be32(&bytes, 56)? > 1 {
            return Err(bad("the text encoding is UTF-16"));
        }
        let mut wal_path = path.as_os_str().to_owned();
        wal_path.push("-wal");
        let wal = match std::fs::read(&wal_path) {
            Ok(w) => read_wal(&w, page_size),
            Err(_) => HashMap::new(),
        };
        let mut db = Db {
            bytes,
            page_size,
            usable,
            wal,
            tables: HashMap::new(),
        };
        for row in db.scan_root(1)? {
            let (Some(Val::Text(kind)), Some(Val::Text(name)), Some(Val::Int(root)), Some(sql)) =
                (row.first(), row.get(1), row.get(3), row.get(4))
            else {
                continue;
            };
            if kind == "table" {
                let cols = columns(sql.text().unwrap_or_default());
                db.tables.insert(name.clone(), (*root as u32, cols));
            }
        }
        Ok(db)
    }

    fn page(&self, n: u32) -> Result<&[u8], String> {
        if let Some(p) = self.wal.get(&n) {
            return Ok(p);
        }
        let start = (n as usize).checked_sub(1).ok_or_else(|| bad("page 0"))? * self.page_size;
        self.bytes
            .get(start..start + self.page_size)
            .ok_or_else(|| bad(format!("page {n} is past the end of the file")))
    }

    /// Every row of `table` as column name → value; `None` when there is no such table.
    ///
    /// # Errors
    /// A damaged b-tree, record or overflow chain.
    pub fn rows(&self, table: &str) -> Result<Option<Vec<HashMap<String, Val>>>, String> {
        let Some((root, cols)) = self.tables.get(table) else {
            return Ok(None);
        };
        let rows = self.scan_root(*root)?;
        Ok(Some(
            rows.into_iter()
                .map(|r| cols.iter().cloned().zip(r).collect())
                .collect(),
        ))
    }

    /// The records of the table b-tree rooted at `root`, in rowid order.
    fn scan_root(&self, root: u32) -> Result<Vec<Vec<Val>>, String> {
        let mut out = Vec::new();
        let mut stack = vec![root];
        let mut seen = 0usize;
        while let Some(n) = stack.pop() {
            seen += 1;
            if seen > self.bytes.len() / self.page_size + self.wal.len() + 1 {
                return Err(bad("a b-tree loops"));
            }
            let page = self.page(n)?;
            let h = if n == 1 { 100 } else { 0 };
            let kind = *page.get(h).ok_or_else(|| bad("empty page"))?;
            let cells = be16(page, h + 3)?;
            match kind {
                0x0d => {
                    for i in 0..cells {
                        let at = be16(page, h + 8 + 2 * i)?;
                        out.push(self.leaf_cell(page, at)?);
                    }
                }
                0x05 => {
                    // Children left to right: push in reverse so the leftmost pops first.
                    stack.push(be32(page, h + 8)?);
                    for i in (0..cells).rev() {
                        let at = be16(page, h + 12 + 2 * i)?;
                        stack.push(be32(page, at)?);
                    }
                }
                k => return Err(bad(format!("page {n} has type {k:#04x}, not a table page"))),
            }
        }
        Ok(out)
    }

    /// A table leaf cell: payload length, rowid, the local payload, then the overflow chain.
    fn leaf_cell(&self, page: &[u8], at: usize) -> Result<Vec<Val>, String> {
        let (len, a) = varint(page, at)?;
        let (_rowid, b) = varint(page, at + a)?;
        let len = len as usize;
        let start = at + a + b;
        let u = self.usable;
        let x = u - 35;
        let local = if len <= x {
            len
        } else {
            let m = ((u - 12) * 32 / 255) - 23;
            let k = m + ((len - m) % (u - 4));
            if k <= x { k } else { m }
        };
        let mut payload = page
            .get(start..start + local)
            .ok_or_else(|| bad("a cell runs off its page"))?
            .to_vec();
        if local < len {
            let mut next = be32(page, start + local)?;
            let mut hops = 0;
            while payload.len() < len {
                hops += 1;
                if next == 0 || hops > len / (u - 4) + 2 {
                    return Err(bad("an overflow chain ends early"));
                }
                let p = self.page(next)?;
                let take = (len - payload.len()).min(u - 4);
                payload.extend_from_slice(&p[4..4 + take]);
                next = be32(p, 0)?;
            }
        }
        record(&payload)
    }
}

/// A record: a header of serial types, then the values.
fn record(p: &[u8]) -> Result<Vec<Val>, String> {
    let (hlen, mut at) = varint(p, 0)?;
    let mut types = Vec::new();
    while at < hlen as usize {
        let (t, n) = varint(p, at)?;
        types.push(t);
        at += n;
    }
    let mut body = hlen as usize;
    let mut out = Vec::with_capacity(types.len());
    for t in types {
        let take = |n: usize, body: &mut usize| -> Result<&[u8], String> {
            let s = p
                .get(*body..*body + n)
                .ok_or_else(|| bad("a record is cut short"))?;
            *body += n;
            Ok(s)
        };
        let int = |b: &[u8]| {
            let mut v: i64 = if b[0] & 0x80 != 0 { -1 } else { 0 };
            for x in b {
                v = (v << 8) | i64::from(*x);
            }
            v
        };
        out.push(match t {
            0 => Val::Null,
            1..=4 => Val::Int(int(take(t as usize, &mut body)?)),
            5 => Val::Int(int(take(6, &mut body)?)),
            6 => Val::Int(int(take(8, &mut body)?)),
            7 => {
                let b = take(8, &mut body)?;
                Val::Real(f64::from_be_bytes(b.try_into().expect("8 bytes")))
            }
            8 => Val::Int(0),
            9 => Val::Int(1),
            t if t >= 12 && t % 2 == 0 => {
                Val::Blob(take((t as usize - 12) / 2, &mut body)?.to_vec())
            }
            t if t >= 13 => Val::Text(
                String::from_utf8_lossy(take((t as usize - 13) / 2, &mut body)?).into_owned(),
            ),
            t => return Err(bad(format!("serial type {t}"))),
        });
    }
    Ok(out)
}

/// The committed frames of a write-ahead log, newest copy of each page.
fn read_wal(w: &[u8], page_size: usize) -> HashMap<u32, Vec<u8>> {
    let mut pages = HashMap::new();
    if w.len() < 32 {
        return pages;
    }
    let (Ok(magic), Ok(size)) = (be32(w, 0), be32(w, 8)) else {
        return pages;
    };
    if magic & !1 != 0x377f_0682 || size as usize != page_size {
        return pages;
    }
    let big = magic & 1 == 1;
    let (salt1, salt2) = (&w[16..20], &w[20..24]);
    let mut sum = checksum(big, (0, 0), &w[..24]);
    if (be32(w, 24).ok(), be32(w, 28).ok()) != (Some(sum.0), Some(sum.1)) {
        return pages;
    }
    let mut pending: Vec<(u32, &[u8])> = Vec::new();
    let mut at = 32;
    while at + 24 + page_size <= w.len() {
        let h = &w[at..at + 24];
        let data = &w[at + 24..at + 24 + page_size];
        if &h[8..12] != salt1 || &h[12..16] != salt2 {
            break;
        }
        sum = checksum(big, sum, &h[..8]);
        sum = checksum(big, sum, data);
        if (be32(h, 16).ok(), be32(h, 20).ok()) != (Some(sum.0), Some(sum.1)) {
            break;
        }
        pending.push((be32(h, 0).unwrap_or(0), data));
        if be32(h, 4).unwrap_or(0) != 0 {
            for (n, d) in pending.drain(..) {
                pages.insert(n, d.to_vec());
            }
        }
        at += 24 + page_size;
    }
    pages
}

/// The WAL's cumulative checksum over 32-bit words (big- or little-endian per the magic).
fn checksum(big: bool, (mut s0, mut s1): (u32, u32), data: &[u8]) -> (u32, u32) {
    for pair in data.chunks_exact(8) {
        let w = |b: &[u8]| {
            let a = [b[0], b[1], b[2], b[3]];
            if big {
                u32::from_be_bytes(a)
            } else {
                u32::from_le_bytes(a)
            }
        };
        s0 = s0.wrapping_add(w(&pair[..4])).wrapping_add(s1);
        s1 = s1.wrapping_add(w(&pair[4..])).wrapping_add(s0);
    }
    (s0, s1)
}

/// Column names from a `CREATE TABLE` statement, in order (table constraints skipped).
fn columns(sql: &str) -> Vec<String> {
    let (Some(open), Some(close)) = (sql.find('('), sql.rfind(')')) else {
        return Vec::new();
    };
    let body = &sql[open + 1..close];
    let mut parts = Vec::new();
    let (mut depth, mut start, mut quote) = (0i32, 0usize, None::<char>);
    for (i, c) in body.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '[') => quote = Some(']'),
            (None, '(') => depth += 1,
            (None, ')') => depth -= 1,
            (None, ',') if depth == 0 => {
                parts.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&body[start..]);
    parts
        .iter()
        .filter_map(|p| {
            let p = p.trim();
            let close = match p.chars().next()? {
                '"' => Some('"'),
                '`' => Some('`'),
                '[' => Some(']'),
                _ => None,
            };
            if let Some(q) = close {
                return p[1..].split(q).next().map(str::to_string);
            }
            let word = p.split_whitespace().next()?;
            let constraint = ["PRIMARY", "UNIQUE", "CHECK", "FOREIGN", "CONSTRAINT"]
                .iter()
                .any(|k| word.eq_ignore_ascii_case(k));
            (!constraint).then(|| word.to_string())
        })
        .collect()
}

#[cfg(test)]
#[path = "tests/sqlite.rs"]
mod tests;
