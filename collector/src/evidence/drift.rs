//! Drift: what each workload did against what its inventory entry
//! declares, over a window of the evidence log. Per identity:
//!
//! - **declared but unused**: peers never connected to, binaries never
//!   run, secrets never opened in the window (a declaration wider than the
//!   behaviour: least privilege says remove it);
//! - **used but undeclared**: peers, binaries and other workloads' secrets
//!   the collector judged a divergence, with counts, first and last time
//!   and the chain position of an example line;
//! - **judged other than allow** by policy, counted by kind and outcome.
//!
//! "Unused" is only meaningful when every judged event is in the log, so
//! the report says whether the window's collectors ran with
//! `--evidence-all` (the `started` lines' `evidence`).

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Serialize;

pub use super::read::Query;
use super::read::{self, rfc3339, Entry, ReadError};
use crate::identity::inventory::{Binary, Peer, Workload};
use crate::identity::Inventory;

/// A declaration never exercised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Declared {
    /// `peer`, `binary` or `secret`.
    pub what: &'static str,
    /// As the inventory writes it.
    pub value: String,
}

/// Behaviour outside the declaration.
#[derive(Clone, Debug, Serialize)]
pub struct Undeclared {
    /// `peer`, `binary` or `secret`.
    pub what: &'static str,
    /// The peer (its SPIFFE ID, or the address), the executable, the
    /// other workload's secret.
    pub value: String,
    /// Events.
    pub count: u64,
    /// First, RFC 3339.
    pub first: String,
    /// Last.
    pub last: String,
    /// The chain position of the first event's line.
    pub example: u64,
}

/// Events judged other than allow.
#[derive(Clone, Debug, Serialize)]
pub struct NonAllow {
    /// Event kind.
    pub kind: String,
    /// Outcome.
    pub outcome: String,
    /// Events.
    pub count: u64,
}

/// One identity's drift.
#[derive(Clone, Debug, Serialize)]
pub struct Drift {
    /// The workload.
    pub identity: String,
    /// Its owner.
    pub owner: String,
    /// Its events in the window.
    pub events: u64,
    /// Declared, not used.
    pub declared_unused: Vec<Declared>,
    /// Used, not declared.
    pub used_undeclared: Vec<Undeclared>,
    /// Judged other than allow.
    pub non_allow: Vec<NonAllow>,
    /// Undeclared uses beyond those listed (the live tally keeps at most
    /// [`LIVE_UNDECLARED_MAX`] values per workload).
    #[serde(skip_serializing_if = "is_zero")]
    pub undeclared_not_kept: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The answer.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Which events the log holds (`all`, `not_allow`, `mixed`, `unknown`):
    /// unused declarations are only certain with `all`.
    pub evidence: String,
    /// Per identity, in inventory order.
    pub identities: Vec<Drift>,
}

/// One workload's tally while walking.
struct Tally<'w> {
    workload: &'w Workload,
    events: u64,
    peers: Vec<bool>,
    binaries: Vec<bool>,
    secrets: Vec<bool>,
    undeclared: BTreeMap<(&'static str, String), Undeclared>,
    non_allow: BTreeMap<(String, String), u64>,
}

impl<'w> Tally<'w> {
    fn new(workload: &'w Workload) -> Self {
        Self {
            workload,
            events: 0,
            peers: vec![false; workload.peers.len()],
            binaries: vec![false; workload.binaries.len()],
            secrets: vec![false; workload.secrets.len()],
            undeclared: BTreeMap::new(),
            non_allow: BTreeMap::new(),
        }
    }

    fn undeclared(&mut self, what: &'static str, value: String, e: &Entry<'_>) {
        let time = rfc3339(e.time_unix_ns);
        let u = self.undeclared.entry((what, value.clone())).or_insert_with(|| Undeclared {
            what,
            value,
            count: 0,
            first: time.clone(),
            last: time.clone(),
            example: e.n,
        });
        u.count += 1;
        u.last = time;
    }

    fn event(&mut self, e: &Entry<'_>) {
        let v = &e.value;
        self.events += 1;
        let kind = v["kind"].as_str().unwrap_or("");
        let outcome = v["outcome"].as_str().unwrap_or("");
        if outcome != "allow" {
            *self.non_allow.entry((kind.to_string(), outcome.to_string())).or_default() += 1;
        }
        let divergence = v["divergence"].as_str();
        match kind {
            "sock_connect" => {
                let peer = v["peer"].as_str();
                let remote = v["remote"].as_str().and_then(|r| r.parse::<SocketAddr>().ok());
                for (i, p) in self.workload.peers.iter().enumerate() {
                    let hit = match p {
                        Peer::Spiffe(id) => peer == Some(id.as_str()),
                        net => remote.is_some_and(|r| net.matches_addr(r.ip(), r.port())),
                    };
                    self.peers[i] |= hit;
                }
                if divergence == Some("undeclared_peer") {
                    let value = peer.map(str::to_string).or_else(|| v["remote"].as_str().map(str::to_string));
                    self.undeclared("peer", value.unwrap_or_default(), e);
                }
            }
            "exec" => {
                let path = v["path"].as_str().unwrap_or("");
                let sha = v["sha256"].as_str();
                for (i, b) in self.workload.binaries.iter().enumerate() {
                    let hit = match b {
                        Binary::Path(p) => p == path,
                        Binary::Sha256(d) => sha == Some(crate::text::hex(d).as_str()),
                    };
                    self.binaries[i] |= hit;
                }
                if divergence == Some("unexpected_binary") {
                    let value = match sha {
                        Some(sha) => format!("{path} (sha256:{sha})"),
                        None => path.to_string(),
                    };
                    self.undeclared("binary", value, e);
                }
            }
            k if k.starts_with("file_") => {
                let path = v["path"].as_str().unwrap_or("");
                for (i, g) in self.workload.secrets.iter().enumerate() {
                    self.secrets[i] |= g.matches(path);
                }
                if divergence == Some("foreign_secret") {
                    let owner = v["secret_of"].as_str().unwrap_or("another workload");
                    self.undeclared("secret", format!("{path} (of {owner})"), e);
                }
            }
            _ => {}
        }
    }

    fn finish(self) -> Drift {
        let w = self.workload;
        let mut declared_unused = Vec::new();
        for (p, used) in w.peers.iter().zip(&self.peers) {
            if !used {
                declared_unused.push(Declared { what: "peer", value: p.to_string() });
            }
        }
        for (b, used) in w.binaries.iter().zip(&self.binaries) {
            if !used {
                declared_unused.push(Declared { what: "binary", value: b.to_string() });
            }
        }
        for (g, used) in w.secrets.iter().zip(&self.secrets) {
            if !used {
                declared_unused.push(Declared { what: "secret", value: g.as_str().to_string() });
            }
        }
        Drift {
            identity: w.spiffe_id.as_str().to_string(),
            owner: w.owner.clone(),
            events: self.events,
            declared_unused,
            used_undeclared: self.undeclared.into_values().collect(),
            non_allow: self
                .non_allow
                .into_iter()
                .map(|((kind, outcome), count)| NonAllow { kind, outcome, count })
                .collect(),
            undeclared_not_kept: 0,
        }
    }
}

/// Answers `q` from the log in `paths` against `inventory`.
pub fn assess(paths: &[PathBuf], inventory: &Inventory, q: &Query) -> Result<Report, ReadError> {
    let (from, to) = (q.from.unwrap_or(i128::MIN), q.to.unwrap_or(i128::MAX));
    let mut tallies: Vec<Tally<'_>> = inventory.workloads().iter().map(Tally::new).collect();
    let index: BTreeMap<&str, usize> =
        inventory.workloads().iter().enumerate().map(|(i, w)| (w.spiffe_id.as_str(), i)).collect();
    let mut scopes = std::collections::BTreeSet::new();
    read::for_each(paths, |e| {
        if e.time_unix_ns < from || e.time_unix_ns > to {
            // The collector that wrote the window may have started before it.
            if e.record() == "stream" && e.stream() == "started" && e.time_unix_ns < from {
                scopes.clear();
                scopes.insert(e.value["evidence"].as_str().unwrap_or("unknown").to_string());
            }
            return;
        }
        match e.record() {
            "stream" if e.stream() == "started" => {
                scopes.insert(e.value["evidence"].as_str().unwrap_or("unknown").to_string());
            }
            "event" => {
                if let Some(&i) = e.spiffe_id().and_then(|id| index.get(id)) {
                    tallies[i].event(&e);
                }
            }
            _ => {}
        }
    })?;
    let evidence = match scopes.len() {
        0 => "unknown".to_string(),
        1 => scopes.into_iter().next().unwrap_or_default(),
        _ => "mixed".to_string(),
    };
    let identities = tallies
        .into_iter()
        .filter(|t| q.identity.as_deref().is_none_or(|id| id == t.workload.spiffe_id.as_str()))
        .map(Tally::finish)
        .collect();
    Ok(Report { evidence, identities })
}

impl Report {
    /// The report as a Markdown document (for tickets and reviews).
    pub fn markdown(&self) -> String {
        let mut out = String::from("# Drift against declared intent\n\n");
        if self.evidence != "all" {
            let _ = writeln!(
                out,
                "> The log does not hold every judged event ({}): unused declarations may have been used.\n",
                self.evidence
            );
        }
        for d in &self.identities {
            let _ = writeln!(out, "## {} ({}, {} events)\n", d.identity, d.owner, d.events);
            if d.declared_unused.is_empty() && d.used_undeclared.is_empty() && d.non_allow.is_empty() {
                out.push_str("No drift.\n\n");
                continue;
            }
            if !d.declared_unused.is_empty() {
                out.push_str("Declared but unused:\n\n| what | declared |\n|---|---|\n");
                for u in &d.declared_unused {
                    let _ = writeln!(out, "| {} | `{}` |", u.what, md(&u.value));
                }
                out.push('\n');
            }
            if !d.used_undeclared.is_empty() {
                out.push_str("Used but undeclared:\n\n| what | used | events | first | last | example line |\n|---|---|---:|---|---|---:|\n");
                for u in &d.used_undeclared {
                    let _ = writeln!(
                        out,
                        "| {} | `{}` | {} | {} | {} | {} |",
                        u.what,
                        md(&u.value),
                        u.count,
                        u.first,
                        u.last,
                        u.example
                    );
                }
                out.push('\n');
            }
            if !d.non_allow.is_empty() {
                out.push_str("Judged other than allow:\n\n| kind | outcome | events |\n|---|---|---:|\n");
                for n in &d.non_allow {
                    let _ = writeln!(out, "| {} | {} | {} |", n.kind, n.outcome, n.count);
                }
                out.push('\n');
            }
        }
        out
    }
}

/// Text safe inside a Markdown table cell and code span.
fn md(s: &str) -> String {
    s.replace('|', "\\|").replace('`', "'").replace('\n', " ")
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.evidence != "all" {
            writeln!(f, "note: the log does not hold every judged event ({}); unused declarations may have been used (run with --evidence-all)", self.evidence)?;
        }
        for d in &self.identities {
            writeln!(f, "{} ({}): {} events", d.identity, d.owner, d.events)?;
            for u in &d.declared_unused {
                writeln!(f, "  declared, unused    {:<7} {}", u.what, u.value)?;
            }
            for u in &d.used_undeclared {
                writeln!(
                    f,
                    "  used, undeclared    {:<7} {}  x{} {} .. {} (line {})",
                    u.what, u.value, u.count, u.first, u.last, u.example
                )?;
            }
            for n in &d.non_allow {
                writeln!(f, "  judged {:<12} {:<7} x{}", n.outcome, n.kind, n.count)?;
            }
            if d.declared_unused.is_empty() && d.used_undeclared.is_empty() && d.non_allow.is_empty() {
                writeln!(f, "  no drift")?;
            }
        }
        Ok(())
    }
}

/// Most undeclared values kept per workload by [`Live`]; beyond them only
/// a count ([`Drift::undeclared_not_kept`]).
pub const LIVE_UNDECLARED_MAX: usize = 64;

/// Drift as `witness run` sees it, for its `/drift` endpoint: the same
/// tallies as [`assess`] makes from a log, kept as events are judged
/// (every judged event, whether or not it is written). Bounded: a flag
/// per declaration, at most [`LIVE_UNDECLARED_MAX`] undeclared values per
/// workload. A reload that changes the inventory starts it afresh.
#[derive(Debug, Default)]
pub struct Live {
    inventory: Option<std::sync::Arc<Inventory>>,
    since_unix_ns: i128,
    workloads: Vec<LiveTally>,
}

#[derive(Debug, Default)]
struct LiveTally {
    events: u64,
    peers: Vec<bool>,
    binaries: Vec<bool>,
    secrets: Vec<bool>,
    undeclared: BTreeMap<(&'static str, String), Undeclared>,
    not_kept: u64,
}

impl Live {
    /// Counts one judged event of workload `identity` (an inventory index;
    /// others are ignored) at `time_unix_ns`. `peer` is the SPIFFE ID
    /// serving a connect's address, if known.
    #[allow(clippy::too_many_arguments)]
    pub fn observe(
        &mut self,
        inventory: &std::sync::Arc<Inventory>,
        identity: u32,
        event: &crate::source::decode::Event,
        divergence: crate::policy::Divergence,
        peer: Option<&str>,
        time_unix_ns: i128,
    ) {
        use crate::policy::Divergence;
        use crate::source::decode::Body;
        if !self.inventory.as_ref().is_some_and(|i| std::sync::Arc::ptr_eq(i, inventory)) {
            self.inventory = Some(inventory.clone());
            self.since_unix_ns = time_unix_ns;
            self.workloads = inventory
                .workloads()
                .iter()
                .map(|w| LiveTally {
                    peers: vec![false; w.peers.len()],
                    binaries: vec![false; w.binaries.len()],
                    secrets: vec![false; w.secrets.len()],
                    ..LiveTally::default()
                })
                .collect();
        }
        let (Some(w), Some(t)) =
            (inventory.workloads().get(identity as usize), self.workloads.get_mut(identity as usize))
        else {
            return;
        };
        t.events += 1;
        let undeclared = |t: &mut LiveTally, what: &'static str, value: String| {
            let time = rfc3339(time_unix_ns);
            let key = (what, value);
            if let Some(u) = t.undeclared.get_mut(&key) {
                u.count += 1;
                u.last = time;
            } else if t.undeclared.len() < LIVE_UNDECLARED_MAX {
                let (what, value) = key;
                let m = event.meta();
                t.undeclared.insert(
                    (what, value.clone()),
                    Undeclared { what, value, count: 1, first: time.clone(), last: time, example: m.seq },
                );
            } else {
                t.not_kept += 1;
            }
        };
        match &event.body {
            Body::Sock(r) if event.kind() == Some(witness_abi::record::RecordKind::SockConnect) => {
                let ip = crate::pipeline::ip_of(r.family, &r.remote);
                for (i, p) in w.peers.iter().enumerate() {
                    t.peers[i] |= match p {
                        Peer::Spiffe(id) => peer == Some(id.as_str()),
                        net => ip.is_some_and(|ip| net.matches_addr(ip, r.remote.port)),
                    };
                }
                if divergence == Divergence::UndeclaredPeer {
                    let value = peer
                        .map(str::to_string)
                        .or_else(|| ip.map(|ip| SocketAddr::new(ip, r.remote.port).to_string()));
                    undeclared(t, "peer", value.unwrap_or_default());
                }
            }
            Body::Exec { path, .. } => {
                let path = String::from_utf8_lossy(path);
                for (i, b) in w.binaries.iter().enumerate() {
                    t.binaries[i] |= matches!(b, Binary::Path(p) if *p == path);
                }
                if divergence == Divergence::UnexpectedBinary {
                    undeclared(t, "binary", path.into_owned());
                }
            }
            Body::File { path, .. } => {
                let path = String::from_utf8_lossy(path);
                for (i, g) in w.secrets.iter().enumerate() {
                    t.secrets[i] |= g.matches(&path);
                }
                if divergence == Divergence::ForeignSecret {
                    let owner = inventory.secret_owner(&path).map_or("another workload", |o| o.spiffe_id.as_str());
                    undeclared(t, "secret", format!("{path} (of {owner})"));
                }
            }
            _ => {}
        }
    }

    /// The drift so far, of one identity or all; `non_allow` gives each
    /// workload's events judged other than allow (from the metrics).
    pub fn report(&self, identity: Option<&str>, non_allow: impl Fn(usize) -> Vec<NonAllow>) -> Report {
        let mut identities = Vec::new();
        if let Some(inventory) = &self.inventory {
            for (i, (w, t)) in inventory.workloads().iter().zip(&self.workloads).enumerate() {
                if identity.is_some_and(|id| id != w.spiffe_id.as_str()) {
                    continue;
                }
                let tally = Tally {
                    workload: w,
                    events: t.events,
                    peers: t.peers.clone(),
                    binaries: t.binaries.clone(),
                    secrets: t.secrets.clone(),
                    undeclared: t.undeclared.clone(),
                    non_allow: BTreeMap::new(),
                };
                let mut drift = tally.finish();
                drift.non_allow = non_allow(i);
                drift.undeclared_not_kept = t.not_kept;
                identities.push(drift);
            }
        }
        Report { evidence: "all".into(), identities }
    }

    /// Since when it counts (its start, or the last inventory change).
    pub fn since_unix_ns(&self) -> i128 {
        self.since_unix_ns
    }
}
