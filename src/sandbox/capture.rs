//! A command's stdout and stderr, each read on a thread of its own into a capped buffer:
//! the first half of the cap (head) and the last half (tail, a ring) are kept, the middle
//! is dropped and counted. Offsets are absolute byte positions in the stream, so a poller
//! ([`Cursor`]) can take what is new since its last look, with a marker where the ring
//! overtook it.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

/// How long [`super::run`] waits for the pipes to reach end of file after the group kill.
pub(crate) const DRAIN_WAIT: Duration = Duration::from_secs(1);

/// One output stream as text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Captured {
    /// The bytes as lossy UTF-8 (invalid sequences become U+FFFD). When bytes were
    /// dropped, a line `[… N bytes dropped …]` stands where they were.
    pub text: String,
    /// Bytes the stream has carried so far, dropped ones included.
    pub total_bytes: u64,
    /// Bytes left out of `text` (the middle beyond the cap, or what a slow poller missed).
    pub dropped_bytes: u64,
    /// The stream reached end of file (and, for [`super::Child::read_new`], everything has
    /// been returned).
    pub complete: bool,
}

/// Both streams.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Output {
    /// Standard output.
    pub stdout: Captured,
    /// Standard error.
    pub stderr: Captured,
}

/// Where a poller stands in both streams ([`super::Child::read_new`]); start with
/// `Cursor::default()`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    pub(crate) stdout: u64,
    pub(crate) stderr: u64,
}

/// A capped stream buffer shared by its reader thread and the [`super::Child`].
pub(crate) struct Stream {
    buf: Mutex<Buf>,
    eof: Condvar,
}

struct Buf {
    head: Vec<u8>,
    head_cap: usize,
    tail: VecDeque<u8>,
    tail_cap: usize,
    total: u64,
    eof: bool,
}

impl Stream {
    /// A stream keeping at most `max` bytes (`max / 2` head, the rest tail).
    pub(crate) fn new(max: usize) -> Arc<Self> {
        let head_cap = max / 2;
        Arc::new(Self {
            buf: Mutex::new(Buf {
                head: Vec::new(),
                head_cap,
                tail: VecDeque::new(),
                tail_cap: max - head_cap,
                total: 0,
                eof: false,
            }),
            eof: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Buf> {
        // A reader thread that panicked mid-push leaves consistent enough bytes behind.
        self.buf.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, mut data: &[u8]) {
        let mut b = self.lock();
        b.total += data.len() as u64;
        let room = b.head_cap - b.head.len();
        let n = room.min(data.len());
        b.head.extend_from_slice(&data[..n]);
        data = &data[n..];
        if data.is_empty() {
            return;
        }
        let cap = b.tail_cap;
        if data.len() >= cap {
            b.tail.clear();
            b.tail.extend(&data[data.len() - cap..]);
        } else {
            b.tail.extend(data);
            let excess = b.tail.len().saturating_sub(cap);
            b.tail.drain(..excess);
        }
    }

    fn finish(&self) {
        self.lock().eof = true;
        self.eof.notify_all();
    }

    /// Waits until end of file or `deadline`; true at end of file.
    pub(crate) fn wait_eof(&self, deadline: Instant) -> bool {
        let mut b = self.lock();
        while !b.eof {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return false;
            };
            b = self
                .eof
                .wait_timeout(b, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }

    /// Everything kept so far.
    pub(crate) fn snapshot(&self) -> Captured {
        let b = self.lock();
        let (head, tail) = (&b.head[..], b.tail.iter().copied().collect::<Vec<u8>>());
        let dropped = b.total - head.len() as u64 - tail.len() as u64;
        let (text, dropped) = join(head, dropped, &tail);
        Captured {
            text,
            total_bytes: b.total,
            dropped_bytes: dropped,
            complete: b.eof,
        }
    }

    /// What came after absolute offset `*pos`; moves `*pos` past what is returned. A
    /// character split at the end is held back until its last byte arrives.
    pub(crate) fn read_from(&self, pos: &mut u64) -> Captured {
        let b = self.lock();
        let head_len = b.head.len() as u64;
        let tail_start = b.total - b.tail.len() as u64;
        let p = (*pos).min(b.total);
        let head = if p < head_len {
            &b.head[p as usize..]
        } else {
            &[][..]
        };
        let dropped = tail_start.saturating_sub(p.max(head_len));
        let skip = (p.max(tail_start) - tail_start) as usize;
        let tail: Vec<u8> = b.tail.iter().skip(skip).copied().collect();
        let held = if b.eof {
            0
        } else if tail.is_empty() && dropped == 0 {
            incomplete_suffix(head)
        } else {
            incomplete_suffix(&tail)
        };
        let (head, tail) = if tail.is_empty() && dropped == 0 {
            (&head[..head.len() - held], &tail[..])
        } else {
            (head, &tail[..tail.len() - held])
        };
        let (text, dropped) = join(head, dropped, tail);
        *pos = b.total - held as u64;
        Captured {
            text,
            total_bytes: b.total,
            dropped_bytes: dropped,
            complete: b.eof && held == 0,
        }
    }
}

/// `head`, a drop marker when `dropped > 0`, `tail`, as lossy UTF-8. Around a drop the
/// bytes of characters cut in two are dropped too (and counted).
fn join(head: &[u8], dropped: u64, tail: &[u8]) -> (String, u64) {
    if dropped == 0 {
        let mut all = head.to_vec();
        all.extend_from_slice(tail);
        return (String::from_utf8_lossy(&all).into_owned(), 0);
    }
    let cut_head = incomplete_suffix(head);
    let cut_tail = tail
        .iter()
        .take(3)
        .take_while(|c| **c & 0xC0 == 0x80)
        .count();
    let dropped = dropped + (cut_head + cut_tail) as u64;
    let head = String::from_utf8_lossy(&head[..head.len() - cut_head]);
    let tail = String::from_utf8_lossy(&tail[cut_tail..]);
    let nl = if head.is_empty() || head.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    (
        format!("{head}{nl}[… {dropped} bytes dropped …]\n{tail}"),
        dropped,
    )
}

/// Bytes at the end of `b` that start a UTF-8 sequence whose remaining bytes are missing.
fn incomplete_suffix(b: &[u8]) -> usize {
    for i in 1..=b.len().min(3) {
        let c = b[b.len() - i];
        if c & 0xC0 == 0x80 {
            continue;
        }
        let need = match c {
            0xF0.. => 4,
            0xE0.. => 3,
            0xC0.. => 2,
            _ => 1,
        };
        return if need > i { i } else { 0 };
    }
    0
}

/// Starts a thread copying `src` into `stream` until end of file or a read error.
///
/// # Errors
/// When the thread cannot be started.
pub(crate) fn spawn_reader(
    name: String,
    mut src: impl Read + Send + 'static,
    stream: Arc<Stream>,
) -> io::Result<()> {
    thread::Builder::new()
        .name(name)
        .stack_size(64 << 10)
        .spawn(move || {
            let mut chunk = [0u8; 8192];
            loop {
                match src.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => stream.push(&chunk[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            stream.finish();
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_output_is_kept_whole() {
        let s = Stream::new(100);
        s.push(b"hello ");
        s.push(b"world");
        s.finish();
        let c = s.snapshot();
        assert_eq!(
            (c.text.as_str(), c.total_bytes, c.dropped_bytes, c.complete),
            ("hello world", 11, 0, true)
        );
    }

    #[test]
    fn the_middle_is_dropped_and_counted() {
        let s = Stream::new(10);
        for i in 0..100u8 {
            s.push(&[b'a' + i % 26]);
        }
        let c = s.snapshot();
        assert_eq!(c.text, "abcde\n[… 90 bytes dropped …]\nrstuv");
        assert_eq!((c.total_bytes, c.dropped_bytes), (100, 90));
        // One big write lands the same way.
        let s = Stream::new(10);
        s.push(&(0..100u8).map(|i| b'a' + i % 26).collect::<Vec<_>>());
        assert_eq!(s.snapshot().text, c.text);
    }

    #[test]
    fn split_characters_around_a_drop_are_dropped_whole() {
        let s = Stream::new(8);
        s.push("abcé".as_bytes()); // é = 2 bytes: head keeps "abc" + é's first byte
        s.push(&[b'x'; 20]);
        s.push("ü!".as_bytes());
        let c = s.snapshot();
        assert!(c.text.starts_with("abc\n[… "), "{}", c.text);
        assert!(c.text.ends_with("]\nxü!"), "{}", c.text);
        assert!(!c.text.contains('\u{FFFD}'));
    }

    #[test]
    fn polling_returns_only_what_is_new() {
        let s = Stream::new(10);
        let mut pos = 0;
        s.push(b"abc");
        assert_eq!(s.read_from(&mut pos).text, "abc");
        assert_eq!(s.read_from(&mut pos).text, "");
        s.push(b"de");
        assert_eq!(s.read_from(&mut pos).text, "de");
        // Far more than the ring holds arrives between two polls.
        s.push(&[b'z'; 50]);
        let c = s.read_from(&mut pos);
        assert_eq!(c.text, "[… 45 bytes dropped …]\nzzzzz");
        assert_eq!(c.dropped_bytes, 45);
        s.push(b"12");
        assert_eq!(s.read_from(&mut pos).text, "12");
        s.finish();
        assert!(s.read_from(&mut pos).complete);
    }

    #[test]
    fn polling_holds_back_a_split_character() {
        let s = Stream::new(100);
        let mut pos = 0;
        let euro = "€".as_bytes();
        s.push(&[b'a', euro[0], euro[1]]);
        assert_eq!(s.read_from(&mut pos).text, "a");
        s.push(&euro[2..]);
        assert_eq!(s.read_from(&mut pos).text, "€");
        assert_eq!(incomplete_suffix("€".as_bytes()), 0);
        assert_eq!(incomplete_suffix(b"abc"), 0);
    }
}
