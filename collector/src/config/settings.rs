//! The daemon's settings file: `witness run --config FILE`.
//!
//! A TOML file whose keys are `witness run`'s long flags with `_` for `-`
//! (see `examples/witness.toml`). A flag given on the command line wins over
//! the file; the file wins over the flag's default. Relative paths in the
//! file are relative to the file's directory, so a config directory can be
//! moved as a whole. Unknown keys are errors (a misspelt key silently
//! ignored is a setting silently lost), and every error names the file and
//! line. SIGHUP re-reads the file ([`SettingsFile::reread`]).

use crate::text::AtLine;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Settings read from the file; `None` where the file says nothing.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The witness device.
    pub device: Option<PathBuf>,
    /// The identity inventory.
    pub inventory: Option<PathBuf>,
    /// Cedar policy files or directories.
    pub policy: Option<Vec<PathBuf>>,
    /// A candidate policy set judged beside them, never acted on.
    pub shadow_policy: Option<Vec<PathBuf>>,
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
    /// The Ed25519 key that signs checkpoints (created if absent).
    pub evidence_key: Option<PathBuf>,
    /// Lines between checkpoints, at most.
    pub evidence_checkpoint_lines: Option<u64>,
    /// Seconds between checkpoints, at most.
    #[serde(default, deserialize_with = "seconds_option")]
    pub evidence_checkpoint_seconds: Option<std::time::Duration>,
    /// Metric series budget.
    pub series_budget: Option<usize>,
    /// Policy decisions cached.
    pub cache_entries: Option<usize>,
    /// Where /metrics listens.
    #[serde(default, deserialize_with = "listen_option")]
    pub listen: Option<SocketAddr>,
    /// Serve /metrics at all.
    pub metrics: Option<bool>,
    /// TLS certificate chain for /metrics and /drift.
    pub listen_tls_cert: Option<PathBuf>,
    /// Its private key.
    pub listen_tls_key: Option<PathBuf>,
    /// The CA client certificates must be signed by.
    pub listen_client_ca: Option<PathBuf>,
    /// Export OTLP.
    pub otlp: Option<bool>,
    /// How to read the rings: "auto", "mmap" or "read".
    pub source: Option<crate::source::SourceMode>,
    /// The container runtime's CRI socket.
    pub cri_endpoint: Option<String>,
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
    #[error(transparent)]
    Invalid(AtLine),
}

/// Parses a `/metrics` listen address: `IP:PORT`. A host name is not
/// resolved, and the error says so.
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    s.parse().map_err(|_| {
        format!("'{s}' is not IP:PORT (for example 127.0.0.1:9750 or [::1]:9750; host names such as localhost are not resolved)")
    })
}

fn listen_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let s = <String as serde::Deserialize>::deserialize(d)?;
    parse_listen(&s).map(Some).map_err(serde::de::Error::custom)
}

fn seconds_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<std::time::Duration>, D::Error> {
    let secs = <f64 as serde::Deserialize>::deserialize(d)?;
    std::time::Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("{secs} is not a usable number of seconds (above 0)")))
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
        let mut settings: Settings = toml::from_str(text).map_err(|e| {
            SettingsError::Invalid(AtLine {
                path: path.into(),
                line: e.span().map_or(1, |s| crate::text::line_of(text, s.start)),
                message: e.message().trim().to_string(),
            })
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let anchor = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        for p in [
            &mut settings.device,
            &mut settings.inventory,
            &mut settings.evidence,
            &mut settings.evidence_key,
            &mut settings.listen_tls_cert,
            &mut settings.listen_tls_key,
            &mut settings.listen_client_ca,
        ]
        .into_iter()
        .flatten()
        {
            anchor(p);
        }
        for p in settings.policy.iter_mut().chain(settings.shadow_policy.iter_mut()).flatten() {
            anchor(p);
        }
        Ok(settings)
    }
}

/// What judging reads: the inventory, the policies, the decision cache
/// size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JudgeSources {
    /// The inventory.
    pub inventory: Option<PathBuf>,
    /// Policy files or directories.
    pub policy: Vec<PathBuf>,
    /// The shadow policy set's files or directories (empty: none).
    pub shadow_policy: Vec<PathBuf>,
    /// Decisions cached.
    pub cache_entries: usize,
}

/// A settings file as SIGHUP re-reads it: the judging sources apply (a
/// command-line flag still wins, and a key removed from the file goes back
/// to the flag's default); keys that only take effect at start are
/// reported when they changed.
#[derive(Clone, Debug)]
pub struct SettingsFile {
    /// The file.
    pub path: PathBuf,
    /// Ids of the `witness run` flags given on the command line.
    pub explicit: Vec<String>,
    /// The judging sources from the command line and defaults alone.
    pub base: JudgeSources,
    /// The file as read at start.
    pub at_start: Settings,
}

impl SettingsFile {
    /// Reads the file again: the judging sources to load, and the keys
    /// that changed but need a restart. Errors name the file and line.
    pub fn reread(&self) -> Result<(JudgeSources, Vec<&'static str>), SettingsError> {
        let now = Settings::load(&self.path)?;
        let wins = |id: &str| self.explicit.iter().any(|e| e == id);
        let sources = JudgeSources {
            inventory: match (&now.inventory, wins("inventory")) {
                (Some(p), false) => Some(p.clone()),
                _ => self.base.inventory.clone(),
            },
            policy: match (&now.policy, wins("policy")) {
                (Some(p), false) => p.clone(),
                _ => self.base.policy.clone(),
            },
            shadow_policy: match (&now.shadow_policy, wins("shadow_policy")) {
                (Some(p), false) => p.clone(),
                _ => self.base.shadow_policy.clone(),
            },
            cache_entries: match (now.cache_entries, wins("cache_entries")) {
                (Some(n), false) => n,
                _ => self.base.cache_entries,
            },
        };
        let (a, b) = (&self.at_start, &now);
        let restart_only = [
            ("device", a.device != b.device),
            ("evidence", a.evidence != b.evidence),
            ("evidence_all", a.evidence_all != b.evidence_all),
            ("evidence_max_bytes", a.evidence_max_bytes != b.evidence_max_bytes),
            ("evidence_keep", a.evidence_keep != b.evidence_keep),
            ("evidence_sync_every", a.evidence_sync_every != b.evidence_sync_every),
            ("evidence_key", a.evidence_key != b.evidence_key),
            ("evidence_checkpoint_lines", a.evidence_checkpoint_lines != b.evidence_checkpoint_lines),
            ("evidence_checkpoint_seconds", a.evidence_checkpoint_seconds != b.evidence_checkpoint_seconds),
            ("series_budget", a.series_budget != b.series_budget),
            ("listen", a.listen != b.listen),
            ("listen_tls_cert", a.listen_tls_cert != b.listen_tls_cert),
            ("listen_tls_key", a.listen_tls_key != b.listen_tls_key),
            ("listen_client_ca", a.listen_client_ca != b.listen_client_ca),
            ("metrics", a.metrics != b.metrics),
            ("otlp", a.otlp != b.otlp),
            ("source", a.source != b.source),
        ];
        Ok((sources, restart_only.iter().filter(|(_, changed)| *changed).map(|(k, _)| *k).collect()))
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
        // A host name gets a hint, not only "invalid socket address".
        let err = Settings::parse("listen = \"localhost:9750\"\n", Path::new("w.toml")).unwrap_err().to_string();
        assert!(
            err.starts_with("w.toml:1: ") && err.contains("127.0.0.1:9750") && err.contains("not resolved"),
            "{err}"
        );
        assert!(parse_listen("localhost:9750").unwrap_err().contains("not resolved"));
    }

    #[test]
    fn a_reread_applies_judging_sources_and_names_restart_only_changes() {
        let dir = std::env::temp_dir().join(format!("witness-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("witness.toml");
        std::fs::write(&path, "inventory = \"a.toml\"\npolicy = [\"p1\"]\nlisten = \"127.0.0.1:9750\"\n").unwrap();
        let base = JudgeSources { inventory: None, policy: vec![], shadow_policy: vec![], cache_entries: 4096 };
        let file = SettingsFile {
            path: path.clone(),
            explicit: vec!["cache_entries".into()],
            base: base.clone(),
            at_start: Settings::load(&path).unwrap(),
        };
        let (same, changed) = file.reread().unwrap();
        assert_eq!(same.inventory, Some(dir.join("a.toml")));
        assert!(changed.is_empty());

        // New policy, inventory key removed, a cache size the command line
        // overrides, a new listen address.
        std::fs::write(&path, "policy = [\"p2\"]\ncache_entries = 8\nlisten = \"127.0.0.1:9751\"\n").unwrap();
        let (now, changed) = file.reread().unwrap();
        assert_eq!(
            now,
            JudgeSources { inventory: None, policy: vec![dir.join("p2")], shadow_policy: vec![], cache_entries: 4096 }
        );
        assert_eq!(changed, ["listen"]);

        std::fs::write(&path, "policy = [\"p2\"]\n\ncache_entrys = 8\n").unwrap();
        let err = file.reread().unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}:3: ", path.display())), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
