//! The identity inventory: a TOML file of declared workloads.
//!
//! ```toml
//! [[workload]]
//! spiffe_id = "spiffe://example.org/payments/api"
//! owner = "team-payments"
//! selectors = ["unix:uid:1234", "cgroup:path:/demo*"]
//! peers = ["spiffe://example.org/payments/db", "10.0.0.0/8:5432", "[::1/128]:443"]
//! binaries = ["/usr/bin/api", "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]
//! secrets = ["/etc/payments/*.key"]
//! ```
//!
//! `peers`, `binaries` and `secrets` declare intent; departures from them
//! are divergences (see [`crate::policy::Divergence`]): a connection to a
//! peer not declared (checked only when `peers` is given), an exec of a
//! binary that is none of `binaries` (by path or digest; checked only when
//! given), and a file matching another workload's `secrets` glob opened by
//! this one.
//!
//! Every error names the file and line. Attribution follows the rule in
//! [`crate::identity`]: all selectors of an entry must match; the entry with
//! the most selectors wins; ties go to the earlier entry.
//!
//! Both questions the hot path asks (which entry is this process, whose
//! secret is this path) are answered from an index built at load time, not
//! by walking every entry: an inventory of thousands of workloads costs a
//! few hash lookups per question. Each entry is filed under one of its
//! exact selectors (digest, container, pod, path, uid, namespace, gid, in
//! that order of preference); entries with only `cgroup:path` globs are
//! checked one by one. Each secret glob is filed under the directory part
//! of its literal prefix, so a path is checked only against globs that can
//! match it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Deserialize;
use thiserror::Error;
use toml::Spanned;

use super::selector::{Selector, Subject};
use super::spiffe::SpiffeId;
use crate::text::{AtLine, Lines};

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
    #[error(transparent)]
    Syntax(AtLine),
    /// A value is invalid (SPIFFE ID, selector, peer, duplicate entry).
    #[error(transparent)]
    Invalid(AtLine),
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
        } else if s.parse::<IpAddr>().is_ok() || s.parse::<IpNet>().is_ok() {
            // An IPv6 address or network without a port has colons too.
            (s, None)
        } else {
            match s.rsplit_once(':') {
                Some((net, port)) => (net, Some(port)),
                None => (s, None),
            }
        };
        let net: IpNet = net.parse().map_err(|_| match net.parse::<IpAddr>() {
            // A bare address: say how to write one host.
            Ok(ip) => format!("peer '{s}': '{net}' is not a CIDR network; one host is {}", IpNet::from(ip)),
            Err(_) => format!("peer '{s}': '{net}' is not a CIDR network (e.g. 10.0.0.0/8)"),
        })?;
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

/// As the inventory writes it.
impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Spiffe(id) => f.write_str(id.as_str()),
            Peer::Net { net: IpNet::V6(net), port: Some(port) } => write!(f, "[{net}]:{port}"),
            Peer::Net { net, port: Some(port) } => write!(f, "{net}:{port}"),
            Peer::Net { net, port: None } => write!(f, "{net}"),
        }
    }
}

/// As the inventory writes it.
impl std::fmt::Display for Binary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Binary::Path(p) => f.write_str(p),
            Binary::Sha256(d) => write!(f, "sha256:{}", crate::text::hex(d)),
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
    /// Programs it may execute (empty: not checked).
    pub binaries: Vec<Binary>,
    /// Paths (globs) that are its secrets.
    pub secrets: Vec<glob::Pattern>,
    /// Line of its `[[workload]]` entry.
    pub line: usize,
}

/// A declared binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Binary {
    /// By absolute path.
    Path(String),
    /// By SHA-256 digest.
    Sha256([u8; 32]),
}

impl Binary {
    /// Parses an absolute path or `sha256:<64 hex>`.
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Some(hex) = s.strip_prefix("sha256:") {
            return super::selector::hex32(hex)
                .map(Binary::Sha256)
                .ok_or_else(|| format!("binary '{s}': digest must be 64 hex digits"));
        }
        if s.starts_with('/') {
            Ok(Binary::Path(s.to_string()))
        } else {
            Err(format!("binary '{s}': must be an absolute path or sha256:<64 hex digits>"))
        }
    }
}

impl Workload {
    /// Whether an executed program (path, digest if known) is declared.
    /// True when the workload declares no binaries.
    pub fn declares_binary(&self, path: &str, sha256: Option<&[u8; 32]>) -> bool {
        self.binaries.is_empty()
            || self.binaries.iter().any(|b| match b {
                Binary::Path(p) => p == path,
                Binary::Sha256(d) => Some(d) == sha256,
            })
    }

    /// Whether any declared binary is named by digest (so execs need one).
    pub fn needs_digest(&self) -> bool {
        self.binaries.iter().any(|b| matches!(b, Binary::Sha256(_)))
            || self.selectors.iter().any(|s| matches!(s, Selector::Sha256(_)))
    }

    /// Whether `path` is one of its secrets.
    pub fn owns_secret(&self, path: &str) -> bool {
        self.secrets.iter().any(|g| g.matches(path))
    }
}

/// A loaded inventory.
#[derive(Clone, Debug, Default)]
pub struct Inventory {
    workloads: Vec<Workload>,
    index: Index,
    digest: Option<String>,
}

/// The index's maps. Their keys come from the inventory; lookups come with
/// event data on every event, and SipHash showed in the profile. foldhash
/// is seeded per process, and a lookup cannot grow a map.
type Fast<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// Where to look first; see the module docs.
#[derive(Clone, Debug, Default)]
struct Index {
    uid: Fast<u32, Vec<u32>>,
    gid: Fast<u32, Vec<u32>>,
    exe: Fast<String, Vec<u32>>,
    sha256: Fast<[u8; 32], Vec<u32>>,
    container: Fast<String, Vec<u32>>,
    pod: Fast<String, Vec<u32>>,
    /// Entries with glob selectors only.
    scan: Vec<u32>,
    /// Secret globs by the directory of their literal prefix: (entry, glob).
    secrets: Fast<String, Vec<(u32, u32)>>,
    /// Bit d set when some key of `secrets` has d + 1 slashes (bit 63: 64
    /// or more): a path's prefixes at other depths are not looked up, so a
    /// file open in a deep tree costs a lookup or two, not one per level.
    secret_depths: u64,
}

/// How specific a selector is as an index key (higher: fewer entries
/// share a value); None for globs.
fn key_rank(s: &Selector) -> Option<u8> {
    match s {
        Selector::Sha256(_) => Some(7),
        Selector::ContainerId(_) => Some(6),
        Selector::K8sPodUid(_) => Some(5),
        Selector::Path(_) => Some(4),
        Selector::Uid(_) => Some(3),
        Selector::Gid(_) => Some(1),
        Selector::CgroupPath(_)
        | Selector::K8sNamespace(_)
        | Selector::K8sPodName(_)
        | Selector::K8sPodLabel(..)
        | Selector::K8sContainerName(_)
        | Selector::K8sServiceAccount(_) => None,
    }
}

/// The directory part of a glob's literal prefix: every path the glob
/// matches starts with it.
fn glob_dir(glob: &str) -> &str {
    let literal = glob.find(['*', '?', '[']).map_or(glob, |i| &glob[..i]);
    literal.rfind('/').map_or("/", |i| &literal[..=i])
}

impl Index {
    fn build(workloads: &[Workload]) -> Self {
        let mut ix = Self::default();
        for (i, w) in workloads.iter().enumerate() {
            // CAST: an inventory has far fewer than 2^32 entries (it is a
            // file a person writes).
            let i = i as u32;
            match w.selectors.iter().filter(|s| key_rank(s).is_some()).max_by_key(|s| key_rank(s)) {
                Some(Selector::Sha256(d)) => ix.sha256.entry(*d).or_default().push(i),
                Some(Selector::ContainerId(c)) => ix.container.entry(c.clone()).or_default().push(i),
                Some(Selector::K8sPodUid(p)) => ix.pod.entry(p.clone()).or_default().push(i),
                Some(Selector::Path(p)) => ix.exe.entry(p.clone()).or_default().push(i),
                Some(Selector::Uid(u)) => ix.uid.entry(*u).or_default().push(i),
                Some(Selector::Gid(g)) => ix.gid.entry(*g).or_default().push(i),
                Some(_) | None => ix.scan.push(i),
            }
            for (j, g) in w.secrets.iter().enumerate() {
                // CAST: as above, a handful of globs per entry.
                let dir = glob_dir(g.as_str());
                ix.secret_depths |= 1 << (dir.matches('/').count() - 1).min(63);
                ix.secrets.entry(dir.to_string()).or_default().push((i, j as u32));
            }
        }
        ix
    }

    /// Entries that can match the subject: every entry whose key selector
    /// the subject has, and the glob-only ones.
    fn candidates(&self, s: &Subject<'_>, out: &mut Vec<u32>) {
        fn add<K: std::hash::Hash + Eq + std::borrow::Borrow<Q>, Q: std::hash::Hash + Eq + ?Sized>(
            map: &Fast<K, Vec<u32>>,
            key: Option<&Q>,
            out: &mut Vec<u32>,
        ) {
            if let Some(v) = key.and_then(|k| map.get(k)) {
                out.extend_from_slice(v);
            }
        }
        add(&self.uid, s.uid.as_ref(), out);
        add(&self.gid, s.gid.as_ref(), out);
        add(&self.exe, s.exe, out);
        add(&self.sha256, s.sha256.as_ref(), out);
        if !self.container.is_empty() {
            add(&self.container, s.container_id.map(str::to_ascii_lowercase).as_deref(), out);
        }
        if !self.pod.is_empty() {
            add(&self.pod, s.k8s_pod_uid.map(str::to_ascii_lowercase).as_deref(), out);
        }
        out.extend_from_slice(&self.scan);
    }
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
    #[serde(default)]
    binaries: Vec<Spanned<String>>,
    #[serde(default)]
    secrets: Vec<Spanned<String>>,
}

impl Inventory {
    /// Reads and validates an inventory file.
    pub fn load(path: &Path) -> Result<Self, InventoryError> {
        let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Io { path: path.into(), source })?;
        Self::parse(&text, path)
    }

    /// Validates inventory text; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, InventoryError> {
        let lines = Lines::new(text);
        let doc: FileDoc = toml::from_str(text).map_err(|e| {
            InventoryError::Syntax(AtLine {
                path: path.into(),
                line: e.span().map_or(1, |s| lines.line_of(s.start)),
                message: e.message().to_string(),
            })
        })?;
        let invalid = |offset: usize, message: String| {
            InventoryError::Invalid(AtLine { path: path.into(), line: lines.line_of(offset), message })
        };
        let mut workloads: Vec<Workload> = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        // Selector sets (sorted) seen so far, with the entry that has them.
        let mut sets: HashMap<Vec<String>, (String, usize)> = HashMap::new();
        for entry in doc.workload {
            let entry_line = lines.line_of(entry.span().start);
            let w = entry.into_inner();
            let id =
                SpiffeId::parse(w.spiffe_id.get_ref()).map_err(|e| invalid(w.spiffe_id.span().start, e.to_string()))?;
            if let Some(first) = seen.insert(id.as_str().to_string(), entry_line) {
                return Err(invalid(w.spiffe_id.span().start, format!("{id} is already declared at line {first}")));
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
            let selectors: Vec<Selector> = w
                .selectors
                .get_ref()
                .iter()
                .map(|s| Selector::parse(s.get_ref()).map_err(|e| invalid(s.span().start, e.to_string())))
                .collect::<Result<_, _>>()?;
            // The earlier of two entries with the same selectors wins every
            // tie: the later could never match.
            let mut set: Vec<String> = selectors.iter().map(ToString::to_string).collect();
            set.sort();
            set.dedup();
            if let Some((other, line)) = sets.get(&set) {
                return Err(invalid(
                    w.selectors.span().start,
                    format!(
                        "{id} has the selectors of {other} (line {line}), which wins every tie: it could never match"
                    ),
                ));
            }
            sets.insert(set, (id.as_str().to_string(), entry_line));
            let peers = w
                .peers
                .iter()
                .map(|p| Peer::parse(p.get_ref()).map_err(|e| invalid(p.span().start, e)))
                .collect::<Result<_, _>>()?;
            let binaries = w
                .binaries
                .iter()
                .map(|b| Binary::parse(b.get_ref()).map_err(|e| invalid(b.span().start, e)))
                .collect::<Result<_, _>>()?;
            let secrets = w
                .secrets
                .iter()
                .map(|g| {
                    let text = g.get_ref();
                    if !text.starts_with('/') {
                        return Err(invalid(
                            g.span().start,
                            format!("secret '{text}': must be an absolute path or glob"),
                        ));
                    }
                    glob::Pattern::new(text).map_err(|e| invalid(g.span().start, format!("secret '{text}': {e}")))
                })
                .collect::<Result<_, _>>()?;
            workloads.push(Workload {
                spiffe_id: id,
                owner: w.owner.into_inner(),
                selectors,
                peers,
                binaries,
                secrets,
                line: entry_line,
            });
        }
        Ok(Self { digest: Some(crate::evidence::sha256_tag(text.as_bytes())), ..Self::new(workloads) })
    }

    /// `sha256:` of the inventory's text (None for one built in code):
    /// evidence names the inventory in force by it.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// An inventory of these entries (in file order).
    pub fn new(workloads: Vec<Workload>) -> Self {
        let index = Index::build(&workloads);
        Self { workloads, index, digest: None }
    }

    /// The entries in file order.
    pub fn workloads(&self) -> &[Workload] {
        &self.workloads
    }

    /// The workload a process is, or None (unattested).
    pub fn attribute(&self, subject: &Subject<'_>) -> Option<&Workload> {
        self.attribute_index(subject).map(|i| &self.workloads[i])
    }

    /// The index (file position) of the workload a process is.
    pub fn attribute_index(&self, subject: &Subject<'_>) -> Option<usize> {
        let mut candidates = Vec::new();
        self.index.candidates(subject, &mut candidates);
        let mut best: Option<(usize, usize)> = None; // (selectors, entry)
        for &c in &candidates {
            // CAST: u32 to usize widens.
            let c = c as usize;
            let w = &self.workloads[c];
            let n = w.selectors.len();
            if best.is_none_or(|(bn, bc)| n > bn || (n == bn && c < bc))
                && w.selectors.iter().all(|s| s.matches(subject))
            {
                best = Some((n, c));
            }
        }
        best.map(|(_, c)| c)
    }

    /// The files the secret globs name on this host now, each with the
    /// index of its owner (the first entry whose glob matches, as for
    /// [`Inventory::secret_owner`]); at most `max` files.
    pub fn secret_files(&self, max: usize) -> Vec<(PathBuf, u32)> {
        let options = glob::MatchOptions { require_literal_separator: true, ..Default::default() };
        let mut out: Vec<(PathBuf, u32)> = Vec::new();
        for (i, w) in self.workloads.iter().enumerate() {
            for g in &w.secrets {
                let Ok(paths) = glob::glob_with(g.as_str(), options) else { continue };
                for path in paths.flatten() {
                    if out.len() >= max {
                        return out;
                    }
                    // CAST: as in `Index::build`.
                    out.push((path, i as u32));
                }
            }
        }
        out
    }

    /// The workload declaring `path` a secret, if any (the first in file
    /// order).
    pub fn secret_owner(&self, path: &str) -> Option<&Workload> {
        self.secret_owner_index(path).map(|w| &self.workloads[w as usize])
    }

    /// The index of the workload declaring `path` a secret, if any.
    pub fn secret_owner_index(&self, path: &str) -> Option<u32> {
        if self.index.secrets.is_empty() || !path.starts_with('/') {
            return None;
        }
        let mut first: Option<u32> = None;
        let depths = self.index.secret_depths;
        for (depth, (i, _)) in path.match_indices('/').enumerate() {
            let depth = depth.min(63);
            if depths >> depth == 0 {
                break;
            }
            if depths & (1 << depth) == 0 {
                continue;
            }
            let Some(globs) = self.index.secrets.get(&path[..=i]) else { continue };
            for &(w, g) in globs {
                if first.is_none_or(|f| w < f) && self.workloads[w as usize].secrets[g as usize].matches(path) {
                    first = Some(w);
                }
            }
        }
        first
    }

    /// The workload with this SPIFFE ID (not on the hot path).
    pub fn by_id(&self, id: &str) -> Option<(usize, &Workload)> {
        self.workloads.iter().enumerate().find(|(_, w)| w.spiffe_id.as_str() == id)
    }

    /// Whether any selector or declared binary needs executable digests.
    pub fn needs_digest(&self) -> bool {
        self.workloads.iter().any(Workload::needs_digest)
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
binaries = ["/usr/bin/api", "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"]
secrets = ["/etc/payments/*.key"]

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
        assert_eq!(inv.workloads().len(), 3);
        assert_eq!(inv.workloads()[1].line, 10);
        let api = &inv.workloads()[0];
        assert!(api.declares_binary("/usr/bin/api", None));
        assert!(!api.declares_binary("/usr/bin/curl", Some(&[0; 32])));
        assert!(api.needs_digest() && inv.needs_digest());
        assert!(inv.workloads()[2].declares_binary("/anything", None), "no binaries declared: not checked");
        assert_eq!(inv.secret_owner("/etc/payments/tls.key").unwrap().spiffe_id.as_str(), api.spiffe_id.as_str());
        assert!(inv.secret_owner("/etc/passwd").is_none());
        let api = Subject { uid: Some(1234), cgroup: Some("/system.slice/api.service"), ..Default::default() };
        assert_eq!(inv.attribute(&api).unwrap().spiffe_id.as_str(), "spiffe://example.org/payments/api");
        // More selectors matched wins.
        let canary = Subject { uid: Some(1234), cgroup: Some("/canary-1"), ..Default::default() };
        assert_eq!(inv.attribute(&canary).unwrap().spiffe_id.as_str(), "spiffe://example.org/payments/api-canary");
        // A tie goes to the earlier entry.
        let both = Subject { uid: Some(1234), gid: Some(100), ..Default::default() };
        assert_eq!(inv.attribute(&both).unwrap().spiffe_id.as_str(), "spiffe://example.org/payments/api");
        assert!(inv.attribute(&Subject { uid: Some(0), ..Default::default() }).is_none(), "unattested");
        let peers = &inv.workloads()[0].peers;
        assert!(peers[1].matches_addr("10.1.2.3".parse().unwrap(), 5432));
        assert!(!peers[1].matches_addr("10.1.2.3".parse().unwrap(), 80));
        assert!(peers[2].matches_addr("::1".parse().unwrap(), 443));
    }

    /// The index answers exactly as walking every entry would.
    #[test]
    fn index_agrees_with_a_full_walk() {
        let mut text = String::new();
        let selectors = [
            "\"unix:uid:{u}\"",
            "\"unix:gid:{g}\"",
            "\"unix:uid:{u}\", \"unix:gid:{g}\"",
            "\"unix:path:/bin/p{u}\"",
            "\"cgroup:path:/pods/{g}/*\"",
            "\"unix:uid:{u}\", \"cgroup:path:/pods/*\"",
            "\"container:id:{c}\"",
            "\"k8s:pod-uid:POD-{g}\", \"unix:gid:{g}\"",
        ];
        let secrets = ["/srv/{u}/*.key", "/srv/{u}/exact", "/etc/sec*/{g}", "/[ab]*/x{u}", "/etc/*"];
        let mut used = std::collections::HashSet::new();
        for n in 0..120u32 {
            let (u, g) = (n % 7, n % 5);
            let c = format!("{:064x}", n % 3);
            let sel =
                selectors[n as usize % selectors.len()].replace("{u}", &u.to_string()).replace("{g}", &g.to_string());
            let sel = sel.replace("{c}", &c);
            // Entries with the same selectors are refused (the later could
            // never match).
            if !used.insert(sel.clone()) {
                continue;
            }
            let sec = secrets[n as usize % secrets.len()].replace("{u}", &u.to_string()).replace("{g}", &g.to_string());
            text.push_str(&format!(
                "[[workload]]\nspiffe_id = \"spiffe://t.test/w{n}\"\nowner = \"o\"\nselectors = [{sel}]\nsecrets = [\"{sec}\"]\n"
            ));
        }
        let inv = parse(&text).unwrap();
        let walk = |s: &Subject<'_>| {
            let mut best: Option<usize> = None;
            for (i, w) in inv.workloads().iter().enumerate() {
                if w.selectors.iter().all(|x| x.matches(s))
                    && best.is_none_or(|b| w.selectors.len() > inv.workloads()[b].selectors.len())
                {
                    best = Some(i);
                }
            }
            best
        };
        let mut checked = 0;
        for u in 0..8 {
            for g in 0..6 {
                for cg in [None, Some(format!("/pods/{g}/x")), Some("/other".to_string())] {
                    let c = format!("{:064X}", u % 4);
                    let pod = format!("pod-{g}");
                    let exe = format!("/bin/p{u}");
                    let s = Subject {
                        uid: Some(u),
                        gid: Some(g),
                        exe: Some(&exe),
                        cgroup: cg.as_deref(),
                        container_id: Some(&c),
                        k8s_pod_uid: Some(&pod),
                        ..Default::default()
                    };
                    assert_eq!(inv.attribute_index(&s), walk(&s), "{s:?}");
                    checked += usize::from(walk(&s).is_some());
                }
            }
        }
        assert!(checked > 50, "the subjects must mostly match something ({checked})");
        for path in [
            "/srv/3/a.key",
            "/srv/3/exact",
            "/srv/3/exactly",
            "/etc/secrets/2",
            "/etc/x",
            "/etc/secrets/2/deeper/still",
            "/srv/3/deep/er/a.key",
            "/a/b/x1",
            "/b/x4",
            "/",
            "rel",
        ] {
            let walked = inv.workloads().iter().find(|w| w.owns_secret(path)).map(|w| w.spiffe_id.as_str());
            assert_eq!(inv.secret_owner(path).map(|w| w.spiffe_id.as_str()), walked, "{path}");
        }
        assert_eq!(inv.by_id("spiffe://t.test/w7").map(|(i, _)| i), Some(7));
        assert!(inv.by_id("spiffe://t.test/none").is_none());
    }

    #[test]
    fn errors_name_file_and_line() {
        let cases = [
            (GOOD.replace("spiffe://example.org/batch", "spiffe://Example.org/batch"), 16, "bad trust domain"),
            (GOOD.replace("\"unix:gid:100\"", "\"unix:gid:staff\""), 18, "gid must be a number"),
            (GOOD.replace("10.0.0.0/8:5432", "10.0.0.0:5432"), 6, "not a CIDR network"),
            (
                GOOD.replace("spiffe://example.org/batch", "spiffe://example.org/payments/api"),
                16,
                "already declared at line 2",
            ),
            (GOOD.replace("owner = \"team-data\"", "owner = \" \""), 17, "owner must not be empty"),
            (GOOD.replace("selectors = [\"unix:gid:100\"]", "selectors = []"), 18, "no selectors"),
            (GOOD.replace("owner = \"team-data\"", "owner = \"team-data\"\ncolour = \"red\""), 18, "unknown field"),
            ("[[workload]\n".to_string(), 1, ""),
            (GOOD.replace("\"/usr/bin/api\"", "\"api\""), 7, "absolute path or sha256"),
            (GOOD.replace("sha256:9f86", "sha256:9g86"), 7, "64 hex digits"),
            (GOOD.replace("/etc/payments/*.key", "etc/*.key"), 8, "absolute path or glob"),
            (GOOD.replace("10.0.0.0/8:5432", "10.1.2.3:5432"), 6, "one host is 10.1.2.3/32"),
            (GOOD.replace("10.0.0.0/8:5432", "fd00::7"), 6, "one host is fd00::7/128"),
            // An entry with another's selectors (in any order) never matches.
            (
                GOOD.replace("\"unix:gid:100\"", "\"cgroup:path:/canary*\", \"unix:uid:1234\""),
                18,
                "has the selectors of spiffe://example.org/payments/api-canary (line 10)",
            ),
        ];
        for (text, line, want) in cases {
            let err = parse(&text).unwrap_err().to_string();
            assert!(err.starts_with(&format!("inventory.toml:{line}: ")), "{err}");
            assert!(err.contains(want), "{err}");
        }
    }
}
