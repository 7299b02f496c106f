//! The JSONL evidence log: one JSON object per line, appended, rotated by
//! size, with a documented durability policy.
//!
//! - **Whole lines only.** Lines are gathered in a buffer of whole lines
//!   and go to the file in one `write` on an `O_APPEND` descriptor when the
//!   buffer reaches 64 KiB, when the caller says a batch of events is done
//!   ([`EvidenceLog::flush`]; `witness run` does after every drain of the
//!   rings, at least five times a second), and before a sync, a rotation or
//!   close. One `write` per line cost more than building the line. A crash can still cut the last line (the kernel
//!   does not make a write atomic against power loss), so opening a log
//!   first trims anything after its last newline: readers never see a
//!   partial line, and the trim is reported.
//! - **Rotation** when the file would exceed `max_bytes`: `log` becomes
//!   `log.1`, `log.1` becomes `log.2`, ... and the oldest beyond `keep` is
//!   deleted; the full file is synced before it is renamed.
//! - **At least once.** A failed write (a full disk, an I/O error) keeps
//!   the lines that did not reach the file, from the first byte not
//!   written, and the next flush tries again: nothing is dropped because
//!   the disk was full for a while. While writes fail, at most
//!   [`Policy::retain_bytes`] wait in memory; lines beyond that are lost,
//!   counted, and summarized by [`EvidenceLog::take_loss`] (how many, their
//!   first and last event times, why), which the caller writes as an
//!   `evidence_lost` line as soon as the log takes lines again.
//! - **fsync policy**: the file is synced every `sync_every` lines (0: no
//!   count), on rotation and on close; `sync_every = 1` makes every line
//!   durable before `append` returns. `witness run` also syncs lines that
//!   have waited a second ([`EvidenceLog::sync_if_older`]), so with the
//!   default (0) a crash of the host loses at most the last second of
//!   evidence, at the cost of one `fdatasync` per second instead of one per
//!   line.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::evidence::chain::{self, Head, Signer};

/// Why the evidence log failed.
#[derive(Debug, Error)]
#[error("evidence log {path}: {what}: {error}")]
pub struct EvidenceError {
    /// The file.
    pub path: PathBuf,
    /// What was being done.
    pub what: &'static str,
    /// The OS error.
    pub error: io::Error,
}

/// How a log file is opened: appending, created readable by its owner
/// only (it holds workloads' paths and arguments).
fn options() -> OpenOptions {
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = OpenOptions::new();
    o.create(true).read(true).append(true).mode(0o600);
    o
}

/// Buffered bytes that make [`EvidenceLog::append`] write them out.
const FLUSH_AT: usize = 64 << 10;

/// Settings of an evidence log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Rotate before the file would grow past this many bytes.
    pub max_bytes: u64,
    /// Rotated files kept (`log.1` .. `log.keep`).
    pub keep: u32,
    /// Sync after this many lines (1: every line).
    pub sync_every: u32,
    /// Most bytes of lines kept in memory while writes fail.
    pub retain_bytes: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Self { max_bytes: 64 << 20, keep: 4, sync_every: 0, retain_bytes: 16 << 20 }
    }
}

/// Lines that never reached the log (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loss {
    /// How many.
    pub lines: u64,
    /// The earliest event time among them, Unix nanoseconds.
    pub first_time_unix_ns: i128,
    /// The latest.
    pub last_time_unix_ns: i128,
    /// The last error that made writes fail.
    pub error: String,
}

/// An open evidence log.
#[derive(Debug)]
pub struct EvidenceLog {
    path: PathBuf,
    file: File,
    /// Bytes in the file plus bytes buffered.
    size: u64,
    buf: Vec<u8>,
    /// Lines dropped since the last [`EvidenceLog::take_loss`].
    loss: Option<Loss>,
    /// The last write failed (and what it said).
    failing: Option<String>,
    unsynced: u32,
    oldest_unsynced: Option<Instant>,
    policy: Policy,
    /// The chain's last line.
    head: Head,
    /// The checkpoint line just appended.
    sealed: Option<Vec<u8>>,
    /// Bytes trimmed from a cut last line when the log was opened.
    pub trimmed: u64,
}

impl EvidenceLog {
    /// Opens (or creates) the log at `path`, trimming a cut last line.
    pub fn open(path: &Path, policy: Policy) -> Result<Self, EvidenceError> {
        let err = |what| move |error| EvidenceError { path: path.into(), what, error };
        let mut file = options().open(path).map_err(err("opening"))?;
        let trimmed = trim_partial_line(&mut file).map_err(err("repairing a cut last line"))?;
        let size = file.metadata().map_err(err("reading its size"))?.len();
        let head = chain_head(&mut file, path).map_err(err("reading its last line"))?;
        Ok(Self {
            path: path.into(),
            file,
            size,
            buf: Vec::with_capacity(FLUSH_AT * 2),
            loss: None,
            failing: None,
            unsynced: 0,
            oldest_unsynced: None,
            policy,
            head,
            sealed: None,
            trimmed,
        })
    }

    /// Appends one JSON object as a line, linked into the chain;
    /// `time_unix_ns` is its event's time, for the loss record should the
    /// line be lost.
    pub fn append<T: serde::Serialize + ?Sized>(&mut self, value: &T, time_unix_ns: i128) -> Result<(), EvidenceError> {
        self.append_line(value, time_unix_ns, None, false)
    }

    /// Appends a checkpoint line (a JSON object), signed by `signer` if
    /// there is one (see [`crate::evidence::chain`]); returns the line as
    /// written (None if it was lost), for copies off the host.
    pub fn checkpoint<T: serde::Serialize + ?Sized>(
        &mut self,
        value: &T,
        time_unix_ns: i128,
        signer: Option<&Signer>,
    ) -> Result<Option<Vec<u8>>, EvidenceError> {
        self.append_line(value, time_unix_ns, signer, true)?;
        Ok(self.sealed.take())
    }

    /// The last line given to the log: its chain position and hash.
    pub fn head(&self) -> Head {
        self.head
    }

    fn append_line<T: serde::Serialize + ?Sized>(
        &mut self,
        value: &T,
        time_unix_ns: i128,
        signer: Option<&Signer>,
        keep: bool,
    ) -> Result<(), EvidenceError> {
        if let Some(error) = &self.failing {
            if self.buf.len() >= self.policy.retain_bytes {
                let error = error.clone();
                self.lose(1, time_unix_ns, time_unix_ns, error);
                return Ok(());
            }
        }
        let start = self.buf.len();
        self.head.write_link(&mut self.buf);
        let at = self.buf.len();
        let encoded = serde_json::to_writer(&mut self.buf, value).map_err(|e| e.to_string()).and_then(|()| {
            if chain::join(&mut self.buf, at) {
                Ok(())
            } else {
                Err("not a JSON object".into())
            }
        });
        if let Err(e) = encoded {
            self.buf.truncate(start);
            self.lose(1, time_unix_ns, time_unix_ns, format!("encoding a line: {e}"));
            return Err(self.err("encoding a line", io::Error::other(e)));
        }
        if let Some(signer) = signer {
            signer.seal(&mut self.buf, start);
        }
        // The rest of the line begins after the comma that joined it.
        self.head.advance(&self.buf[at + 1..]);
        if keep {
            self.sealed = Some(self.buf[start..].to_vec());
        }
        self.buf.push(b'\n');
        let len = (self.buf.len() - start) as u64;
        if self.size > 0 && self.size + len > self.policy.max_bytes {
            // The line would overflow the file: the lines before it go to
            // the full file (rotate flushes), the line to the new one.
            // If the full file cannot be written out, the line waits
            // behind its lines for the next try.
            let line = self.buf.split_off(start);
            let rotated = self.rotate();
            self.buf.extend_from_slice(&line);
            if let Err(e) = rotated {
                self.size += len;
                return Err(e);
            }
        }
        self.size += len;
        self.unsynced += 1;
        self.oldest_unsynced.get_or_insert_with(Instant::now);
        // While writes fail, only the caller's flushes retry (not a
        // failing write per line).
        if self.failing.is_some() {
            Ok(())
        } else if self.policy.sync_every > 0 && self.unsynced >= self.policy.sync_every {
            self.sync()
        } else if self.buf.len() >= FLUSH_AT {
            self.flush()
        } else {
            Ok(())
        }
    }

    /// Writes the buffered lines to the file. On error, what was not
    /// written stays buffered for the next flush (see the module docs).
    pub fn flush(&mut self) -> Result<(), EvidenceError> {
        let mut written = 0;
        let result = loop {
            if written == self.buf.len() {
                break Ok(());
            }
            match self.file.write(&self.buf[written..]) {
                Ok(0) => break Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.buf.drain(..written);
        match result {
            Ok(()) => {
                self.failing = None;
                Ok(())
            }
            Err(e) => {
                self.failing = Some(e.to_string());
                let kept = self.buf.iter().filter(|&&b| b == b'\n').count();
                Err(self.err("writing", io::Error::new(e.kind(), format!("{e} ({kept} lines kept to retry)"))))
            }
        }
    }

    /// Counts lines that will never be written.
    fn lose(&mut self, lines: u64, first: i128, last: i128, error: String) {
        let loss = self.loss.get_or_insert(Loss {
            lines: 0,
            first_time_unix_ns: first,
            last_time_unix_ns: last,
            error: String::new(),
        });
        loss.lines += lines;
        loss.first_time_unix_ns = loss.first_time_unix_ns.min(first);
        loss.last_time_unix_ns = loss.last_time_unix_ns.max(last);
        loss.error = error;
    }

    /// Lines given to `append` that will never be written (since the last
    /// call): the caller records them as an `evidence_lost` line.
    pub fn take_loss(&mut self) -> Option<Loss> {
        self.loss.take()
    }

    /// Writes to `file` from now on (tests: a failing device); returns the
    /// file written so far.
    #[cfg(test)]
    pub(crate) fn replace_file(&mut self, file: File) -> File {
        std::mem::replace(&mut self.file, file)
    }

    /// Whether the last write failed.
    pub fn is_failing(&self) -> bool {
        self.failing.is_some()
    }

    /// Makes every appended line durable.
    pub fn sync(&mut self) -> Result<(), EvidenceError> {
        self.flush()?;
        if self.unsynced == 0 {
            return Ok(());
        }
        self.file.sync_data().map_err(|e| self.err("syncing", e))?;
        self.unsynced = 0;
        self.oldest_unsynced = None;
        Ok(())
    }

    /// Lines written but not yet synced.
    pub fn pending(&self) -> u32 {
        self.unsynced
    }

    /// Syncs if the oldest line not yet durable was written at least `age`
    /// ago.
    pub fn sync_if_older(&mut self, age: Duration) -> Result<(), EvidenceError> {
        match self.oldest_unsynced {
            Some(t) if t.elapsed() >= age => self.sync(),
            _ => Ok(()),
        }
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    fn rotate(&mut self) -> Result<(), EvidenceError> {
        self.sync()?;
        if self.policy.keep == 0 {
            fs::remove_file(&self.path).map_err(|e| self.err("removing the full log", e))?;
        } else {
            let _ = fs::remove_file(self.rotated(self.policy.keep));
            for n in (1..self.policy.keep).rev() {
                let from = self.rotated(n);
                if from.exists() {
                    fs::rename(&from, self.rotated(n + 1)).map_err(|e| self.err("rotating", e))?;
                }
            }
            fs::rename(&self.path, self.rotated(1)).map_err(|e| self.err("rotating", e))?;
        }
        self.file = options().open(&self.path).map_err(|e| self.err("reopening after rotation", e))?;
        self.size = 0;
        Ok(())
    }

    fn err(&self, what: &'static str, error: io::Error) -> EvidenceError {
        EvidenceError { path: self.path.clone(), what, error }
    }
}

impl Drop for EvidenceLog {
    fn drop(&mut self) {
        let _ = self.sync();
    }
}

/// Where the chain stands in a log just opened: after its last line, or,
/// if it is empty, after the last line of the newest rotated file (the
/// chain goes on across rotations). A new chain (position 0) if neither
/// has a chained line.
fn chain_head(file: &mut File, path: &Path) -> io::Result<Head> {
    let mut line = last_line(file)?;
    if line.is_none() {
        let mut name = path.as_os_str().to_owned();
        name.push(".1");
        match File::open(PathBuf::from(name)) {
            Ok(mut older) => line = last_line(&mut older)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    #[derive(serde::Deserialize)]
    struct Chained {
        chain: Link,
    }
    #[derive(serde::Deserialize)]
    struct Link {
        n: u64,
    }
    Ok(match line.and_then(|l| Some((serde_json::from_slice::<Chained>(&l).ok()?.chain.n, l))) {
        Some((n, line)) => Head { n, hash: Some(chain::hash(&line)) },
        None => Head::default(),
    })
}

/// The offset of the last newline before `end` in `file`, scanning
/// backwards in blocks.
fn last_newline_before(file: &mut File, mut end: u64) -> io::Result<Option<u64>> {
    let mut buf = vec![0u8; 4096];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        // CAST: at most the buffer length.
        let n = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf[..n])?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b == b'\n') {
            return Ok(Some(start + i as u64));
        }
        end = start;
    }
    Ok(None)
}

/// The last line of a file that ends with a newline (or is empty),
/// without its newline.
fn last_line(file: &mut File) -> io::Result<Option<Vec<u8>>> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(None);
    }
    let start = last_newline_before(file, len - 1)?.map_or(0, |nl| nl + 1);
    // CAST: one line of a log this process can hold.
    let mut line = vec![0u8; (len - 1 - start) as usize];
    file.seek(SeekFrom::Start(start))?;
    file.read_exact(&mut line)?;
    Ok(Some(line))
}

/// Truncates the file after its last newline; returns the bytes removed.
fn trim_partial_line(file: &mut File) -> io::Result<u64> {
    let len = file.metadata()?.len();
    let keep = last_newline_before(file, len)?.map_or(0, |nl| nl + 1);
    if keep < len {
        file.set_len(keep)?;
    }
    Ok(len - keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("witness-evidence-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir.join("evidence.jsonl")
    }

    #[test]
    fn appends_whole_lines_and_repairs_a_cut_one() {
        let path = temp("repair");
        let mut log = EvidenceLog::open(&path, Policy { sync_every: 1, ..Policy::default() }).unwrap();
        log.append(&json!({"n": 1}), 0).unwrap();
        log.append(&json!({"n": 2}), 0).unwrap();
        drop(log);
        // A crash cut the next line half-way.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"n\": 3, \"cut").unwrap();
        drop(f);
        let mut log = EvidenceLog::open(&path, Policy::default()).unwrap();
        assert_eq!(log.trimmed, 13);
        log.append(&json!({"n": 4}), 0).unwrap();
        drop(log);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(bodies(&text), [json!({"n": 1}), json!({"n": 2}), json!({"n": 4})]);
    }

    /// The lines' own objects, after checking that they form one chain
    /// from position 1.
    fn bodies(text: &str) -> Vec<serde_json::Value> {
        let mut prev: Option<String> = None;
        text.lines()
            .enumerate()
            .map(|(i, line)| {
                let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
                let link = v.as_object_mut().unwrap().shift_remove("chain").expect("every line is chained");
                assert_eq!(link["n"], i as u64 + 1, "{line}");
                assert_eq!(link["prev"].as_str(), prev.as_deref(), "{line}");
                prev = Some(format!("sha256:{}", crate::text::hex(&chain::hash(line.as_bytes()))));
                v
            })
            .collect()
    }

    /// A log opened again goes on with the chain, also when the live file
    /// is empty after a rotation; a log without chained lines starts one.
    #[test]
    fn the_chain_goes_on_across_restarts_and_rotations() {
        let path = temp("chain");
        let policy = Policy::default();
        let mut log = EvidenceLog::open(&path, policy).unwrap();
        for n in 0..5 {
            log.append(&json!({"n": n}), 0).unwrap();
        }
        let head = log.head();
        assert_eq!(head.n, 5);
        drop(log);
        // As a rotation leaves it: the lines in .1, the live file empty.
        let rotated = PathBuf::from(format!("{}.1", path.display()));
        fs::write(&rotated, fs::read(&path).unwrap()).unwrap();
        fs::write(&path, b"").unwrap();
        assert_eq!(EvidenceLog::open(&path, policy).unwrap().head(), head);
        let mut log = EvidenceLog::open(&path, policy).unwrap();
        log.append(&json!({"n": 5}), 0).unwrap();
        drop(log);
        let text = fs::read_to_string(&rotated).unwrap() + &fs::read_to_string(&path).unwrap();
        assert_eq!(bodies(&text).len(), 6);
        // An unchained log (from before chaining) starts a new chain.
        fs::write(&path, b"{\"old\":1}\n").unwrap();
        assert_eq!(EvidenceLog::open(&path, policy).unwrap().head(), Head::default());
    }

    #[test]
    fn sync_policy_counts_lines_and_age() {
        let path = temp("sync");
        let mut log = EvidenceLog::open(&path, Policy { sync_every: 3, ..Policy::default() }).unwrap();
        log.append(&json!({"n": 1}), 0).unwrap();
        log.append(&json!({"n": 2}), 0).unwrap();
        assert_eq!(log.pending(), 2);
        log.append(&json!({"n": 3}), 0).unwrap();
        assert_eq!(log.pending(), 0, "every third line syncs");
        // 0: no count; lines wait for their age, rotation or close.
        let mut log = EvidenceLog::open(&path, Policy::default()).unwrap();
        for n in 0..100 {
            log.append(&json!({"n": n}), 0).unwrap();
        }
        assert_eq!(log.pending(), 100);
        log.sync_if_older(Duration::from_secs(3600)).unwrap();
        assert_eq!(log.pending(), 100, "not old enough");
        log.sync_if_older(Duration::ZERO).unwrap();
        assert_eq!(log.pending(), 0);
    }

    /// A full disk (here /dev/full, where every write fails with ENOSPC):
    /// the error names the log and says the lines are kept; beyond
    /// `retain_bytes` lines are lost, and the loss says how many, when and
    /// why.
    #[test]
    fn a_full_disk_keeps_lines_then_loses_them_countably() {
        let path = Path::new("/dev/full");
        if !path.exists() {
            return;
        }
        let mut log = EvidenceLog::open(path, Policy { retain_bytes: 250, ..Policy::default() }).unwrap();
        for n in 0..3 {
            log.append(&json!({"n": n}), 100 + n).unwrap();
        }
        let err = log.flush().unwrap_err().to_string();
        assert!(err.starts_with("evidence log /dev/full: writing: "), "{err}");
        assert!(err.contains("3 lines kept to retry"), "{err}");
        assert!(log.is_failing());
        assert_eq!(log.take_loss(), None, "nothing lost yet");
        // 222 bytes kept (36 for the first line, 93 for each chained
        // line after it); the next line goes in under 250, the ones after
        // it not.
        for n in 3..6 {
            log.append(&json!({"n": n}), 100 + n).unwrap();
        }
        let loss = log.take_loss().expect("lines beyond retain_bytes are lost");
        assert_eq!((loss.lines, loss.first_time_unix_ns, loss.last_time_unix_ns), (2, 104, 105));
        assert!(loss.error.contains("No space left"), "{}", loss.error);
        assert_eq!(log.take_loss(), None, "taken once");
    }

    /// At least once: lines whose write failed are written by the next
    /// flush that can (they used to be dropped with the failed write).
    #[test]
    fn lines_of_a_failed_write_are_written_later() {
        let path = temp("retry");
        let mut log = EvidenceLog::open(&path, Policy::default()).unwrap();
        log.append(&json!({"n": 0}), 0).unwrap();
        log.flush().unwrap();
        let file = std::mem::replace(&mut log.file, options().open("/dev/full").unwrap());
        for n in 1..4 {
            log.append(&json!({"n": n}), 0).unwrap();
        }
        assert!(log.flush().is_err());
        log.file = file;
        log.append(&json!({"n": 4}), 0).unwrap();
        log.flush().unwrap();
        assert!(!log.is_failing());
        assert_eq!(log.take_loss(), None);
        drop(log);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(bodies(&text), (0..5).map(|n| json!({"n": n})).collect::<Vec<_>>());
    }

    #[test]
    fn new_logs_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let path = temp("mode");
        let mut log =
            EvidenceLog::open(&path, Policy { max_bytes: 30, keep: 1, sync_every: 0, ..Policy::default() }).unwrap();
        for n in 0..3 {
            log.append(&json!({"n": n, "pad": "xxxxxxxx"}), 0).unwrap();
        }
        drop(log);
        for p in [path.clone(), PathBuf::from(format!("{}.1", path.display()))] {
            assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600, "{}", p.display());
        }
    }

    #[test]
    fn a_file_without_any_newline_is_emptied() {
        let path = temp("no-newline");
        fs::write(&path, b"garbage without newline").unwrap();
        let log = EvidenceLog::open(&path, Policy::default()).unwrap();
        assert_eq!(log.trimmed, 23);
        assert_eq!(fs::metadata(&path).unwrap().len(), 0);
    }

    #[test]
    fn rotates_by_size_and_keeps_n() {
        let path = temp("rotate");
        let policy = Policy { max_bytes: 300, keep: 2, sync_every: 1000, ..Policy::default() };
        let mut log = EvidenceLog::open(&path, policy).unwrap();
        for n in 0..40 {
            log.append(&json!({"n": n, "pad": "xxxxxxxxxxxxxxxx"}), 0).unwrap();
        }
        drop(log);
        let size = |p: &Path| fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        assert!(size(&path) <= 300);
        let r1 = PathBuf::from(format!("{}.1", path.display()));
        let r2 = PathBuf::from(format!("{}.2", path.display()));
        let r3 = PathBuf::from(format!("{}.3", path.display()));
        assert!(size(&r1) > 0 && size(&r2) > 0 && !r3.exists());
        // The newest lines are in the live file, in order.
        let last: Vec<u64> = fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["n"].as_u64().unwrap())
            .collect();
        assert_eq!(*last.last().unwrap(), 39);
    }
}
