//! Small text helpers the parsers share: file-and-line errors, offsets to
//! line numbers, hex.

use std::fmt::Write as _;
use std::path::PathBuf;

use thiserror::Error;

/// Something wrong at a line of a file: shown as `path:line: message`,
/// the form editors and CI logs link to. Every parser of a configuration
/// file (inventory, policies, settings) reports with it.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{}:{line}: {message}", path.display())]
pub struct AtLine {
    /// The file.
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Byte offsets of a text to 1-based line numbers, by binary search over
/// its newlines (an inventory of thousands of entries has tens of
/// thousands of lines, and every entry asks).
#[derive(Debug)]
pub struct Lines(Vec<usize>);

impl Lines {
    /// The newlines of `text`.
    pub fn new(text: &str) -> Self {
        Self(text.bytes().enumerate().filter(|&(_, b)| b == b'\n').map(|(i, _)| i).collect())
    }

    /// The line of byte `offset` (past the end: the last line).
    pub fn line_of(&self, offset: usize) -> usize {
        self.0.partition_point(|&nl| nl < offset) + 1
    }
}

/// The line of byte `offset` in `text`, for a single question.
pub fn line_of(text: &str, offset: usize) -> usize {
    Lines::new(text).line_of(offset)
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_lines() {
        let text = "a\nbc\n\nd";
        let lines = Lines::new(text);
        let got: Vec<usize> = (0..=text.len() + 3).map(|o| lines.line_of(o)).collect();
        assert_eq!(got, [1, 1, 2, 2, 2, 3, 4, 4, 4, 4, 4]);
        assert_eq!(line_of(text, 3), 2);
    }

    #[test]
    fn errors_and_hex_read_as_expected() {
        let e = AtLine { path: "/etc/w.toml".into(), line: 3, message: "bad".into() };
        assert_eq!(e.to_string(), "/etc/w.toml:3: bad");
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
    }
}
