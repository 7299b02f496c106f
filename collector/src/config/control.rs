//! What the collector asks the module to change, checked before it is sent:
//! kind masks by name, filter operations, the poll watermark.
//!
//! The module validates every control request again (`EINVAL`); checking
//! here first turns a bad command line into an error that says what is
//! wrong and what would be right, instead of an errno.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;
use witness_abi::ioctl::{
    Config, FilterOp, FILTER_ADD, FILTER_CGROUP_EXCLUDE, FILTER_CGROUP_INCLUDE, FILTER_CLEAR, FILTER_PATH_MAX,
    FILTER_PATH_PREFIX, FILTER_REMOVE, FILTER_SECRET_PATH, FILTER_UID_EXCLUDE, FILTER_UID_INCLUDE,
};
use witness_abi::record::RecordKind;

/// Why a control request was not sent.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ControlError {
    /// A kind name this collector does not know.
    #[error("unknown record kind '{name}'; known kinds: all, none, {known}")]
    UnknownKind {
        /// The name given.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// The kind list named no kind.
    #[error("no record kind given; known kinds: all, none, {known}")]
    NoKinds {
        /// The known names, comma-separated.
        known: String,
    },
    /// A filter path that is not absolute.
    #[error("filter path '{path}' must be absolute (start with /)")]
    RelativePath {
        /// The path given.
        path: String,
    },
    /// A filter path longer than the module accepts.
    #[error("filter path '{path}' is {len} bytes; the module accepts at most {FILTER_PATH_MAX}")]
    PathTooLong {
        /// The path given.
        path: String,
        /// Its length in bytes.
        len: usize,
    },
    /// A watermark outside what the module accepts for its rings.
    #[error(
        "watermark {value} is out of range: it must be between 1 and {max} bytes (half of the module's {ring_size}-byte rings)"
    )]
    Watermark {
        /// The watermark given.
        value: u32,
        /// The largest accepted.
        max: u32,
        /// The ring data size the module reported.
        ring_size: u32,
    },
}

/// Every kind a kind mask can name (all but pad), in wire order.
fn maskable_kinds() -> impl Iterator<Item = RecordKind> {
    RecordKind::ALL.iter().copied().filter(|k| *k != RecordKind::Pad)
}

/// The mask that records every kind this collector knows.
pub fn all_kinds() -> u64 {
    maskable_kinds().fold(0, |mask, k| mask | k.mask_bit())
}

/// Names of the kinds enabled in a kind mask, in wire order.
pub fn kind_names(mask: u64) -> Vec<&'static str> {
    maskable_kinds().filter(|k| mask & k.mask_bit() != 0).map(RecordKind::name).collect()
}

/// Parses a comma-separated list of kind names (or "all") into a mask;
/// "none" alone is the empty mask (every hook stays attached and records
/// nothing).
pub fn parse_kinds(list: &str) -> Result<u64, ControlError> {
    let known = || kind_names(u64::MAX).join(", ");
    if list.trim() == "none" {
        return Ok(0);
    }
    let mut mask = 0;
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if name == "all" {
            mask |= all_kinds();
            continue;
        }
        let kind = maskable_kinds()
            .find(|k| k.name() == name)
            .ok_or_else(|| ControlError::UnknownKind { name: name.to_string(), known: known() })?;
        mask |= kind.mask_bit();
    }
    if mask == 0 {
        return Err(ControlError::NoKinds { known: known() });
    }
    Ok(mask)
}

/// Checks a poll watermark against the module's ring size (the module
/// accepts 1 ..= ring size / 2).
pub fn check_watermark(value: u32, ring_size: u32) -> Result<(), ControlError> {
    let max = ring_size / 2;
    if value == 0 || value > max {
        return Err(ControlError::Watermark { value, max, ring_size });
    }
    Ok(())
}

/// A configuration, as people read it.
pub fn describe_config(config: &Config) -> String {
    format!("kinds {}, watermark {} bytes", kind_names(config.kind_mask).join(","), config.watermark)
}

/// The module's filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Filter {
    /// Record only tasks in these cgroups.
    CgroupInclude,
    /// Never record tasks in these cgroups.
    CgroupExclude,
    /// Record only these uids.
    UidInclude,
    /// Never record these uids.
    UidExclude,
    /// File events only under these path prefixes.
    PathPrefix,
    /// Paths whose opens are credential material.
    SecretPath,
}

impl Filter {
    /// Every filter.
    pub const ALL: [Filter; 6] = [
        Filter::CgroupInclude,
        Filter::CgroupExclude,
        Filter::UidInclude,
        Filter::UidExclude,
        Filter::PathPrefix,
        Filter::SecretPath,
    ];

    /// The `FILTER_*` id.
    pub fn id(self) -> u32 {
        match self {
            Filter::CgroupInclude => FILTER_CGROUP_INCLUDE,
            Filter::CgroupExclude => FILTER_CGROUP_EXCLUDE,
            Filter::UidInclude => FILTER_UID_INCLUDE,
            Filter::UidExclude => FILTER_UID_EXCLUDE,
            Filter::PathPrefix => FILTER_PATH_PREFIX,
            Filter::SecretPath => FILTER_SECRET_PATH,
        }
    }

    /// The filter with this `FILTER_*` id.
    pub fn from_id(id: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.id() == id)
    }

    /// The name used on the command line (`uid-exclude`).
    pub fn name(self) -> &'static str {
        match self {
            Filter::CgroupInclude => "cgroup-include",
            Filter::CgroupExclude => "cgroup-exclude",
            Filter::UidInclude => "uid-include",
            Filter::UidExclude => "uid-exclude",
            Filter::PathPrefix => "path-prefix",
            Filter::SecretPath => "secret-path",
        }
    }

    /// Whether the filter holds paths (otherwise numbers).
    pub fn takes_path(self) -> bool {
        matches!(self, Filter::PathPrefix | Filter::SecretPath)
    }

    /// Adds a cgroup id or uid to a numeric filter.
    pub fn add_value(self, value: u64) -> FilterOp {
        debug_assert!(!self.takes_path());
        FilterOp { value, ..self.op(FILTER_ADD) }
    }

    /// Adds a path to a path filter.
    pub fn add_path(self, path: &FilterPath) -> FilterOp {
        debug_assert!(self.takes_path());
        let bytes = path.0.as_bytes();
        let mut op = self.op(FILTER_ADD);
        op.path[..bytes.len()].copy_from_slice(bytes);
        // CAST: FilterPath holds at most FILTER_PATH_MAX (256) bytes.
        op.path_len = bytes.len() as u32;
        op
    }

    /// Removes every value of the filter.
    pub fn clear(self) -> FilterOp {
        self.op(FILTER_CLEAR)
    }

    fn op(self, op: u32) -> FilterOp {
        FilterOp { op, filter: self.id(), value: 0, path_len: 0, reserved: 0, path: [0; FILTER_PATH_MAX] }
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A path a path filter accepts: absolute, at most [`FILTER_PATH_MAX`] bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterPath(String);

impl FromStr for FilterPath {
    type Err = ControlError;

    fn from_str(path: &str) -> Result<Self, ControlError> {
        if !path.starts_with('/') {
            return Err(ControlError::RelativePath { path: path.to_string() });
        }
        if path.len() > FILTER_PATH_MAX {
            return Err(ControlError::PathTooLong { path: path.to_string(), len: path.len() });
        }
        Ok(Self(path.to_string()))
    }
}

/// A filter operation, as people read it ("add uid-exclude 1234"), for
/// error messages.
pub fn describe_filter_op(op: &FilterOp) -> String {
    let verb = match op.op {
        FILTER_ADD => "add".to_string(),
        FILTER_REMOVE => "remove".to_string(),
        FILTER_CLEAR => "clear".to_string(),
        other => format!("operation {other}"),
    };
    let Some(filter) = Filter::from_id(op.filter) else {
        return format!("{verb} on filter {}", op.filter);
    };
    if op.op == FILTER_CLEAR {
        return format!("{verb} {filter}");
    }
    if filter.takes_path() {
        let len = usize::try_from(op.path_len).unwrap_or(usize::MAX).min(FILTER_PATH_MAX);
        return format!("{verb} {filter} {}", String::from_utf8_lossy(&op.path[..len]));
    }
    format!("{verb} {filter} {}", op.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_lists_parse_and_print() {
        let mask = parse_kinds("exec, file_open").unwrap();
        assert_eq!(kind_names(mask), ["exec", "file_open"]);
        assert_eq!(parse_kinds("all").unwrap(), all_kinds());
        assert_eq!(kind_names(all_kinds()).len(), RecordKind::ALL.len() - 1);
        assert_eq!(parse_kinds("all,exec").unwrap(), all_kinds());
        let err = parse_kinds("exec,bogus").unwrap_err().to_string();
        assert!(err.starts_with("unknown record kind 'bogus'; known kinds: all, none, exec, fork,"), "{err}");
        assert!(err.ends_with("packet_drops, key_access"), "{err}");
        assert!(matches!(parse_kinds(""), Err(ControlError::NoKinds { .. })));
        assert!(matches!(parse_kinds(" , "), Err(ControlError::NoKinds { .. })));
        assert!(matches!(parse_kinds("pad"), Err(ControlError::UnknownKind { .. })));
        assert_eq!(parse_kinds(" none ").unwrap(), 0);
        assert!(matches!(parse_kinds("none,exec"), Err(ControlError::UnknownKind { .. })));
    }

    #[test]
    fn watermarks_are_checked_against_the_ring() {
        assert_eq!(check_watermark(1, 65536), Ok(()));
        assert_eq!(check_watermark(32768, 65536), Ok(()));
        let err = check_watermark(32769, 65536).unwrap_err();
        assert_eq!(err, ControlError::Watermark { value: 32769, max: 32768, ring_size: 65536 });
        assert!(err.to_string().contains("between 1 and 32768 bytes"), "{err}");
        assert!(check_watermark(0, 65536).is_err());
    }

    #[test]
    fn filters_build_the_ops_the_module_expects() {
        for f in Filter::ALL {
            assert_eq!(Filter::from_id(f.id()), Some(f));
            assert_eq!(<Filter as clap::ValueEnum>::from_str(f.name(), false), Ok(f));
        }
        let op = Filter::UidExclude.add_value(1234);
        assert_eq!((op.op, op.filter, op.value, op.path_len), (FILTER_ADD, FILTER_UID_EXCLUDE, 1234, 0));
        assert_eq!(describe_filter_op(&op), "add uid-exclude 1234");

        let path: FilterPath = "/opt/watched".parse().unwrap();
        let op = Filter::PathPrefix.add_path(&path);
        assert_eq!((op.filter, op.path_len), (FILTER_PATH_PREFIX, 12));
        assert_eq!(&op.path[..13], b"/opt/watched\0");
        assert_eq!(describe_filter_op(&op), "add path-prefix /opt/watched");

        let op = Filter::SecretPath.clear();
        assert_eq!((op.op, op.filter), (FILTER_CLEAR, FILTER_SECRET_PATH));
        assert_eq!(describe_filter_op(&op), "clear secret-path");
        assert_eq!(describe_filter_op(&FilterOp { filter: 99, ..op }), "clear on filter 99");
    }

    #[test]
    fn filter_paths_are_checked() {
        assert!(matches!("etc/shadow".parse::<FilterPath>(), Err(ControlError::RelativePath { .. })));
        assert!(matches!("".parse::<FilterPath>(), Err(ControlError::RelativePath { .. })));
        let long = format!("/{}", "a".repeat(FILTER_PATH_MAX));
        let err = long.parse::<FilterPath>().unwrap_err();
        assert!(matches!(err, ControlError::PathTooLong { len: 257, .. }), "{err}");
        assert!(format!("/{}", "a".repeat(FILTER_PATH_MAX - 1)).parse::<FilterPath>().is_ok());
    }

    #[test]
    fn configs_read_well() {
        let config = Config { kind_mask: parse_kinds("exec,fork").unwrap(), watermark: 4096, reserved: 0 };
        assert_eq!(describe_config(&config), "kinds exec,fork, watermark 4096 bytes");
    }
}
