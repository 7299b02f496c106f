//! Least-privilege intent from observed behaviour: `witness intent
//! suggest` writes inventory entries and Cedar policies under which a
//! window's behaviour is what each workload declares, and anything else
//! stands out.
//!
//! Only from a window [`super::completeness`] proves complete: a policy
//! learned from a window with losses forbids what the lost records did,
//! and breaks the application the first time it does it again.
//!
//! Per workload (selectors, owner and secrets are kept as declared):
//!
//! - **peers**: the workloads it connected to (by SPIFFE ID, when the
//!   address was a declared workload's listener), else the addresses
//!   (`IP/32:PORT`);
//! - **binaries**: the executables it ran, by path, and by `sha256:` when
//!   the log has their digest;
//! - **policies**: a permit for everything, then for each workload a
//!   forbid (`investigate`) of executions and connections its entry does
//!   not declare, and a forbid (`review`) of the actions it never took in
//!   the window.
//!
//! What is never learned: reading another workload's secret. Those
//! accesses are listed for review instead, and stay divergences.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

pub use super::read::Query;
use super::read::{self, ReadError};
use crate::identity::Inventory;

/// The Cedar actions a workload can be kept from taking.
const ACTIONS: &[&str] = &[
    "exec",
    "bprm_check",
    "file_open",
    "file_create",
    "file_unlink",
    "file_rename",
    "sock_connect",
    "sock_bind",
    "sock_listen",
    "sock_accept",
    "cred_change",
    "cap_denied",
    "ns_change",
    "module_load",
    "bpf_prog_load",
    "ptrace_attach",
    "key_access",
];

/// What `suggest` writes.
#[derive(Clone, Debug, Serialize)]
pub struct Suggestion {
    /// The inventory (TOML), every workload of the one given.
    pub inventory: String,
    /// The policies (Cedar), one file.
    pub policies: String,
    /// Behaviour deliberately not learned, for review.
    pub not_learned: Vec<String>,
    /// Workloads whose entries were learned.
    pub learned: Vec<String>,
}

#[derive(Default)]
struct Observed {
    peers: BTreeSet<String>,
    binaries: BTreeSet<String>,
    actions: BTreeSet<String>,
}

fn toml_str(s: &str) -> String {
    // A TOML basic string is a JSON string for everything we write.
    serde_json::to_string(s).unwrap_or_default()
}

fn list(items: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = items.into_iter().map(|s| toml_str(&s)).collect();
    format!("[{}]", items.join(", "))
}

/// Learns the intent of the workloads `q` names (all by default) from the
/// log in `paths`. The caller checks completeness first.
pub fn suggest(paths: &[PathBuf], inventory: &Inventory, q: &Query, window: &str) -> Result<Suggestion, ReadError> {
    let (from, to) = (q.from.unwrap_or(i128::MIN), q.to.unwrap_or(i128::MAX));
    let wanted = |id: &str| q.identity.as_deref().is_none_or(|q| q == id);
    let mut observed: BTreeMap<String, Observed> = inventory
        .workloads()
        .iter()
        .filter(|w| wanted(w.spiffe_id.as_str()))
        .map(|w| (w.spiffe_id.as_str().to_string(), Observed::default()))
        .collect();
    let mut not_learned = BTreeSet::new();
    read::for_each(paths, |e| {
        if e.record() != "event" || e.time_unix_ns < from || e.time_unix_ns > to {
            return;
        }
        let Some(o) = e.spiffe_id().and_then(|id| observed.get_mut(id)) else { return };
        let v = &e.value;
        let kind = v["kind"].as_str().unwrap_or("");
        o.actions.insert(kind.to_string());
        match kind {
            "sock_connect" => {
                if let Some(peer) = v["peer"].as_str() {
                    o.peers.insert(peer.to_string());
                } else if let Some(addr) = v["remote"].as_str().and_then(|r| r.parse::<std::net::SocketAddr>().ok()) {
                    let bits = if addr.is_ipv4() { 32 } else { 128 };
                    let ip = match addr.ip() {
                        std::net::IpAddr::V6(ip) => format!("[{ip}/{bits}]"),
                        ip => format!("{ip}/{bits}"),
                    };
                    o.peers.insert(format!("{ip}:{}", addr.port()));
                }
            }
            "exec" => {
                if let Some(path) = v["path"].as_str() {
                    o.binaries.insert(path.to_string());
                }
                if let Some(sha) = v["sha256"].as_str() {
                    o.binaries.insert(format!("sha256:{sha}"));
                }
            }
            _ => {}
        }
        if v["divergence"] == "foreign_secret" {
            not_learned.insert(format!(
                "{} touched {} ({} of {}): another workload's secret is never learned; review it",
                e.spiffe_id().unwrap_or(""),
                v["path"].as_str().unwrap_or(""),
                kind,
                v["secret_of"].as_str().unwrap_or("another workload")
            ));
        }
    })?;

    let mut toml = format!(
        "# Suggested by `witness intent suggest` from the window {window}, which the\n# evidence log proves complete. Review before use: it declares what the\n# workloads did, not what they should do.\n"
    );
    for w in inventory.workloads() {
        let id = w.spiffe_id.as_str();
        let learned = observed.get(id);
        let _ = write!(toml, "\n[[workload]]\nspiffe_id = {}\nowner = {}\n", toml_str(id), toml_str(&w.owner));
        let _ = writeln!(toml, "selectors = {}", list(w.selectors.iter().map(ToString::to_string)));
        let (peers, binaries): (Vec<String>, Vec<String>) = match learned {
            Some(o) => (o.peers.iter().cloned().collect(), o.binaries.iter().cloned().collect()),
            None => (
                w.peers.iter().map(ToString::to_string).collect(),
                w.binaries.iter().map(ToString::to_string).collect(),
            ),
        };
        if !peers.is_empty() {
            let _ = writeln!(toml, "peers = {}", list(peers));
        }
        if !binaries.is_empty() {
            let _ = writeln!(toml, "binaries = {}", list(binaries));
        }
        if !w.secrets.is_empty() {
            let _ = writeln!(toml, "secrets = {}", list(w.secrets.iter().map(|g| g.as_str().to_string())));
        }
    }

    let mut cedar = format!(
        "// Suggested by `witness intent suggest` from the window {window}.\n// What each workload did is declared in the suggested inventory; what it\n// did not do stands out.\n\n@id(\"intent-baseline\")\npermit(principal, action, resource);\n"
    );
    for (n, (id, o)) in observed.iter().enumerate() {
        let quoted = toml_str(id);
        let _ = write!(
            cedar,
            "\n// {id}\n@id(\"intent-{n}-undeclared\")\n@outcome(\"investigate\")\nforbid(principal == Workload::{quoted}, action in [Action::\"exec\", Action::\"sock_connect\"], resource)\n  unless {{ resource.declared }};\n"
        );
        let never: Vec<String> =
            ACTIONS.iter().filter(|a| !o.actions.contains(**a)).map(|a| format!("Action::\"{a}\"")).collect();
        if !never.is_empty() {
            let _ = write!(
                cedar,
                "@id(\"intent-{n}-unused-actions\")\n@outcome(\"review\")\nforbid(principal == Workload::{quoted}, action in [{}], resource);\n",
                never.join(", ")
            );
        }
    }
    Ok(Suggestion {
        inventory: toml,
        policies: cedar,
        not_learned: not_learned.into_iter().collect(),
        learned: observed.into_keys().collect(),
    })
}
