//! The identity inventory: a TOML file of declared workloads.
//!
//! ```toml
//! [[workload]]
//! spiffe_id = "spiffe://example.org/payments/api"
//! owner = "team-payments"
//! selectors = ["unix:uid:1234", "cgroup:path:/demo*"]
//! peers = ["spiffe://example.org/payments/db", "10.0.0.0/8:5432", "[::1/128]:443"]
//! ```
//!
//! Every error names the file and line. Attribution follows the rule in
//! [`crate::identity`]: all selectors of an entry must match; the entry with
//! the most selectors wins; ties go to the earlier entry.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Deserialize;
use thiserror::Error;
use toml::Spanned;

use super::selector::{Selector, Subject};
use super::spiffe::SpiffeId;

/// Why an inventory cannot be used.
#[derive(Debug, Error)]
pub enum InventoryError {
    /// The file cannot be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the inventory's shape.
    #[error("{path}:{line}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What the parser said.
        message: String,
    },
    /// A value is invalid (SPIFFE ID, selector, peer, duplicate entry).
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

/// A declared peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    /// Another workload.
    Spiffe(SpiffeId),
    /// A network and optional port.
    Net {
        /// The network.
        net: IpNet,
        /// The port (None: any).
        port: Option<u16>,
    },
}

impl Peer {
    /// Parses `spiffe://...`, `A.B.C.D/N[:PORT]` or `[V6/N][:PORT]`.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s.starts_with("spiffe://") {
            return SpiffeId::parse(s).map(Peer::Spiffe).map_err(|e| e.to_string());
        }
        let (net, port) = if let Some(rest) = s.strip_prefix('[') {
            let (net, tail) = rest.split_once(']').ok_or_else(|| format!("peer '{s}': missing ']'"))?;
            (net, tail.strip_prefix(':'))
        } else {
            match s.rsplit_once(':') {
                Some((net, port)) => (net, Some(port)),
                None => (s, None),
            }
        };
        let net: IpNet =
            net.parse().map_err(|_| format!("peer '{s}': '{net}' is not a CIDR network (e.g. 10.0.0.0/8)"))?;
        let port = port.map(|p| p.parse::<u16>().map_err(|_| format!("peer '{s}': bad port '{p}'"))).transpose()?;
        Ok(Peer::Net { net, port })
    }

    /// Whether an address and port is this peer.
    pub fn matches_addr(&self, addr: IpAddr, port: u16) -> bool {
        match self {
            Peer::Net { net, port: p } => net.contains(&addr) && p.is_none_or(|p| p == port),
            Peer::Spiffe(_) => false,
        }
    }
}

/// A declared workload.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Its identity.
    pub spiffe_id: SpiffeId,
    /// Who answers for it.
    pub owner: String,
    /// What a process must have to be it.
    pub selectors: Vec<Selector>,
    /// Who it may talk to.
    pub peers: Vec<Peer>,
    /// Line of its `[[workload]]` entry.
    pub line: usize,
}

/// A loaded inventory.
#[derive(Clone, Debug, Default)]
pub struct Inventory {
    /// Entries in file order.
    pub workloads: Vec<Workload>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    workload: Vec<Spanned<WorkloadDoc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkloadDoc {
    spiffe_id: Spanned<String>,
    owner: Spanned<String>,
    selectors: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    peers: Vec<Spanned<String>>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

impl Inventory {
    /// Reads and validates an inventory file.
    pub fn load(path: &Path) -> Result<Self, InventoryError> {
        let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Io { path: path.into(), source })?;
        Self::parse(&text, path)
    }

    /// Validates inventory text; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, InventoryError> {
        let doc: FileDoc = toml::from_str(text).map_err(|e| InventoryError::Syntax {
            path: path.into(),
            line: e.span().map_or(1, |s| line_of(text, s.start)),
            message: e.message().to_string(),
        })?;
        let invalid = |offset: usize, message: String| InventoryError::Invalid {
            path: path.into(),
            line: line_of(text, offset),
            message,
        };
        let mut workloads: Vec<Workload> = Vec::new();
        for entry in doc.workload {
            let entry_line = line_of(text, entry.span().start);
            let w = entry.into_inner();
            let id =
                SpiffeId::parse(w.spiffe_id.get_ref()).map_err(|e| invalid(w.spiffe_id.span().start, e.to_string()))?;
            if let Some(first) = workloads.iter().find(|x| x.spiffe_id == id) {
                return Err(invalid(
                    w.spiffe_id.span().start,
                    format!("{id} is already declared at line {}", first.line),
                ));
            }
            if w.owner.get_ref().trim().is_empty() {
                return Err(invalid(w.owner.span().start, "owner must not be empty".into()));
            }
            if w.selectors.get_ref().is_empty() {
                return Err(invalid(
                    w.selectors.span().start,
                    format!("{id} has no selectors: it would match every process"),
                ));
            }
            let selectors = w
                .selectors
                .get_ref()
                .iter()
                .map(|s| Selector::parse(s.get_ref()).map_err(|e| invalid(s.span().start, e.to_string())))
                .collect::<Result<_, _>>()?;
            let peers = w
                .peers
                .iter()
                .map(|p| Peer::parse(p.get_ref()).map_err(|e| invalid(p.span().start, e)))
                .collect::<Result<_, _>>()?;
            workloads.push(Workload { spiffe_id: id, owner: w.owner.into_inner(), selectors, peers, line: entry_line });
        }
        Ok(Self { workloads })
    }

    /// The workload a process is, or None (unattested).
    pub fn attribute(&self, subject: &Subject<'_>) -> Option<&Workload> {
        let mut best: Option<&Workload> = None;
        for w in &self.workloads {
            if w.selectors.iter().all(|s| s.matches(subject))
                && best.is_none_or(|b| w.selectors.len() > b.selectors.len())
            {
                best = Some(w);
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[workload]]
spiffe_id = "spiffe://example.org/payments/api"
owner = "team-payments"
selectors = ["unix:uid:1234"]
peers = ["spiffe://example.org/payments/db", "10.0.0.0/8:5432", "[::1/128]:443"]

[[workload]]
spiffe_id = "spiffe://example.org/payments/api-canary"
owner = "team-payments"
selectors = ["unix:uid:1234", "cgroup:path:/canary*"]

[[workload]]
spiffe_id = "spiffe://example.org/batch"
owner = "team-data"
selectors = ["unix:gid:100"]
"#;

    fn parse(text: &str) -> Result<Inventory, InventoryError> {
        Inventory::parse(text, Path::new("inventory.toml"))
    }

    #[test]
    fn loads_and_attributes_with_precedence() {
        let inv = parse(GOOD).unwrap();
        assert_eq!(inv.workloads.len(), 3);
        assert_eq!(inv.workloads[1].line, 8);
        let api = Subject { uid: Some(1234), cgroup: Some("/system.slice/api.service"), ..Default::default() };
        assert_eq!(inv.attribute(&api).unwrap().spiffe_id.as_str(), "spiffe://example.org/payments/api");
        // More selectors matched wins.
        let canary = Subject { uid: Some(1234), cgroup: Some("/canary-1"), ..Default::default() };
        assert_eq!(inv.attribute(&canary).unwrap().spiffe_id.as_str(), "spiffe://example.org/payments/api-canary");
        // A tie goes to the earlier entry.
        let both = Subject { uid: Some(1234), gid: Some(100), ..Default::default() };
        assert_eq!(inv.attribute(&both).unwrap().spiffe_id.as_str(), "spiffe://example.org/payments/api");
        assert!(inv.attribute(&Subject { uid: Some(0), ..Default::default() }).is_none(), "unattested");
        let peers = &inv.workloads[0].peers;
        assert!(peers[1].matches_addr("10.1.2.3".parse().unwrap(), 5432));
        assert!(!peers[1].matches_addr("10.1.2.3".parse().unwrap(), 80));
        assert!(peers[2].matches_addr("::1".parse().unwrap(), 443));
    }

    #[test]
    fn errors_name_file_and_line() {
        let cases = [
            (GOOD.replace("spiffe://example.org/batch", "spiffe://Example.org/batch"), 14, "bad trust domain"),
            (GOOD.replace("\"unix:gid:100\"", "\"unix:gid:staff\""), 16, "gid must be a number"),
            (GOOD.replace("10.0.0.0/8:5432", "10.0.0.0:5432"), 6, "not a CIDR network"),
            (
                GOOD.replace("spiffe://example.org/batch", "spiffe://example.org/payments/api"),
                14,
                "already declared at line 2",
            ),
            (GOOD.replace("owner = \"team-data\"", "owner = \" \""), 15, "owner must not be empty"),
            (GOOD.replace("selectors = [\"unix:gid:100\"]", "selectors = []"), 16, "no selectors"),
            (GOOD.replace("owner = \"team-data\"", "owner = \"team-data\"\ncolour = \"red\""), 16, "unknown field"),
            ("[[workload]\n".to_string(), 1, ""),
        ];
        for (text, line, want) in cases {
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.starts_with(&format!("inventory.toml:{line}: ")), "{err}");
            assert!(err.contains(want), "{err}");
        }
    }
}
