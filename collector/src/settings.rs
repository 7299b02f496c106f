//! The daemon's settings file: `witness run --config FILE`.
//!
//! A TOML file whose keys are `witness run`'s long flags with `_` for `-`
//! (see `examples/witness.toml`). A flag given on the command line wins over
//! the file; the file wins over the flag's default. Relative paths in the
//! file are relative to the file's directory, so a config directory can be
//! moved as a whole. Unknown keys are errors (a misspelt key silently
//! ignored is a setting silently lost), and every error names the file and
//! line.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Settings read from the file; `None` where the file says nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The witness device.
    pub device: Option<PathBuf>,
    /// The identity inventory.
    pub inventory: Option<PathBuf>,
    /// Cedar policy files or directories.
    pub policy: Option<Vec<PathBuf>>,
    /// The evidence log.
    pub evidence: Option<PathBuf>,
    /// Write allow events to the evidence log too.
    pub evidence_all: Option<bool>,
    /// Rotate the evidence log at this size.
    pub evidence_max_bytes: Option<u64>,
    /// Rotated evidence files to keep.
    pub evidence_keep: Option<u32>,
    /// fsync every N evidence lines.
    pub evidence_sync_every: Option<u32>,
    /// Metric series budget.
    pub series_budget: Option<usize>,
    /// Policy decisions cached.
    pub cache_entries: Option<usize>,
    /// Where /metrics listens.
    pub listen: Option<SocketAddr>,
    /// Serve /metrics at all.
    pub metrics: Option<bool>,
    /// Export OTLP.
    pub otlp: Option<bool>,
    /// How to read the rings: "auto", "mmap" or "read".
    pub source: Option<crate::run::SourceMode>,
}

/// A settings file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// Unreadable.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not valid TOML, an unknown key, or a value of the wrong type.
    #[error("{path}:{line}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

impl Settings {
    /// Reads `path`.
    pub fn load(path: &Path) -> Result<Self, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Io { path: path.into(), source })?;
        Self::parse(&text, path)
    }

    /// Parses settings text; `path` names it in errors and anchors relative
    /// paths.
    pub fn parse(text: &str, path: &Path) -> Result<Self, SettingsError> {
        let mut settings: Settings = toml::from_str(text).map_err(|e| SettingsError::Invalid {
            path: path.into(),
            line: e
                .span()
                .map_or(1, |s| text.as_bytes()[..s.start.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1),
            message: e.message().trim().to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let anchor = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        for p in [&mut settings.device, &mut settings.inventory, &mut settings.evidence].into_iter().flatten() {
            anchor(p);
        }
        for p in settings.policy.iter_mut().flatten() {
            anchor(p);
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_anchors_relative_paths() {
        let s = Settings::parse(
            "inventory = \"inventory.toml\"\npolicy = [\"policy\", \"/etc/witness/extra.cedar\"]\nlisten = \"0.0.0.0:9750\"\notlp = true\n",
            Path::new("/etc/witness/witness.toml"),
        )
        .unwrap();
        assert_eq!(s.inventory.as_deref(), Some(Path::new("/etc/witness/inventory.toml")));
        assert_eq!(
            s.policy.unwrap(),
            vec![PathBuf::from("/etc/witness/policy"), PathBuf::from("/etc/witness/extra.cedar")]
        );
        assert_eq!(s.listen, Some("0.0.0.0:9750".parse().unwrap()));
        assert_eq!(s.otlp, Some(true));
        assert_eq!(s.evidence, None);
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let err =
            Settings::parse("otlp = true\nevidence_keep = \"four\"\n", Path::new("w.toml")).unwrap_err().to_string();
        assert!(err.starts_with("w.toml:2: "), "{err}");
        let err = Settings::parse("\n\nlisen = \"127.0.0.1:1\"\n", Path::new("w.toml")).unwrap_err().to_string();
        assert!(err.starts_with("w.toml:3: ") && err.contains("lisen"), "{err}");
        let err = Settings::parse("listen = \"localhost\"\n", Path::new("w.toml")).unwrap_err().to_string();
        assert!(err.starts_with("w.toml:1: "), "{err}");
    }
}
