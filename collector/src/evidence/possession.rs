//! Possession: who actually holds an identity's credentials. From the
//! evidence log, every access to a declared secret (the collector marks it
//! `secret_of`, matched by path and, live, by device and inode, so a hard
//! link or a `/proc/PID/root/...` path is still the secret) and to a
//! keyring: which processes and identities, by which path, how often,
//! when, and whether the kernel allowed it. Those lines are written
//! whatever their outcome, so the report needs no `--evidence-all`.
//!
//! A holder that is not the declaring workload is a divergence. With the
//! inventory, the report also lists declared secrets their owner never
//! opened in the window (drift: an identity that does not use its own
//! credentials may be using someone else's, or its declaration is stale).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

pub use super::read::Query;
use super::read::{self, rfc3339, Entry, ReadError};
use crate::identity::Inventory;

/// One holder of a credential.
#[derive(Clone, Debug, Serialize)]
pub struct Holder {
    /// Its SPIFFE ID (`unattested` when no entry matched).
    pub identity: String,
    /// The executable (or command name when unknown).
    pub process: String,
    /// The path it used (another than the declared one: a hard link, a
    /// `/proc/PID/root` path).
    pub path: String,
    /// Accesses.
    pub count: u64,
    /// Of which the kernel allowed.
    pub allowed: u64,
    /// Of which the kernel denied.
    pub denied: u64,
    /// The first, RFC 3339.
    pub first: String,
    /// The last.
    pub last: String,
    /// The chain position of the first access's line.
    pub example: u64,
}

/// One credential and who held it.
#[derive(Clone, Debug, Serialize)]
pub struct Credential {
    /// The secret's path (the declared one when it was used), or the
    /// keyring key's `type:description`.
    pub credential: String,
    /// `secret` or `keyring`.
    pub kind: &'static str,
    /// The workload that declared it (None: a keyring key, or a file only
    /// the kernel's secret filter named).
    pub owner: Option<String>,
    /// Someone other than its owner held it.
    pub divergent: bool,
    /// Its owner used it in the window.
    pub owner_used: bool,
    /// Who held it.
    pub holders: Vec<Holder>,
}

/// A declared secret its owner never opened in the window.
#[derive(Clone, Debug, Serialize)]
pub struct Unused {
    /// The owner.
    pub owner: String,
    /// The declared path (a glob).
    pub secret: String,
}

/// The answer.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Credentials accessed in the window.
    pub credentials: Vec<Credential>,
    /// Declared secrets their owners never opened (only with an inventory).
    pub unused: Vec<Unused>,
}

/// A credential's identity: owner and file (device, inode) for a secret,
/// or the key for a keyring access.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Secret { owner: Option<String>, dev: u64, ino: u64, path: String },
    Keyring(String),
}

#[derive(Default)]
struct Seen {
    /// The declared path, once an access used it.
    declared_path: Option<String>,
    /// The first path an access used.
    first_path: Option<String>,
    holders: BTreeMap<(String, String, String), Holder>,
}

/// Answers `q` from the log in `paths`, with the inventory in force (for
/// declared paths and secrets never opened), if given.
pub fn assess(paths: &[PathBuf], inventory: Option<&Inventory>, q: &Query) -> Result<Report, ReadError> {
    let (from, to) = (q.from.unwrap_or(i128::MIN), q.to.unwrap_or(i128::MAX));
    let mut seen: BTreeMap<Key, Seen> = BTreeMap::new();
    read::for_each(paths, |e| {
        if e.record() != "event" || e.time_unix_ns < from || e.time_unix_ns > to {
            return;
        }
        let Some(key) = key_of(&e) else { return };
        let v = &e.value;
        let path = v["path"].as_str().unwrap_or("").to_string();
        let entry = seen.entry(key.clone()).or_default();
        entry.first_path.get_or_insert_with(|| path.clone());
        if let Key::Secret { owner: Some(owner), .. } = &key {
            let declares = inventory
                .and_then(|inv| inv.secret_owner(&path))
                .is_some_and(|w| w.spiffe_id.as_str() == owner.as_str());
            if declares {
                entry.declared_path.get_or_insert_with(|| path.clone());
            }
        }
        let identity = e.spiffe_id().unwrap_or("unattested").to_string();
        let process = v["process"]["exe"].as_str().or(v["comm"].as_str()).unwrap_or("?").to_string();
        let time = rfc3339(e.time_unix_ns);
        let holder = entry.holders.entry((identity.clone(), process.clone(), path.clone())).or_insert_with(|| Holder {
            identity,
            process,
            path,
            count: 0,
            allowed: 0,
            denied: 0,
            first: time.clone(),
            last: time.clone(),
            example: e.n,
        });
        holder.count += 1;
        if v["kernel"]["denied"].as_bool().unwrap_or(false) {
            holder.denied += 1;
        } else {
            holder.allowed += 1;
        }
        holder.last = time;
    })?;
    let mut credentials = Vec::new();
    for (key, s) in seen {
        let (credential, kind, owner) = match key {
            Key::Secret { owner, .. } => (s.declared_path.or(s.first_path).unwrap_or_default(), "secret", owner),
            Key::Keyring(k) => (k, "keyring", None),
        };
        let holders: Vec<Holder> = s.holders.into_values().collect();
        let owner_used = owner.as_ref().is_some_and(|o| holders.iter().any(|h| &h.identity == o));
        let divergent = owner.as_ref().is_some_and(|o| holders.iter().any(|h| &h.identity != o));
        let c = Credential { credential, kind, owner, divergent, owner_used, holders };
        let wanted = q
            .identity
            .as_ref()
            .is_none_or(|id| c.owner.as_ref() == Some(id) || c.holders.iter().any(|h| &h.identity == id));
        if wanted {
            credentials.push(c);
        }
    }
    let mut unused = Vec::new();
    for w in inventory.map(Inventory::workloads).unwrap_or_default() {
        let id = w.spiffe_id.as_str();
        if q.identity.as_deref().is_some_and(|q| q != id) {
            continue;
        }
        for glob in &w.secrets {
            let used = credentials.iter().any(|c| {
                c.owner.as_deref() == Some(id) && c.holders.iter().any(|h| h.identity == id && glob.matches(&h.path))
            });
            if !used {
                unused.push(Unused { owner: id.to_string(), secret: glob.as_str().to_string() });
            }
        }
    }
    Ok(Report { credentials, unused })
}

/// The credential an evidence line touched, if any.
fn key_of(e: &Entry<'_>) -> Option<Key> {
    let v = &e.value;
    let kind = v["kind"].as_str()?;
    if kind == "key_access" {
        let name = format!("{}:{}", v["key_type"].as_str().unwrap_or(""), v["description"].as_str().unwrap_or(""));
        return Some(Key::Keyring(name));
    }
    if !kind.starts_with("file_") {
        return None;
    }
    let owner = v["secret_of"].as_str().map(str::to_string);
    if owner.is_none() && v["secret"].as_bool() != Some(true) {
        return None;
    }
    let (dev, ino) = (v["dev"].as_u64().unwrap_or(0), v["ino"].as_u64().unwrap_or(0));
    // A file is its device and inode, whatever path reached it; without
    // an inode (a create), the path tells files apart.
    let path = if ino == 0 { v["path"].as_str().unwrap_or("").to_string() } else { String::new() };
    Some(Key::Secret { owner, dev, ino, path })
}

impl Report {
    /// The report as a Markdown document.
    pub fn markdown(&self) -> String {
        let cell = |s: &str| s.replace('|', "\\|").replace('`', "'");
        let mut out = String::from("# Possession of credentials\n\n");
        for c in &self.credentials {
            let owner = c.owner.as_deref().unwrap_or("no declared owner");
            let flag = if c.divergent { " — **divergent**: held by others than its owner" } else { "" };
            out += &format!("## {} `{}` ({}){flag}\n\n", c.kind, cell(&c.credential), cell(owner));
            out += "| identity | process | path | accesses | allowed | denied | first | last | line |\n|---|---|---|---:|---:|---:|---|---|---:|\n";
            for h in &c.holders {
                out += &format!(
                    "| {} | `{}` | `{}` | {} | {} | {} | {} | {} | {} |\n",
                    cell(&h.identity),
                    cell(&h.process),
                    cell(&h.path),
                    h.count,
                    h.allowed,
                    h.denied,
                    h.first,
                    h.last,
                    h.example
                );
            }
            out.push('\n');
        }
        if !self.unused.is_empty() {
            out += "## Declared secrets their owner never opened\n\n";
            for u in &self.unused {
                out += &format!("- {}: `{}`\n", cell(&u.owner), cell(&u.secret));
            }
        }
        out
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.credentials.is_empty() {
            writeln!(f, "no credential was accessed in the window")?;
        }
        for c in &self.credentials {
            let owner = c.owner.as_deref().unwrap_or("no declared owner");
            let flag = if c.divergent { "  DIVERGENT: held by others than its owner" } else { "" };
            writeln!(f, "{} {} ({owner}){flag}", c.kind, c.credential)?;
            for h in &c.holders {
                writeln!(
                    f,
                    "  {} via {} as {}: {} accesses ({} allowed, {} denied by the kernel), {} .. {} (line {})",
                    h.identity, h.process, h.path, h.count, h.allowed, h.denied, h.first, h.last, h.example
                )?;
            }
        }
        for u in &self.unused {
            writeln!(f, "drift: {} never opened its secret {} in the window", u.owner, u.secret)?;
        }
        Ok(())
    }
}
