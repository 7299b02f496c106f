//! Checks an evidence log (the live file and its rotations) against its
//! hash chain and its signed checkpoints ([`super::chain`]): what
//! `witness evidence verify [--pubkey KEY] FILE...` reports.
//!
//! The files may be given in any order: they are put in chain order by the
//! position of their first chained line (empty files are skipped, and
//! listed), and their lines must then form one chain. With `expected` the
//! previous line's position + 1, each line is checked in this order, and
//! the first line that fails is the report's [`Problem`]:
//!
//! 1. it ends with a newline ([`ProblemKind::Cut`]), is a JSON object
//!    ([`ProblemKind::NotJson`]) with a valid `chain` member
//!    ([`ProblemKind::NoChain`]: `n` ≥ 1 and `prev` either
//!    `sha256:<64 lowercase hex>` or, on position 1 only, `null`);
//! 2. a signed checkpoint's signature verifies with the key it names
//!    ([`ProblemKind::BadSignature`]), and that key is the trusted one if
//!    one was given ([`ProblemKind::UntrustedKey`]);
//! 3. `n == expected` and `prev` is the hash of the previous line: the
//!    line is in place. Otherwise, in this order:
//!    - the same position was seen before with the same bytes:
//!      [`ProblemKind::Duplicate`] (a file given twice);
//!    - `prev` is `null`: [`ProblemKind::NewChain`] (the log was replaced);
//!    - `prev` is the previous line's hash but `n` is not `expected`: the
//!      position itself was edited ([`ProblemKind::Edited`]);
//!    - `n > expected`: [`ProblemKind::Reordered`] if position `expected`
//!      comes later, else [`ProblemKind::RotationMissing`] at the first
//!      line of a file, [`ProblemKind::Removed`] within one;
//!    - `n < expected`: [`ProblemKind::Reordered`];
//!    - `n == expected`, `prev` wrong: [`ProblemKind::Edited`]. An edit
//!      anywhere in line X changes its hash, which shows as X+1's `prev`;
//!      an edit of X's own `prev` also shows at X. So when A+1's `prev` is
//!      not A's hash, A+1 is blamed if its own hash is not the `prev` of
//!      A+2 (position A+2 following it) or A is a checkpoint whose
//!      signature verified, and A otherwise, unless A+1 is such a
//!      checkpoint.
//!
//! Only the first problem is reported: after it the checks stop, and the
//! report's checkpoint counts cover the lines before it.
//!
//! # Limits
//!
//! - Anyone who can write the file can also recompute the chain: the
//!   chain shows edits, removals and reorderings that were not covered up,
//!   and a signed checkpoint (whose `prev` covers every line before it)
//!   binds the lines up to it to a key. **The lines after the last signed
//!   checkpoint are covered by nothing**: an edit or a removal of those
//!   lines, and in particular of the last lines, cannot be told from the
//!   chain alone. [`Report::unsigned_lines`] says how many there are.
//! - Lines before the first one given (rotated files deleted) are not
//!   checked: the report says where the chain begins.
//! - Without a trusted key ([`Options::trusted`], `--pubkey`), signatures
//!   are checked against the key each checkpoint names: that proves only
//!   that the lines were not changed after they were signed by whoever
//!   holds that key, who may be whoever rewrote the log.
//!
//! Memory: the files' bytes and about a hundred bytes per line.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io;
use std::marker::PhantomData;
use std::path::PathBuf;

use ed25519_dalek::VerifyingKey;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use thiserror::Error;

use super::chain::{self, Hash};

/// How to verify.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The key checkpoints must be signed with (`--pubkey`); None: the key
    /// each checkpoint names.
    pub trusted: Option<VerifyingKey>,
}

/// A file that could not be read (what is wrong inside files is in the
/// [`Report`]).
#[derive(Debug, Error)]
#[error("{path}: {error}")]
pub struct VerifyError {
    /// The file.
    pub path: PathBuf,
    /// The OS error.
    pub error: io::Error,
}

/// What is wrong with a line (see the module docs for the rules).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// Not a JSON object.
    NotJson,
    /// An object without a valid `chain` member.
    NoChain,
    /// The file's last line has no newline: the file was cut.
    Cut,
    /// Chain positions `from..=to` are missing within a file.
    Removed {
        /// The first missing position.
        from: u64,
        /// The last.
        to: u64,
    },
    /// The line is not where its position says.
    Reordered,
    /// The line's bytes were changed.
    Edited,
    /// A new chain (`"prev": null`, position 1) after earlier lines.
    NewChain,
    /// Chain positions `from..=to` are missing between two files.
    RotationMissing {
        /// The first missing position.
        from: u64,
        /// The last.
        to: u64,
    },
    /// A signed checkpoint whose signature does not verify.
    BadSignature,
    /// A checkpoint signed by another key than the trusted one.
    UntrustedKey {
        /// The key it names.
        key: String,
    },
    /// A position seen before with the same bytes (a file given twice).
    Duplicate,
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotJson => "not JSON",
            Self::NoChain => "not chained",
            Self::Cut => "cut",
            Self::Removed { .. } => "removed",
            Self::Reordered => "reordered",
            Self::Edited => "edited",
            Self::NewChain => "new chain",
            Self::RotationMissing { .. } => "rotation missing",
            Self::BadSignature => "bad signature",
            Self::UntrustedKey { .. } => "untrusted key",
            Self::Duplicate => "duplicate",
        })
    }
}

/// The first bad line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file's name, as given.
    pub file: String,
    /// The line number in that file, from 1.
    pub line: u64,
    /// The line's chain position, if it has one.
    pub position: Option<u64>,
    /// What is wrong.
    pub kind: ProblemKind,
    /// What is wrong, in words.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}: {}", self.file, self.line, self.kind, self.message)
    }
}

/// One file of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSummary {
    /// Its name, as given.
    pub name: String,
    /// Its lines.
    pub lines: u64,
    /// The position of its first chained line.
    pub first_position: Option<u64>,
    /// Of its last.
    pub last_position: Option<u64>,
}

/// A key that signed checkpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyUse {
    /// Its name ([`chain::key_name`]).
    pub name: String,
    /// Whether it is [`Options::trusted`].
    pub trusted: bool,
    /// The checkpoints it signed.
    pub checkpoints: u64,
}

/// Where the last signed checkpoint is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// Its chain position.
    pub position: u64,
    /// Its `time`.
    pub time: Option<String>,
    /// Its file.
    pub file: String,
    /// Its line number there.
    pub line: u64,
}

/// What verifying found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The files in chain order, then files without chained lines, then
    /// empty files.
    pub files: Vec<FileSummary>,
    /// Lines in all files.
    pub lines: u64,
    /// The chain position of the first chained line.
    pub first_position: Option<u64>,
    /// Of the last.
    pub last_position: Option<u64>,
    /// The `time` of the first chained line.
    pub first_time: Option<String>,
    /// Of the last.
    pub last_time: Option<String>,
    /// Checkpoint lines (before the problem, if any).
    pub checkpoints: u64,
    /// Of them, signed ones whose signature verified.
    pub signed: u64,
    /// The keys that signed them, in order of first use.
    pub keys: Vec<KeyUse>,
    /// The last signed checkpoint.
    pub last_signed: Option<SignedCheckpoint>,
    /// Lines after the last signed checkpoint (all lines if none): not yet
    /// covered by a signature (before the problem, if any).
    pub unsigned_lines: u64,
    /// The name of the trusted key, if one was given.
    pub trusted: Option<String>,
    /// The first bad line.
    pub problem: Option<Problem>,
}

impl Report {
    /// Whether no problem was found.
    pub fn intact(&self) -> bool {
        self.problem.is_none()
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self
            .files
            .iter()
            .map(|s| if s.lines == 0 { format!("{} (empty)", s.name) } else { s.name.clone() })
            .collect();
        write!(f, "{}: {}", names.join(", "), plural(self.lines, "line", "lines"))?;
        if let (Some(a), Some(b)) = (self.first_position, self.last_position) {
            write!(f, ", chain positions {a}..={b}")?;
        }
        if let (Some(a), Some(b)) = (&self.first_time, &self.last_time) {
            write!(f, ", {a} .. {b}")?;
        }
        writeln!(f)?;
        if let Some(p) = self.first_position.filter(|&p| p > 1) {
            writeln!(f, "the chain begins at position {p} (earlier lines not given)")?;
        }
        let mut checkpoints = if self.checkpoints == 0 {
            "no checkpoints".to_string()
        } else if self.signed == 0 {
            format!("{}, none signed", plural(self.checkpoints, "checkpoint", "checkpoints"))
        } else {
            let keys: Vec<String> = self
                .keys
                .iter()
                .map(|k| {
                    let trust = match (&self.trusted, k.trusted) {
                        (None, _) => "",
                        (Some(_), true) => " (the trusted key)",
                        (Some(_), false) => " (not the trusted key)",
                    };
                    if self.keys.len() == 1 {
                        format!("{}{trust}", k.name)
                    } else {
                        format!("{}{trust}: {}", k.name, k.checkpoints)
                    }
                })
                .collect();
            let mut s = format!(
                "{}, {} signed by {}",
                plural(self.checkpoints, "checkpoint", "checkpoints"),
                self.signed,
                keys.join(", ")
            );
            if self.checkpoints > self.signed {
                s += &format!(", {} unsigned", self.checkpoints - self.signed);
            }
            if let Some(last) = &self.last_signed {
                s += &format!(", the last at position {}", last.position);
                if let Some(t) = &last.time {
                    s += &format!(" ({t})");
                }
            }
            s
        };
        match &self.problem {
            Some(p) => {
                writeln!(f, "NOT INTACT: {p}")?;
                checkpoints.insert_str(0, "before it: ");
                writeln!(f, "{checkpoints}")?;
            }
            None => {
                checkpoints.insert_str(0, "intact: ");
                writeln!(f, "{checkpoints}")?;
                if self.signed > 0 && self.trusted.is_none() {
                    writeln!(
                        f,
                        "the signatures were checked against the key named in the lines: this proves only that \
                         the lines were not changed after signing by whoever holds that key (pass --pubkey to pin \
                         it)"
                    )?;
                }
                match &self.last_signed {
                    Some(last) if self.unsigned_lines == 0 => {
                        writeln!(f, "every line is covered by the signature at position {}", last.position)?
                    }
                    Some(last) => writeln!(
                        f,
                        "{} after position {} {} not signed yet",
                        plural(self.unsigned_lines, "line", "lines"),
                        last.position,
                        if self.unsigned_lines == 1 { "is" } else { "are" }
                    )?,
                    None if self.lines > 0 => writeln!(
                        f,
                        "no line is covered by a signature: the chain shows edits that were not covered up, \
                         but not a rewritten log"
                    )?,
                    None => {}
                }
            }
        }
        Ok(())
    }
}

/// Reads the files and verifies them (see [`verify_lines`]).
pub fn verify_files(paths: &[PathBuf], options: &Options) -> Result<Report, VerifyError> {
    let mut sources = Vec::with_capacity(paths.len());
    for path in paths {
        let bytes = fs::read(path).map_err(|error| VerifyError { path: path.clone(), error })?;
        sources.push((path.display().to_string(), bytes));
    }
    Ok(verify_lines(sources, options))
}

/// Verifies the files' contents, each named for messages: in any order,
/// they must form one chain (see the module docs).
pub fn verify_lines(sources: Vec<(String, Vec<u8>)>, options: &Options) -> Report {
    // Each file's lines, and the position of its first chained line.
    let mut files: Vec<(Vec<Entry>, Option<u64>)> = sources
        .iter()
        .enumerate()
        .map(|(source, (_, bytes))| {
            let entries = split(source, bytes);
            let first = entries.iter().find_map(|e| e.link.as_ref().map(|l| l.n));
            (entries, first)
        })
        .collect();
    // Chain order, then files without chained lines, then empty files
    // (stable: a file given twice stays after its first copy).
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| match (&files[i].1, files[i].0.is_empty()) {
        (Some(n), _) => (0, *n),
        (None, false) => (1, 0),
        (None, true) => (2, 0),
    });
    let summaries: Vec<FileSummary> = order
        .iter()
        .map(|&i| {
            let entries = &files[i].0;
            let mut positions = entries.iter().filter_map(|e| e.link.as_ref().map(|l| l.n));
            let first_position = positions.next();
            FileSummary {
                name: sources[i].0.clone(),
                lines: entries.len() as u64,
                first_position,
                last_position: positions.next_back().or(first_position),
            }
        })
        .collect();
    let mut entries = Vec::with_capacity(files.iter().map(|f| f.0.len()).sum());
    for &i in &order {
        entries.append(&mut files[i].0);
    }
    drop(files);

    let mut checker = Checker::new(&sources, &entries, options);
    let mut problem = None;
    for i in 0..entries.len() {
        if let Err(p) = checker.check(i) {
            problem = Some(p);
            break;
        }
    }
    let stop = problem.as_ref().map_or(entries.len(), |p| p.at);

    // Counts before the problem.
    let mut checkpoints = 0;
    let mut signed = 0;
    let mut key_counts = vec![0u64; checker.keys.len()];
    let mut last_signed = None;
    for (i, e) in entries[..stop].iter().enumerate() {
        if e.link.as_ref().is_some_and(|l| l.checkpoint) {
            checkpoints += 1;
        }
        if let Seal::Signed(k) = checker.seals[i] {
            signed += 1;
            key_counts[k] += 1;
            last_signed = Some(i);
        }
    }
    let name = |e: &Entry| sources[e.source].0.clone();
    let time = |e: &Entry| parse(checker.bytes(e)).ok().and_then(|(_, raw)| raw.time.0.map(Cow::into_owned));
    let chained = || entries.iter().filter(|e| e.link.is_some());
    let first = chained().next();
    let last = chained().next_back();
    Report {
        files: summaries,
        lines: entries.len() as u64,
        first_position: first.and_then(Entry::n),
        last_position: last.and_then(Entry::n),
        first_time: first.and_then(time),
        last_time: last.and_then(time),
        checkpoints,
        signed,
        keys: checker
            .keys
            .iter()
            .zip(key_counts)
            .filter(|(_, count)| *count > 0)
            .map(|((name, trusted), checkpoints)| KeyUse { name: name.clone(), trusted: *trusted, checkpoints })
            .collect(),
        last_signed: last_signed.map(|i| {
            let e = &entries[i];
            SignedCheckpoint { position: e.n().unwrap_or(0), time: time(e), file: name(e), line: e.line }
        }),
        unsigned_lines: last_signed.map_or(stop, |i| stop - i - 1) as u64,
        trusted: options.trusted.as_ref().map(chain::key_name),
        problem: problem.map(|p| {
            let e = &entries[p.at];
            Problem { file: name(e), line: e.line, position: e.n(), kind: p.kind, message: p.message }
        }),
    }
}

/// One line of a file: where its bytes are, and its place in the chain.
struct Entry {
    source: usize,
    /// Its line number, from 1.
    line: u64,
    start: usize,
    end: usize,
    /// No newline after it.
    cut: bool,
    hash: Hash,
    /// None: not JSON, or no valid chain (parsed again for the message).
    link: Option<Link>,
}

impl Entry {
    fn n(&self) -> Option<u64> {
        self.link.as_ref().map(|l| l.n)
    }
}

/// A line's place in the chain.
struct Link {
    n: u64,
    prev: Option<Hash>,
    checkpoint: bool,
}

/// A checkpoint's signature, once checked.
#[derive(Clone, Copy)]
enum Seal {
    /// Not a checkpoint, or not checked.
    None,
    Unsigned,
    /// Verified with this key of [`Checker::keys`].
    Signed(usize),
}

/// The lines of one file.
fn split(source: usize, bytes: &[u8]) -> Vec<Entry> {
    let mut entries = Vec::with_capacity(bytes.len() / 256);
    let mut start = 0;
    while start < bytes.len() {
        let (end, cut) = match bytes[start..].iter().position(|&b| b == b'\n') {
            Some(i) => (start + i, false),
            None => (bytes.len(), true),
        };
        let line = &bytes[start..end];
        let link = parse(line).ok().map(|(link, _)| link);
        entries.push(Entry { source, line: entries.len() as u64 + 1, start, end, cut, hash: chain::hash(line), link });
        start = end + 1;
    }
    entries
}

/// What is read of a line.
#[derive(Deserialize)]
struct Raw<'a> {
    #[serde(borrow)]
    chain: RawLink<'a>,
    #[serde(default, borrow)]
    record: Text<'a>,
    #[serde(default, borrow)]
    time: Text<'a>,
    #[serde(default, borrow)]
    key: Text<'a>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink<'a> {
    n: u64,
    /// Not an `Option` field: a missing `prev` is not a `null` one.
    #[serde(borrow)]
    prev: Nullable<'a>,
}

#[derive(Deserialize)]
struct Nullable<'a>(#[serde(borrow)] Option<Cow<'a, str>>);

/// A string member, or None for any other value: a line is not refused
/// for a member the check does not need.
#[derive(Default)]
struct Text<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'a>, E> {
                Ok(Text(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Text<'a>, E> {
                Ok(Text(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Text<'a>, E> {
                Ok(Text(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Text<'a>, E> {
                Ok(Text(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Text<'a>, E> {
                Ok(Text(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Text<'a>, E> {
                Ok(Text(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Text<'a>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Text<'a>, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Text(None))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A line's link and members, or why it has none (kind and message).
fn parse(line: &[u8]) -> Result<(Link, Raw<'_>), (ProblemKind, String)> {
    let raw: Raw<'_> = serde_json::from_slice(line).map_err(|e| {
        let object = line.trim_ascii_start().first() == Some(&b'{');
        if object && e.classify() == serde_json::error::Category::Data {
            (ProblemKind::NoChain, format!("no valid \"chain\" member ({e})"))
        } else {
            (ProblemKind::NotJson, format!("not a JSON object ({e})"))
        }
    })?;
    let n = raw.chain.n;
    let no_chain = |why: String| (ProblemKind::NoChain, why);
    if n == 0 {
        return Err(no_chain("chain position 0: positions begin at 1".into()));
    }
    let prev = match raw.chain.prev.0.as_deref() {
        None if n == 1 => None,
        None => return Err(no_chain(format!("\"prev\" is null at position {n}: only position 1 may have none"))),
        Some(tag) => Some(parse_hash(tag).ok_or_else(|| {
            no_chain(format!("\"prev\" is {tag:?}, not \"sha256:\" and 64 lowercase hex digits (position {n})"))
        })?),
    };
    let checkpoint = raw.record.0.as_deref() == Some("checkpoint");
    Ok((Link { n, prev, checkpoint }, raw))
}

/// `sha256:<64 lowercase hex>`.
fn parse_hash(tag: &str) -> Option<Hash> {
    let hex = tag.strip_prefix("sha256:")?.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut hash = [0u8; 32];
    for (h, pair) in hash.iter_mut().zip(hex.chunks_exact(2)) {
        *h = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(hash)
}

/// The first problem: at which entry, what.
struct Found {
    at: usize,
    kind: ProblemKind,
    message: String,
}

/// Walks the entries in chain order.
struct Checker<'s> {
    sources: &'s [(String, Vec<u8>)],
    entries: &'s [Entry],
    options: &'s Options,
    /// Per position: the first and the last entry at it.
    first_at: HashMap<u64, usize>,
    last_at: HashMap<u64, usize>,
    /// Per entry, once checked.
    seals: Vec<Seal>,
    /// The keys that signed: name, and whether it is the trusted one.
    keys: Vec<(String, bool)>,
}

impl<'s> Checker<'s> {
    fn new(sources: &'s [(String, Vec<u8>)], entries: &'s [Entry], options: &'s Options) -> Self {
        let mut first_at = HashMap::with_capacity(entries.len());
        let mut last_at = HashMap::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            if let Some(n) = e.n() {
                first_at.entry(n).or_insert(i);
                last_at.insert(n, i);
            }
        }
        Self { sources, entries, options, first_at, last_at, seals: vec![Seal::None; entries.len()], keys: Vec::new() }
    }

    fn bytes(&self, e: &Entry) -> &'s [u8] {
        &self.sources[e.source].1[e.start..e.end]
    }

    fn name(&self, e: &Entry) -> &'s str {
        &self.sources[e.source].0
    }

    /// Checks entry `i`, the entries before it being fine.
    fn check(&mut self, i: usize) -> Result<(), Found> {
        let entries = self.entries;
        let e = &entries[i];
        let bytes = self.bytes(e);
        let found = |at, kind, message| Found { at, kind, message };
        if e.cut {
            return Err(found(
                i,
                ProblemKind::Cut,
                format!("the file ends without a newline: its last line was cut ({} bytes)", bytes.len()),
            ));
        }
        let link = match &e.link {
            Some(link) => link,
            None => {
                let (kind, message) = match parse(bytes) {
                    Err(why) => why,
                    Ok(_) => (ProblemKind::NoChain, "no valid \"chain\" member".into()),
                };
                return Err(found(i, kind, message));
            }
        };
        if link.checkpoint {
            self.seals[i] = self.seal(bytes).map_err(|(kind, message)| found(i, kind, message))?;
        }
        let Some(p) = i.checked_sub(1).map(|j| &entries[j]) else { return Ok(()) };
        let Some(pl) = &p.link else { return Ok(()) };
        let n = link.n;
        let expected = pl.n.saturating_add(1);
        let linked = link.prev == Some(p.hash);
        if n == expected && linked {
            return Ok(());
        }
        if n != expected {
            if let Some(&j) = self.first_at.get(&n).filter(|&&j| j < i) {
                if self.bytes(&entries[j]) == bytes {
                    let first = &entries[j];
                    return Err(found(
                        i,
                        ProblemKind::Duplicate,
                        format!(
                            "position {n} again, the same line as {}:{} (a file given twice?)",
                            self.name(first),
                            first.line
                        ),
                    ));
                }
            }
        }
        if link.prev.is_none() {
            return Err(found(
                i,
                ProblemKind::NewChain,
                format!(
                    "a new chain begins (position 1, \"prev\": null) after position {}: the log was replaced",
                    pl.n
                ),
            ));
        }
        if linked {
            return Err(found(
                i,
                ProblemKind::Edited,
                format!(
                    "its \"prev\" is the hash of the line before it (position {}), but its position is {n}, not \
                     {expected}",
                    pl.n
                ),
            ));
        }
        if n > expected {
            let missing = if expected + 1 == n {
                format!("position {expected}")
            } else {
                format!("positions {expected}..={}", n - 1)
            };
            if self.last_at.get(&expected).is_some_and(|&j| j > i) {
                return Err(found(
                    i,
                    ProblemKind::Reordered,
                    format!("position {n} comes where {expected} should (position {expected} comes later)"),
                ));
            }
            if p.source != e.source {
                return Err(found(
                    i,
                    ProblemKind::RotationMissing { from: expected, to: n - 1 },
                    format!(
                        "{missing} missing between {} (up to position {}) and this file: a rotated file not given \
                         or deleted",
                        self.name(p),
                        pl.n
                    ),
                ));
            }
            return Err(found(
                i,
                ProblemKind::Removed { from: expected, to: n - 1 },
                format!("{missing} missing before position {n}: lines were removed"),
            ));
        }
        if n < expected {
            return Err(found(
                i,
                ProblemKind::Reordered,
                format!("position {n} comes after position {}, where {expected} should", pl.n),
            ));
        }
        // In place, but `prev` is not the previous line's hash: the
        // previous line was edited, or this one (its `prev` with it).
        let signed = |j: usize| matches!(self.seals[j], Seal::Signed(_));
        let next_mismatch = entries
            .get(i + 1)
            .and_then(|next| next.link.as_ref())
            .is_some_and(|next| next.n == n.saturating_add(1) && next.prev != Some(e.hash));
        if !signed(i) && (next_mismatch || signed(i - 1)) {
            Err(found(
                i,
                ProblemKind::Edited,
                format!(
                    "the line's \"prev\" is not the hash of the line before it, and its hash is not the \"prev\" \
                     of the next line (position {n})"
                ),
            ))
        } else {
            Err(found(
                i - 1,
                ProblemKind::Edited,
                format!("the line's hash is not the \"prev\" of the next line (position {})", pl.n),
            ))
        }
    }

    /// Checks a checkpoint's signature, if it has one.
    fn seal(&mut self, line: &[u8]) -> Result<Seal, (ProblemKind, String)> {
        let bad = |why: String| (ProblemKind::BadSignature, why);
        let key = match parse(line) {
            Ok((_, raw)) => raw.key.0,
            Err(why) => return Err(why),
        };
        let (name, (message, signature)) = match (key, chain::unseal(line)) {
            (None, None) => return Ok(Seal::Unsigned),
            (None, Some(_)) => return Err(bad("a signature, but no \"key\" member".into())),
            (Some(name), None) => {
                return Err(bad(format!("a \"key\" ({name}) but no \"signature\" member at the end of the line")))
            }
            (Some(name), Some(sealed)) => (name, sealed),
        };
        // Only a key's name: a path in a line is not a file to read.
        let key = match name.strip_prefix("ed25519:") {
            Some(_) => chain::parse_public_key(&name).map_err(|e| bad(format!("its key {name:?}: {e}")))?,
            None => return Err(bad(format!("its key {name:?} is not ed25519:<base64>"))),
        };
        chain::verify_signature(&key, &message, signature)
            .map_err(|e| bad(format!("{e} with {name}: the line was changed after it was signed")))?;
        let trusted = match &self.options.trusted {
            Some(t) if *t != key => {
                let message = format!("signed by {name}, not by the trusted key {}", chain::key_name(t));
                return Err((ProblemKind::UntrustedKey { key: name.into_owned() }, message));
            }
            Some(_) => true,
            None => false,
        };
        let name = chain::key_name(&key);
        let k = match self.keys.iter().position(|(n, _)| *n == name) {
            Some(k) => k,
            None => {
                self.keys.push((name, trusted));
                self.keys.len() - 1
            }
        };
        Ok(Seal::Signed(k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::chain::Signer;
    use crate::sinks::evidence::{EvidenceLog, Policy};
    use serde_json::json;
    use std::path::Path;

    const PAD: &str = "abcdefgh";

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("witness-verify-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn signer(dir: &Path, name: &str) -> Signer {
        Signer::load_or_create(&dir.join(format!("{name}.key"))).unwrap()
    }

    fn time(i: u64) -> (String, i128) {
        (format!("2026-12-02T10:{:02}:{:02}Z", i / 60 % 60, i % 60), (1_796_205_600 + i128::from(i)) * 1_000_000_000)
    }

    /// Appends lines `from..=to` to the log at `path`: every fifth a
    /// checkpoint, signed by `signer`, the others events with `pad`.
    fn write(path: &Path, policy: Policy, from: u64, to: u64, signer: Option<&Signer>, pad: &str) {
        let mut log = EvidenceLog::open(path, policy).unwrap();
        for i in from..=to {
            let (time, ns) = time(i);
            if i.is_multiple_of(5) {
                let cp = json!({"record": "checkpoint", "time": time, "time_unix_ns": ns.to_string(), "lines": i});
                log.checkpoint(&cp, ns, signer).unwrap();
            } else {
                let ev = json!({"record": "event", "time": time, "time_unix_ns": ns.to_string(), "i": i, "pad": pad});
                log.append(&ev, ns).unwrap();
            }
        }
    }

    /// A log of 22 lines, checkpoints signed at positions 5, 10, 15, 20.
    fn log22(name: &str) -> (PathBuf, Signer) {
        let dir = temp(name);
        let signer = signer(&dir, "evidence");
        let path = dir.join("evidence.jsonl");
        write(&path, Policy::default(), 1, 22, Some(&signer), PAD);
        (path, signer)
    }

    fn lines(bytes: &[u8]) -> Vec<Vec<u8>> {
        bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect()
    }

    fn joined(lines: &[Vec<u8>]) -> Vec<u8> {
        lines.iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect()
    }

    fn replace(line: &mut Vec<u8>, from: &str, to: &str) {
        let text = String::from_utf8(line.clone()).unwrap();
        assert!(text.contains(from), "{text}");
        *line = text.replacen(from, to, 1).into_bytes();
    }

    /// Changes the first hex digit of the line's `prev`.
    fn flip_prev(line: &mut [u8]) {
        let at = line.windows(7).position(|w| w == b"sha256:").unwrap() + 7;
        line[at] = if line[at] == b'0' { b'1' } else { b'0' };
    }

    fn one(bytes: Vec<u8>) -> Vec<(String, Vec<u8>)> {
        vec![("evidence.jsonl".to_string(), bytes)]
    }

    /// The log at `path` with `edit` applied to its lines (index 0: line
    /// 1), verified without a trusted key.
    fn tampered(path: &Path, edit: impl FnOnce(&mut Vec<Vec<u8>>)) -> Report {
        let mut l = lines(&fs::read(path).unwrap());
        edit(&mut l);
        verify_lines(one(joined(&l)), &Options::default())
    }

    /// The problem's kind, file and line, and its position.
    fn problem(report: &Report) -> (ProblemKind, &str, u64, Option<u64>) {
        let p = report.problem.as_ref().unwrap_or_else(|| panic!("no problem found:\n{report}"));
        (p.kind.clone(), p.file.as_str(), p.line, p.position)
    }

    fn trusting(signer: &Signer) -> Options {
        Options { trusted: Some(chain::parse_public_key(&signer.name).unwrap()) }
    }

    #[test]
    fn an_intact_log_counts_checkpoints_and_lines_not_yet_signed() {
        let (path, signer) = log22("intact");
        // An unsigned checkpoint (23) and an event after it.
        let mut log = EvidenceLog::open(&path, Policy::default()).unwrap();
        log.checkpoint(&json!({"record": "checkpoint", "time": "t23"}), 0, None).unwrap();
        log.append(&json!({"record": "event", "time": "t24"}), 0).unwrap();
        drop(log);
        let report = verify_files(std::slice::from_ref(&path), &Options::default()).unwrap();
        assert!(report.intact(), "{report}");
        assert_eq!((report.lines, report.first_position, report.last_position), (24, Some(1), Some(24)));
        assert_eq!(report.first_time.as_deref(), Some("2026-12-02T10:00:01Z"));
        assert_eq!(report.last_time.as_deref(), Some("t24"));
        assert_eq!((report.checkpoints, report.signed), (5, 4));
        assert_eq!(report.keys, [KeyUse { name: signer.name.clone(), trusted: false, checkpoints: 4 }]);
        let last = report.last_signed.clone().unwrap();
        assert_eq!((last.position, last.line, last.time.as_deref()), (20, 20, Some("2026-12-02T10:00:20Z")));
        assert_eq!(report.unsigned_lines, 4, "21..=24");
        let text = report.to_string();
        assert!(text.starts_with(&format!("{}: 24 lines, chain positions 1..=24, ", path.display())), "{text}");
        assert!(text.contains(&format!("intact: 5 checkpoints, 4 signed by {}, 1 unsigned", signer.name)), "{text}");
        assert!(text.contains("the last at position 20 (2026-12-02T10:00:20Z)"), "{text}");
        assert!(text.contains("key named in the lines") && text.contains("--pubkey"), "{text}");
        assert!(text.contains("4 lines after position 20 are not signed yet"), "{text}");
        assert!(!text.contains("begins at position"), "{text}");

        // Trusting the key: the same, and said so; an unsigned checkpoint
        // is no problem.
        let report = verify_files(&[path], &trusting(&signer)).unwrap();
        assert!(report.intact(), "{report}");
        assert!(report.keys[0].trusted);
        let text = report.to_string();
        assert!(text.contains(&format!("signed by {} (the trusted key)", signer.name)), "{text}");
        assert!(!text.contains("--pubkey"), "{text}");
    }

    #[test]
    fn a_chain_may_begin_later() {
        let (path, _) = log22("later");
        let report = tampered(&path, |l| drop(l.drain(..3)));
        assert!(report.intact(), "{report}");
        assert_eq!(report.first_position, Some(4));
        assert!(report.to_string().contains("the chain begins at position 4 (earlier lines not given)"));
    }

    #[test]
    fn an_edited_event_is_blamed_on_itself() {
        let (path, _) = log22("edit-middle");
        let report = tampered(&path, |l| replace(&mut l[6], PAD, "abcdefgX"));
        assert_eq!(problem(&report), (ProblemKind::Edited, "evidence.jsonl", 7, Some(7)));
        let text = report.problem.as_ref().unwrap().to_string();
        assert_eq!(text, "evidence.jsonl:7: edited: the line's hash is not the \"prev\" of the next line (position 7)");
        assert!(report.to_string().contains("NOT INTACT: evidence.jsonl:7: edited"), "{report}");
        assert!(report.to_string().contains("before it: 1 checkpoint, 1 signed"), "{report}");
        // Just before a checkpoint.
        let report = tampered(&path, |l| replace(&mut l[8], PAD, "abcdefgX"));
        assert_eq!(problem(&report), (ProblemKind::Edited, "evidence.jsonl", 9, Some(9)));
    }

    #[test]
    fn an_edited_prev_is_blamed_on_its_line() {
        let (path, _) = log22("edit-prev");
        let report = tampered(&path, |l| flip_prev(&mut l[6]));
        assert_eq!(problem(&report), (ProblemKind::Edited, "evidence.jsonl", 7, Some(7)));
        // The last line, after a signed checkpoint: no next line to tell,
        // but the checkpoint's bytes are vouched for.
        let report = tampered(&path, |l| {
            l.truncate(21);
            flip_prev(&mut l[20]);
        });
        assert_eq!(problem(&report), (ProblemKind::Edited, "evidence.jsonl", 21, Some(21)));
    }

    #[test]
    fn an_edited_position_is_an_edit() {
        let (path, _) = log22("edit-n");
        let report = tampered(&path, |l| replace(&mut l[6], "\"n\":7,", "\"n\":70,"));
        assert_eq!(problem(&report), (ProblemKind::Edited, "evidence.jsonl", 7, Some(70)));
    }

    #[test]
    fn an_edited_checkpoint_has_a_bad_signature() {
        let (path, _) = log22("edit-checkpoint");
        let report = tampered(&path, |l| replace(&mut l[9], "\"lines\":10", "\"lines\":11"));
        assert_eq!(problem(&report), (ProblemKind::BadSignature, "evidence.jsonl", 10, Some(10)));
        assert!(report.problem.unwrap().message.contains("the signature does not verify"));
    }

    #[test]
    fn removed_lines_are_named() {
        let (path, _) = log22("remove");
        let report = tampered(&path, |l| drop(l.drain(6..8)));
        assert_eq!(problem(&report), (ProblemKind::Removed { from: 7, to: 8 }, "evidence.jsonl", 7, Some(9)));
        assert!(report.problem.unwrap().message.contains("positions 7..=8 missing"));
    }

    #[test]
    fn swapped_lines_are_reordered() {
        let (path, _) = log22("swap");
        let report = tampered(&path, |l| l.swap(6, 7));
        assert_eq!(problem(&report), (ProblemKind::Reordered, "evidence.jsonl", 7, Some(8)));
        // A line moved back: reported where it comes too late.
        let report = tampered(&path, |l| {
            let line = l.remove(3);
            l.insert(8, line);
        });
        assert_eq!(problem(&report), (ProblemKind::Reordered, "evidence.jsonl", 4, Some(5)));
        // An earlier position again, with other bytes (not a duplicate).
        let report = tampered(&path, |l| {
            let mut line = l[3].clone();
            replace(&mut line, PAD, "abcdefgX");
            l.insert(9, line);
        });
        assert_eq!(problem(&report), (ProblemKind::Reordered, "evidence.jsonl", 10, Some(4)));
    }

    #[test]
    fn a_cut_last_line_is_found() {
        let (path, _) = log22("cut");
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes[..bytes.len() - 1].iter().rposition(|&b| b == b'\n').unwrap() + 1;
        bytes.truncate(last + (bytes.len() - last) / 2);
        let report = verify_lines(one(bytes.clone()), &Options::default());
        assert_eq!(problem(&report), (ProblemKind::Cut, "evidence.jsonl", 22, None));
        // Only the newline missing: still cut.
        let mut bytes = fs::read(&path).unwrap();
        bytes.pop();
        let report = verify_lines(one(bytes), &Options::default());
        assert_eq!(problem(&report), (ProblemKind::Cut, "evidence.jsonl", 22, Some(22)));
    }

    #[test]
    fn lines_that_are_not_chained_json_are_found() {
        let (path, _) = log22("not-json");
        let report = tampered(&path, |l| l[6] = b"not json".to_vec());
        assert_eq!(problem(&report), (ProblemKind::NotJson, "evidence.jsonl", 7, None));
        let report = tampered(&path, |l| l[6] = b"[1,2]".to_vec());
        assert_eq!(problem(&report), (ProblemKind::NotJson, "evidence.jsonl", 7, None));
        let report = tampered(&path, |l| l[6] = b"{\"record\":\"event\"}".to_vec());
        assert_eq!(problem(&report), (ProblemKind::NoChain, "evidence.jsonl", 7, None));
        let report = tampered(&path, |l| l[6] = b"{\"chain\":{\"n\":1},\"record\":\"event\"}".to_vec());
        assert_eq!(problem(&report), (ProblemKind::NoChain, "evidence.jsonl", 7, None), "prev missing, not null");
        let report = tampered(&path, |l| replace(&mut l[6], "\"prev\":\"sha256:", "\"prev\":\"sha256:X"));
        assert_eq!(problem(&report), (ProblemKind::NoChain, "evidence.jsonl", 7, None));
        // Members the check does not need may be anything.
        let report = verify_lines(
            one(b"{\"chain\":{\"n\":1,\"prev\":null},\"record\":5,\"time\":{\"a\":[1]},\"key\":null}\n".to_vec()),
            &Options::default(),
        );
        assert!(report.intact(), "{report}");
    }

    #[test]
    fn a_new_chain_after_lines_is_found() {
        let dir = temp("new-chain");
        let (first, second) = (dir.join("first.jsonl"), dir.join("second.jsonl"));
        write(&first, Policy::default(), 1, 4, None, PAD);
        write(&second, Policy::default(), 1, 3, None, "other");
        let bytes = [fs::read(&first).unwrap(), fs::read(&second).unwrap()].concat();
        let report = verify_lines(one(bytes), &Options::default());
        assert_eq!(problem(&report), (ProblemKind::NewChain, "evidence.jsonl", 5, Some(1)));
    }

    /// A log rotated into `log.1` .. `log.N`; the files' paths, newest
    /// (the live file) first.
    fn rotated(name: &str) -> (Vec<PathBuf>, Signer) {
        let dir = temp(name);
        let signer = signer(&dir, "evidence");
        let path = dir.join("evidence.jsonl");
        write(&path, Policy { max_bytes: 2000, keep: 10, ..Policy::default() }, 1, 60, Some(&signer), PAD);
        let mut files = vec![path.clone()];
        for n in 1.. {
            let p = PathBuf::from(format!("{}.{n}", path.display()));
            if !p.exists() {
                break;
            }
            files.push(p);
        }
        assert!(files.len() >= 4, "{files:?}");
        (files, signer)
    }

    fn positions(path: &Path) -> (u64, u64) {
        let text = fs::read_to_string(path).unwrap();
        let n = |l: &str| serde_json::from_str::<serde_json::Value>(l).unwrap()["chain"]["n"].as_u64().unwrap();
        (n(text.lines().next().unwrap()), n(text.lines().last().unwrap()))
    }

    #[test]
    fn rotated_files_in_any_order_are_one_chain() {
        let (files, signer) = rotated("rotated");
        let mut shuffled = files.clone();
        shuffled.swap(1, 2);
        shuffled.rotate_left(1);
        let report = verify_files(&shuffled, &trusting(&signer)).unwrap();
        assert!(report.intact(), "{report}");
        let names: Vec<String> = report.files.iter().map(|f| f.name.clone()).collect();
        let oldest_first: Vec<String> = files.iter().rev().map(|p| p.display().to_string()).collect();
        assert_eq!(names, oldest_first);
        assert_eq!((report.lines, report.first_position, report.last_position), (60, Some(1), Some(60)));
        assert_eq!((report.checkpoints, report.signed, report.unsigned_lines), (12, 12, 0));
        assert!(report.to_string().contains("every line is covered by the signature at position 60"), "{report}");
        // An empty file is listed, last, and skipped.
        let mut sources: Vec<(String, Vec<u8>)> =
            shuffled.iter().map(|p| (p.display().to_string(), fs::read(p).unwrap())).collect();
        sources.insert(0, ("empty".into(), Vec::new()));
        let report = verify_lines(sources, &Options::default());
        assert!(report.intact(), "{report}");
        let last = report.files.last().unwrap();
        assert_eq!((last.name.as_str(), last.lines), ("empty", 0));
        assert!(report.to_string().contains("evidence.jsonl, empty (empty): 60 lines"), "{report}");
    }

    #[test]
    fn a_missing_rotated_file_is_found() {
        let (mut files, _) = rotated("rotation-missing");
        let gone = files.remove(2); // log.2
        let (from, to) = positions(&gone);
        let newer = files[1].display().to_string(); // log.1
        let report = verify_files(&files, &Options::default()).unwrap();
        assert_eq!(problem(&report), (ProblemKind::RotationMissing { from, to }, newer.as_str(), 1, Some(to + 1)));
        assert!(report.problem.unwrap().message.contains(&format!("positions {from}..={to} missing")));
    }

    #[test]
    fn a_file_given_twice_is_a_duplicate() {
        let (mut files, _) = rotated("duplicate");
        files.push(files[1].clone());
        let report = verify_files(&files, &Options::default()).unwrap();
        let twice = files[1].display().to_string();
        let (first, _) = positions(&files[1]);
        assert_eq!(problem(&report), (ProblemKind::Duplicate, twice.as_str(), 1, Some(first)));
        // Under two names: the second is blamed.
        let bytes = fs::read(&files[1]).unwrap();
        let report = verify_lines(vec![("a".into(), bytes.clone()), ("b".into(), bytes)], &Options::default());
        assert_eq!(problem(&report), (ProblemKind::Duplicate, "b", 1, Some(first)));
    }

    #[test]
    fn another_key_is_refused_when_one_is_trusted() {
        let (path, signer) = log22("untrusted");
        let other = self::signer(path.parent().unwrap(), "other");
        let report = verify_files(std::slice::from_ref(&path), &trusting(&other)).unwrap();
        assert_eq!(
            problem(&report),
            (ProblemKind::UntrustedKey { key: signer.name.clone() }, &*path.display().to_string(), 5, Some(5))
        );
        assert!(verify_files(&[path], &Options::default()).unwrap().intact());
    }

    #[test]
    fn unreadable_files_name_the_file() {
        let dir = temp("unreadable");
        let e = verify_files(&[dir.join("nope")], &Options::default()).unwrap_err().to_string();
        assert!(e.contains("nope: No such file"), "{e}");
    }

    /// `cargo test --release -p witness --lib -- --ignored big_logs`.
    #[test]
    #[ignore = "slow in debug builds"]
    fn big_logs_verify_quickly() {
        let dir = temp("big");
        let signer = signer(&dir, "evidence");
        let path = dir.join("evidence.jsonl");
        let mut log = EvidenceLog::open(&path, Policy { max_bytes: 1 << 30, ..Policy::default() }).unwrap();
        let mut i = 0u64;
        while log.head().n < 135_000 {
            i += 1;
            let (time, ns) = time(i);
            let ev = json!({"record": "event", "time": time, "time_unix_ns": ns.to_string(), "i": i,
                "pad": "x".repeat(250), "process": {"exe": "/usr/bin/thing", "ancestors": [1, 2, 3]}});
            if i.is_multiple_of(1000) {
                log.checkpoint(&json!({"record": "checkpoint", "time": time}), ns, Some(&signer)).unwrap();
            } else {
                log.append(&ev, ns).unwrap();
            }
        }
        drop(log);
        let size = fs::metadata(&path).unwrap().len();
        let started = std::time::Instant::now();
        let report = verify_files(&[path], &Options::default()).unwrap();
        let took = started.elapsed();
        assert!(report.intact(), "{report}");
        eprintln!("{} MiB, {} lines in {took:?}", size >> 20, report.lines);
        assert!(took < std::time::Duration::from_secs(5), "{took:?}");
    }
}
