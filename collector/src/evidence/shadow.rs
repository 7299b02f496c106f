//! What a shadow policy set (`witness run --shadow-policy`) would change:
//! from the evidence lines where its outcome differed from the active
//! set's (`"shadow": {"outcome", "policies"}`), grouped by identity, kind
//! and the two outcomes. `witness shadow report` prints it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

pub use super::read::Query;
use super::read::{self, rfc3339, ReadError};

/// Events a change of outcome concerns.
#[derive(Clone, Debug, Serialize)]
pub struct Change {
    /// The workload (`unattested` for processes no entry matched).
    pub identity: String,
    /// Event kind.
    pub kind: String,
    /// The active set's outcome.
    pub now: String,
    /// The shadow set's.
    pub would: String,
    /// Events.
    pub count: u64,
    /// The shadow policies that decided (of the first event).
    pub policies: Vec<String>,
    /// First, RFC 3339.
    pub first: String,
    /// Last.
    pub last: String,
    /// The chain position of the first event's line.
    pub example: u64,
}

/// The answer.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The shadow sets' digests seen in the window.
    pub shadow: Vec<String>,
    /// Changes, most events first.
    pub changes: Vec<Change>,
}

/// Answers `q` from the log in `paths`.
pub fn assess(paths: &[PathBuf], q: &Query) -> Result<Report, ReadError> {
    let (from, to) = (q.from.unwrap_or(i128::MIN), q.to.unwrap_or(i128::MAX));
    let mut changes: BTreeMap<(String, String, String, String), Change> = BTreeMap::new();
    let mut digests = std::collections::BTreeSet::new();
    read::for_each(paths, |e| {
        if e.time_unix_ns < from || e.time_unix_ns > to {
            return;
        }
        if let Some(d) = e.value["config"]["shadow"].as_str() {
            digests.insert(d.to_string());
        }
        let v = &e.value;
        let Some(would) = v["shadow"]["outcome"].as_str() else { return };
        let identity = e.spiffe_id().unwrap_or("unattested").to_string();
        if q.identity.as_deref().is_some_and(|id| id != identity) {
            return;
        }
        let kind = v["kind"].as_str().unwrap_or("").to_string();
        let now = v["outcome"].as_str().unwrap_or("").to_string();
        let time = rfc3339(e.time_unix_ns);
        let key = (identity.clone(), kind.clone(), now.clone(), would.to_string());
        let c = changes.entry(key).or_insert_with(|| Change {
            identity,
            kind,
            now,
            would: would.to_string(),
            count: 0,
            policies: v["shadow"]["policies"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect(),
            first: time.clone(),
            last: time.clone(),
            example: e.n,
        });
        c.count += 1;
        c.last = time;
    })?;
    let mut changes: Vec<Change> = changes.into_values().collect();
    changes.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.identity.cmp(&b.identity)));
    Ok(Report { shadow: digests.into_iter().collect(), changes })
}

impl Report {
    /// The report as a Markdown document.
    pub fn markdown(&self) -> String {
        let mut out = String::from("# What the shadow policy set would change\n\n");
        out += "| identity | kind | events | now | would be | shadow policies | first | last | example line |\n";
        out += "|---|---|---:|---|---|---|---|---|---:|\n";
        for c in &self.changes {
            out += &format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                c.identity.replace('|', "\\|"),
                c.kind,
                c.count,
                c.now,
                c.would,
                c.policies.join(", ").replace('|', "\\|"),
                c.first,
                c.last,
                c.example
            );
        }
        out
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.shadow.is_empty() {
            writeln!(f, "no shadow policy set was in force in the window (witness run --shadow-policy)")?;
        } else if self.changes.is_empty() {
            writeln!(f, "the shadow policy set ({}) would change nothing in the window", self.shadow.join(", "))?;
        }
        for c in &self.changes {
            writeln!(
                f,
                "would {} {} {} of {} (now {}; {}), {} .. {} (line {})",
                c.would,
                c.count,
                c.kind,
                c.identity,
                c.now,
                if c.policies.is_empty() { "no shadow policy decided".to_string() } else { c.policies.join(", ") },
                c.first,
                c.last,
                c.example
            )?;
        }
        Ok(())
    }
}
