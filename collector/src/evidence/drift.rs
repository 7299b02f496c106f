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
use super::read::{self, Entry, ReadError};
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

fn rfc3339(t: i128) -> String {
    jiff::Timestamp::from_nanosecond(t).map_or_else(|_| t.to_string(), |t| format!("{t:.3}"))
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
