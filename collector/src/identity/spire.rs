//! SPIRE registration entries as inventory entries (`witness inventory
//! import-spire`).
//!
//! Reads what `spire-server entry show -output json` prints (`{"entries":
//! [...]}`, SPIFFE IDs as `{"trust_domain", "path"}`) or the file
//! `spire-server entry create -data` takes (SPIFFE IDs as strings), and
//! writes one `[[workload]]` per workload entry: its SPIFFE ID, the given
//! owner (SPIRE names none), and its selectors as `type:value`, which is how
//! witness writes them. Both require *all* selectors to match.
//!
//! Nothing is dropped silently. Node entries (parent `/spire/server`) attest
//! agents, not workloads, and are listed as such. An entry with a selector
//! witness cannot evaluate (`docker:label`, `unix:user`, ...) is refused as
//! a whole, with every such selector named: leaving out one selector would
//! widen the entry to processes SPIRE would not issue its SVID to. With
//! `skip_unsupported`, those entries are left out and listed instead; so
//! are further entries for a SPIFFE ID already imported (witness keeps one
//! selector set per SPIFFE ID). The result is checked by the inventory
//! parser itself before it is returned.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

use super::{Inventory, Selector};

/// Why entries could not be imported.
#[derive(Debug, Error)]
pub enum SpireError {
    /// The file could not be read.
    #[error("reading SPIRE entries {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Not SPIRE's JSON.
    #[error("{}:{line}:{column}: not SPIRE entries (spire-server entry show -output json): {message}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// Where.
        line: usize,
        /// Where in the line.
        column: usize,
        /// What serde said.
        message: String,
    },
    /// Entries witness cannot take as they are.
    #[error(
        "{}: {} entr{} cannot be imported as {} (--skip-unsupported leaves them out):\n{}",
        path.display(),
        skipped.len(),
        if skipped.len() == 1 { "y" } else { "ies" },
        if skipped.len() == 1 { "it is" } else { "they are" },
        skipped.iter().map(|s| format!("  {s}")).collect::<Vec<_>>().join("\n")
    )]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// Each entry and why.
        skipped: Vec<Skipped>,
    },
    /// What would be written is not a valid inventory.
    #[error("the imported entries are not a valid inventory: {0}")]
    Invalid(#[from] super::InventoryError),
}

/// An entry left out, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// SPIRE's entry id.
    pub entry: String,
    /// Its SPIFFE ID.
    pub spiffe_id: String,
    /// Why.
    pub why: String,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "entry {} ({}): {}", self.entry, self.spiffe_id, self.why)
    }
}

/// What an import made.
#[derive(Debug)]
pub struct Import {
    /// The inventory, as TOML.
    pub toml: String,
    /// Workload entries imported.
    pub imported: usize,
    /// Node entries (not workloads).
    pub nodes: Vec<Skipped>,
    /// Workload entries left out (only with `skip_unsupported`).
    pub skipped: Vec<Skipped>,
}

#[derive(Deserialize)]
struct EntriesDoc {
    entries: Vec<EntryDoc>,
}

#[derive(Deserialize)]
struct EntryDoc {
    #[serde(default)]
    id: String,
    spiffe_id: IdDoc,
    parent_id: IdDoc,
    selectors: Vec<SelectorDoc>,
}

/// `{"trust_domain": "example.org", "path": "/api"}` or `"spiffe://example.org/api"`.
#[derive(Deserialize)]
#[serde(untagged)]
enum IdDoc {
    Parts { trust_domain: String, path: String },
    Uri(String),
}

impl IdDoc {
    fn uri(&self) -> String {
        match self {
            Self::Parts { trust_domain, path } => format!("spiffe://{trust_domain}{path}"),
            Self::Uri(s) => s.clone(),
        }
    }
}

#[derive(Deserialize)]
struct SelectorDoc {
    #[serde(rename = "type")]
    kind: String,
    value: String,
}

/// A TOML basic string.
fn quoted(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Reads and translates the entries in `path`; every workload gets `owner`.
pub fn import_file(path: &Path, owner: &str, skip_unsupported: bool) -> Result<Import, SpireError> {
    let text = std::fs::read_to_string(path).map_err(|source| SpireError::Read { path: path.into(), source })?;
    import(&text, path, owner, skip_unsupported)
}

/// Translates the entries in `text` (read from `path`, for messages).
pub fn import(text: &str, path: &Path, owner: &str, skip_unsupported: bool) -> Result<Import, SpireError> {
    let doc: EntriesDoc = serde_json::from_str(text).map_err(|e| SpireError::Json {
        path: path.into(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    let mut out = format!(
        "# Imported from SPIRE registration entries ({}) by `witness inventory import-spire`.\n\
         # Each entry's selectors must all match, as in SPIRE. Owners are not in SPIRE: set them.\n",
        path.display()
    );
    let (mut imported, mut nodes, mut skipped) = (0, Vec::new(), Vec::new());
    let mut ids = std::collections::HashMap::new();
    for entry in &doc.entries {
        let spiffe_id = entry.spiffe_id.uri();
        let parent = entry.parent_id.uri();
        let skip = |why: String| Skipped { entry: entry.id.clone(), spiffe_id: spiffe_id.clone(), why };
        if parent.split_once("://").and_then(|(_, rest)| rest.split_once('/')).is_some_and(|(_, p)| p == "spire/server")
        {
            nodes.push(skip(format!("a node entry (parent {parent}): it attests agents, not workloads")));
            continue;
        }
        let selectors: Vec<String> = entry.selectors.iter().map(|s| format!("{}:{}", s.kind, s.value)).collect();
        let refused: Vec<String> =
            selectors.iter().filter_map(|s| Selector::parse(s).err()).map(|e| e.to_string()).collect();
        if !refused.is_empty() {
            skipped.push(skip(refused.join("; ")));
            continue;
        }
        if selectors.is_empty() {
            skipped.push(skip("no selectors".into()));
            continue;
        }
        if let Some(first) = ids.insert(spiffe_id.clone(), entry.id.clone()) {
            ids.insert(spiffe_id.clone(), first.clone());
            skipped.push(skip(format!(
                "entry {first} already gives this SPIFFE ID other selectors; an inventory has one set per SPIFFE ID"
            )));
            continue;
        }
        let list: Vec<String> = selectors.iter().map(|s| quoted(s)).collect();
        let _ = write!(
            out,
            "\n# SPIRE entry {} (parent {parent})\n[[workload]]\nspiffe_id = {}\nowner = {}\nselectors = [{}]\n",
            if entry.id.is_empty() { "(no id)" } else { &entry.id },
            quoted(&spiffe_id),
            quoted(owner),
            list.join(", ")
        );
        imported += 1;
    }
    if !skipped.is_empty() && !skip_unsupported {
        return Err(SpireError::Unsupported { path: path.into(), skipped });
    }
    for s in nodes.iter().chain(&skipped) {
        let _ = write!(out, "\n# Not imported: {}", s.to_string().replace('\n', " "));
    }
    if !nodes.is_empty() || !skipped.is_empty() {
        out.push('\n');
    }
    Inventory::parse(&out, Path::new("(imported inventory)"))?;
    Ok(Import { toml: out, imported, nodes, skipped })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Entries as `spire-server entry show -output json` prints them
    /// (SPIRE 1.x: SPIFFE IDs split into trust domain and path).
    const SHOW: &str = r#"{
      "entries": [
        {
          "id": "a1e3a7c5-node",
          "spiffe_id": {"trust_domain": "example.org", "path": "/spire/agent/k8s_psat/prod/node-1"},
          "parent_id": {"trust_domain": "example.org", "path": "/spire/server"},
          "selectors": [{"type": "k8s_psat", "value": "cluster:prod"}],
          "x509_svid_ttl": 3600, "federates_with": [], "admin": false, "downstream": false,
          "expires_at": "0", "dns_names": [], "revision_number": "0", "store_svid": false,
          "jwt_svid_ttl": 300, "hint": "", "created_at": "1700000000"
        },
        {
          "id": "5f1c0b7e-api",
          "spiffe_id": {"trust_domain": "example.org", "path": "/ns/payments/api"},
          "parent_id": {"trust_domain": "example.org", "path": "/spire/agent/k8s_psat/prod/node-1"},
          "selectors": [{"type": "k8s", "value": "ns:payments"}, {"type": "k8s", "value": "sa:api"},
                        {"type": "k8s", "value": "pod-label:app:api"}],
          "x509_svid_ttl": 3600, "federates_with": [], "admin": false, "downstream": false,
          "expires_at": "0", "dns_names": [], "revision_number": "0", "store_svid": false,
          "jwt_svid_ttl": 300, "hint": "", "created_at": "1700000000"
        },
        {
          "id": "9b2d4e6f-batch",
          "spiffe_id": {"trust_domain": "example.org", "path": "/batch"},
          "parent_id": {"trust_domain": "example.org", "path": "/spire/agent/join_token/host-1"},
          "selectors": [{"type": "unix", "value": "uid:2000"}, {"type": "unix", "value": "path:/usr/bin/batch"}]
        }
      ],
      "next_page_token": ""
    }"#;

    #[test]
    fn workload_entries_become_inventory_entries() {
        let import = import(SHOW, Path::new("entries.json"), "team-platform", false).unwrap();
        assert_eq!(import.imported, 2, "{}", import.toml);
        assert_eq!(import.nodes.len(), 1);
        let inv = Inventory::parse(&import.toml, Path::new("x")).unwrap();
        let ids: Vec<&str> = inv.workloads().iter().map(|w| w.spiffe_id.as_str()).collect();
        assert_eq!(ids, ["spiffe://example.org/ns/payments/api", "spiffe://example.org/batch"]);
        let sel: Vec<String> = inv.workloads()[0].selectors.iter().map(ToString::to_string).collect();
        assert_eq!(sel, ["k8s:ns:payments", "k8s:sa:api", "k8s:pod-label:app:api"]);
        assert!(inv.workloads().iter().all(|w| w.owner == "team-platform"));
        assert!(import
            .toml
            .contains("# SPIRE entry 5f1c0b7e-api (parent spiffe://example.org/spire/agent/k8s_psat/prod/node-1)"));
        assert!(import.toml.contains("# Not imported: entry a1e3a7c5-node"), "{}", import.toml);
    }

    #[test]
    fn the_create_data_format_is_read_too() {
        let data = r#"{"entries": [{"spiffe_id": "spiffe://example.org/web", "parent_id": "spiffe://example.org/host",
            "selectors": [{"type": "unix", "value": "uid:33"}]}]}"#;
        let import = import(data, Path::new("data.json"), "web", false).unwrap();
        assert!(import.toml.contains("spiffe_id = \"spiffe://example.org/web\""), "{}", import.toml);
        assert!(import.toml.contains("(no id)"));
    }

    #[test]
    fn selectors_witness_cannot_evaluate_refuse_the_entry_by_name() {
        let bad = SHOW
            .replace(r#"{"type": "unix", "value": "uid:2000"}"#, r#"{"type": "docker", "value": "label:app:batch"}"#);
        let e = import(&bad, Path::new("entries.json"), "o", false).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("entries.json: 1 entry cannot be imported"), "{text}");
        assert!(text.contains("entry 9b2d4e6f-batch (spiffe://example.org/batch)"), "{text}");
        assert!(text.contains("unknown selector 'docker:label'"), "{text}");
        // Left out, and said so, on request; the rest is imported.
        let import = import(&bad, Path::new("entries.json"), "o", true).unwrap();
        assert_eq!(import.imported, 1);
        assert_eq!(import.skipped.len(), 1);
        assert!(import.toml.contains("# Not imported: entry 9b2d4e6f-batch"), "{}", import.toml);
        assert!(!import.toml.contains("spiffe://example.org/batch\"\n"), "{}", import.toml);
    }

    #[test]
    fn a_second_entry_for_one_spiffe_id_is_listed_not_merged() {
        let twice = SHOW.replace("\"/batch\"", "\"/ns/payments/api\"");
        let e = import(&twice, Path::new("e.json"), "o", false).unwrap_err();
        assert!(e.to_string().contains("entry 5f1c0b7e-api already gives this SPIFFE ID other selectors"), "{e}");
    }

    #[test]
    fn bad_files_are_named_with_line_and_column() {
        let e = import("{\"entries\": [\n{\"id\": 5}]}", Path::new("e.json"), "o", false).unwrap_err();
        assert!(e.to_string().starts_with("e.json:2:"), "{e}");
        let e = import_file(Path::new("/nonexistent/e.json"), "o", false).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/e.json"), "{e}");
        // A bad SPIFFE ID is caught by the inventory's own checks.
        let bad = SHOW.replace("\"example.org\", \"path\": \"/batch\"", "\"Example Org\", \"path\": \"/batch\"");
        assert!(matches!(import(&bad, Path::new("e.json"), "o", false), Err(SpireError::Invalid(_))));
    }
}
