//! Reading evidence logs back: the files of a log (the live file and its
//! rotated ones, given in any order) put in chain order and walked line
//! by line, for the commands that answer questions from them
//! (completeness, drift, possession, bundles).

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::Value;
use thiserror::Error;

/// Why a log could not be read.
#[derive(Debug, Error)]
pub enum ReadError {
    /// A file could not be opened or read.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: io::Error,
    },
    /// A line is not an evidence line.
    #[error("{}:{line}: {what}", path.display())]
    Bad {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        what: String,
    },
}

/// What a report over a log is asked: a window and, optionally, one
/// identity.
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// The window's start, Unix nanoseconds (None: the log's beginning).
    pub from: Option<i128>,
    /// Its end (None: the log's end).
    pub to: Option<i128>,
    /// Only this SPIFFE ID (None: every identity).
    pub identity: Option<String>,
}

/// Unix nanoseconds as RFC 3339 UTC to the millisecond, as the reports
/// print times (`N ns` for a time out of range).
pub fn rfc3339(t: i128) -> String {
    jiff::Timestamp::from_nanosecond(t).map_or_else(|_| format!("{t} ns"), |t| format!("{t:.3}"))
}

/// One line of a log.
#[derive(Debug)]
pub struct Entry<'a> {
    /// The file it is in.
    pub path: &'a Path,
    /// Its 1-based line in that file.
    pub line: usize,
    /// Its place in the chain (0 for a line without one).
    pub n: u64,
    /// Its time, Unix nanoseconds.
    pub time_unix_ns: i128,
    /// The line's bytes, without the newline.
    pub raw: &'a [u8],
    /// The line.
    pub value: Value,
}

impl Entry<'_> {
    /// `"record"`: event, stream or checkpoint.
    pub fn record(&self) -> &str {
        self.value["record"].as_str().unwrap_or("")
    }

    /// `"stream"` of a stream record.
    pub fn stream(&self) -> &str {
        self.value["stream"].as_str().unwrap_or("")
    }

    /// The SPIFFE ID of an event's workload (None: unattested).
    pub fn spiffe_id(&self) -> Option<&str> {
        self.value["identity"]["spiffe_id"].as_str()
    }

    /// A Unix time in nanoseconds held as a decimal string in `field`.
    pub fn time_field(&self, field: &str) -> Option<i128> {
        self.value[field].as_str()?.parse().ok()
    }
}

/// Orders `paths` by the chain position of their first line (rotated
/// files first), files without a chained first line last in the order
/// given.
pub fn chain_order(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ReadError> {
    let mut keyed = Vec::with_capacity(paths.len());
    for (i, path) in paths.iter().enumerate() {
        let file = File::open(path).map_err(|error| ReadError::Io { path: path.clone(), error })?;
        let mut first = Vec::new();
        BufReader::new(file)
            .read_until(b'\n', &mut first)
            .map_err(|error| ReadError::Io { path: path.clone(), error })?;
        let n = serde_json::from_slice::<Value>(first.trim_ascii_end()).ok().and_then(|v| v["chain"]["n"].as_u64());
        keyed.push((n.unwrap_or(u64::MAX), i, path.clone()));
    }
    keyed.sort();
    Ok(keyed.into_iter().map(|(_, _, p)| p).collect())
}

/// Calls `each` with every line of `paths` in chain order. A line that is
/// not a JSON object with a time stops the walk with an error naming it
/// (`witness evidence verify` says more about a damaged log).
pub fn for_each(paths: &[PathBuf], mut each: impl FnMut(Entry<'_>)) -> Result<(), ReadError> {
    for path in chain_order(paths)? {
        let file = File::open(&path).map_err(|error| ReadError::Io { path: path.clone(), error })?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut buf = Vec::new();
        let mut line = 0;
        loop {
            buf.clear();
            let n = reader.read_until(b'\n', &mut buf).map_err(|error| ReadError::Io { path: path.clone(), error })?;
            if n == 0 {
                break;
            }
            line += 1;
            let raw = buf.strip_suffix(b"\n").unwrap_or(&buf);
            let bad = |what: String| ReadError::Bad { path: path.clone(), line, what };
            let value: Value = serde_json::from_slice(raw).map_err(|e| bad(format!("not JSON ({e})")))?;
            if value.get("redacted").is_some() {
                // A bundle's stub for a line it does not disclose.
                continue;
            }
            let time_unix_ns = value["time_unix_ns"]
                .as_str()
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| bad("no time_unix_ns: not an evidence line".into()))?;
            let n = value["chain"]["n"].as_u64().unwrap_or(0);
            each(Entry { path: &path, line, n, time_unix_ns, raw, value });
        }
    }
    Ok(())
}
