//! Incident bundles: one archive (tar) with what proves what a workload
//! did in a window, verifiable offline by `witness evidence verify
//! BUNDLE`.
//!
//! Members:
//!
//! - `evidence.jsonl`: the chain segment from the last checkpoint at or
//!   before the window (whose kernel counters are the window's baseline)
//!   to the first signed checkpoint after it (or the log's end). Lines
//!   that are not the asked identity's events in the window are replaced
//!   by redacted stubs ([`chain::redacted`]): the chain still verifies,
//!   and other workloads' paths, arguments and peers stay out of the
//!   bundle. Stream lines and checkpoints are kept whole.
//! - `completeness.json`, `drift.json`, `possession.json`: the statements
//!   over the window, computed from the full log.
//! - `report.json` and `report.html`: the report ([`super::html`]).
//! - `config/inventory.toml`, `config/policy/...`: the inventory and
//!   policies in force, when given, after checking that their digests are
//!   the ones the window's lines name.
//! - `manifest.json`: the window, the identity, and the SHA-256 of every
//!   other member. The manifest itself is covered by nothing but the
//!   evidence's own signatures: what a verifier trusts is the chain.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read as _};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use thiserror::Error;

use super::chain;
use super::read::{self, rfc3339, Query, ReadError};
use super::verify;
use crate::identity::Inventory;

/// The schema of bundles.
pub const SCHEMA: &str = "witness.bundle/1";

/// Events listed in a report, at most.
const MAX_EVENTS: usize = 500;

/// Why a bundle could not be made or read.
#[derive(Debug, Error)]
pub enum BundleError {
    /// The log could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The log could not be read for verification.
    #[error(transparent)]
    Verify(#[from] verify::VerifyError),
    /// A file could not be read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: io::Error,
    },
    /// The configuration given is not the one the log names.
    #[error("{0}")]
    Config(String),
    /// The archive is not a bundle.
    #[error("{}: {what}", path.display())]
    Bad {
        /// The archive.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
}

/// The configuration in force, to put in the bundle.
#[derive(Debug, Default)]
pub struct ConfigFiles {
    /// The inventory file and its parsed form.
    pub inventory: Option<(PathBuf, Inventory)>,
    /// The policy files, in load order, and the digest of the set.
    pub policies: Option<(Vec<PathBuf>, String)>,
}

/// What to put in a bundle.
#[derive(Debug)]
pub struct Request<'a> {
    /// The log's files.
    pub log: &'a [PathBuf],
    /// The window and identity.
    pub query: Query,
    /// The configuration in force.
    pub config: ConfigFiles,
    /// The key checkpoints must be signed with.
    pub trusted: Option<ed25519_dalek::VerifyingKey>,
    /// The archive to write.
    pub out: &'a Path,
}

/// What was written.
#[derive(Debug)]
pub struct Written {
    /// Lines in the bundle's segment.
    pub lines: u64,
    /// Of which redacted.
    pub redacted: u64,
    /// Whether the window is complete.
    pub complete: bool,
    /// Whether the log verified.
    pub intact: bool,
}

/// A short description of an event line, for the report's table.
fn summary(v: &Value) -> String {
    let who = format!("{} (pid {})", v["comm"].as_str().unwrap_or("?"), v["tgid"].as_u64().unwrap_or(0));
    let kind = v["kind"].as_str().unwrap_or("?");
    let what = match kind {
        "exec" => {
            let argv: Vec<&str> = v["argv"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            format!("exec {} [{}]", v["path"].as_str().unwrap_or("?"), argv.join(" "))
        }
        k if k.starts_with("sock_") => {
            let peer = v["peer"].as_str().map(|p| format!(" ({p})")).unwrap_or_default();
            format!("{k} {}{peer}", v["remote"].as_str().or(v["local"].as_str()).unwrap_or("?"))
        }
        k if k.starts_with("file_") => format!("{k} {}", v["path"].as_str().unwrap_or("?")),
        "cred_change" => format!("credentials to uid {}", v["new_uid"].as_u64().unwrap_or(0)),
        k => k.to_string(),
    };
    format!("{what} by {who}")
}

/// Writes the bundle `req` asks for.
pub fn write(req: &Request<'_>) -> Result<Written, BundleError> {
    let q = &req.query;
    let (from, to) = (q.from.unwrap_or(i128::MIN), q.to.unwrap_or(i128::MAX));
    let wanted = |e: &read::Entry<'_>| {
        e.record() == "event"
            && e.time_unix_ns >= from
            && e.time_unix_ns <= to
            && q.identity.as_deref().is_none_or(|id| e.spiffe_id().unwrap_or("unattested") == id)
    };
    // Pass 1: the segment's ends, the digests named in the window, and
    // the report's tallies.
    let mut checkpoints: Vec<(u64, bool)> = Vec::new();
    let (mut first_in, mut last_in) = (None::<u64>, None::<u64>);
    let mut digests = (std::collections::BTreeSet::new(), std::collections::BTreeSet::new());
    let mut verdicts: BTreeMap<String, (Option<String>, [u64; 5])> = BTreeMap::new();
    let mut events = Vec::new();
    let mut not_shown = 0u64;
    let mut times = Vec::new();
    read::for_each(req.log, |e| {
        let t = e.time_unix_ns;
        if e.record() == "checkpoint" {
            checkpoints.push((e.n, e.value.get("signature").is_some()));
        }
        if t >= from && t <= to {
            first_in.get_or_insert(e.n);
            last_in = Some(e.n);
            if let Some(d) = e.value["config"]["inventory"].as_str() {
                digests.0.insert(d.to_string());
            }
            if let Some(d) = e.value["config"]["policies"].as_str() {
                digests.1.insert(d.to_string());
            }
        }
        if wanted(&e) {
            let v = &e.value;
            let id = e.spiffe_id().unwrap_or("unattested").to_string();
            let row =
                verdicts.entry(id.clone()).or_insert((v["identity"]["owner"].as_str().map(str::to_string), [0; 5]));
            let outcome = v["outcome"].as_str().unwrap_or("");
            let i = ["allow", "deny", "review", "investigate"].iter().position(|o| *o == outcome).unwrap_or(0);
            row.1[i] += 1;
            if v["kernel"]["denied"].as_bool() == Some(true) {
                row.1[4] += 1;
            }
            times.push((t, i));
            if outcome != "allow" || v["divergence"].is_string() || v.get("secret_of").is_some() {
                if events.len() < MAX_EVENTS {
                    events.push(json!({
                        "time": rfc3339(t), "identity": id, "kind": v["kind"], "outcome": outcome,
                        "divergence": v["divergence"], "summary": summary(v), "n": e.n,
                    }));
                } else {
                    not_shown += 1;
                }
            }
        }
    })?;
    // From the last checkpoint before the window's first line (the
    // kernel's counters when it began) to the first signed checkpoint
    // after its last line (what vouches for it), in chain order: a
    // replay's lines are not in time order.
    let (start, end) = match (first_in, last_in) {
        (Some(first), Some(last)) => (
            checkpoints.iter().rev().find(|(n, _)| *n < first).map_or(first, |(n, _)| *n),
            checkpoints.iter().find(|(n, signed)| *n > last && *signed).map_or(u64::MAX, |(n, _)| *n),
        ),
        _ => (u64::MAX, 0),
    };
    check_config(&req.config, &digests)?;

    // Pass 2: the segment, redacted where it is not the asked events.
    let mut segment = Vec::new();
    let (mut lines, mut redacted) = (0u64, 0u64);
    read::for_each(req.log, |e| {
        if e.n < start || e.n > end {
            return;
        }
        lines += 1;
        if e.record() == "event" && !wanted(&e) {
            redacted += 1;
            segment.extend_from_slice(&chain::redacted(e.raw).unwrap_or_else(|| e.raw.to_vec()));
        } else {
            segment.extend_from_slice(e.raw);
        }
        segment.push(b'\n');
    })?;

    let integrity = verify::verify_files(req.log, &verify::Options { trusted: req.trusted })?;
    let mut completeness = super::completeness::assess(req.log, q.clone())?;
    completeness.integrity = Some(integrity.to_string().lines().skip(1).collect::<Vec<_>>().join("; "));
    let inventory = req.config.inventory.as_ref().map(|(_, inv)| inv);
    let drift = inventory.map(|inv| super::drift::assess(req.log, inv, q)).transpose()?;
    let possession = super::possession::assess(req.log, inventory, q)?;

    let (window_from, window_to) = (completeness.from_unix_ns, completeness.to_unix_ns);
    let report = json!({
        "title": "witness incident report",
        "generated": rfc3339(jiff::Timestamp::now().as_nanosecond()),
        "host": rustix::system::uname().nodename().to_string_lossy(),
        "window": {"from": rfc3339(window_from), "to": rfc3339(window_to)},
        "identity": q.identity,
        "config": {"inventory": digests.0.iter().next(), "policies": digests.1.iter().next()},
        "integrity": {"intact": integrity.intact(), "text": completeness.integrity},
        "completeness": completeness,
        "completeness_text": completeness.to_string(),
        "verdicts": verdicts.iter().map(|(id, (owner, c))| json!({
            "identity": id, "owner": owner, "allow": c[0], "deny": c[1], "review": c[2], "investigate": c[3], "kernel_denied": c[4],
        })).collect::<Vec<_>>(),
        "timeline": timeline(&times, window_from, window_to),
        "events": events,
        "events_not_shown": not_shown,
        "drift": drift.as_ref().map(|d| &d.identities),
        "possession": possession.credentials,
    });

    let mut members: Vec<(String, Vec<u8>)> = vec![
        ("evidence.jsonl".into(), segment),
        ("completeness.json".into(), pretty(&completeness)),
        ("possession.json".into(), pretty(&possession)),
        ("report.json".into(), pretty(&report)),
        ("report.html".into(), super::html::render(&report).into_bytes()),
    ];
    if let Some(d) = &drift {
        members.push(("drift.json".into(), pretty(d)));
    }
    if let Some((path, _)) = &req.config.inventory {
        members.push(("config/inventory.toml".into(), read_file(path)?));
    }
    if let Some((paths, _)) = &req.config.policies {
        for (i, p) in paths.iter().enumerate() {
            let name = p.file_name().map_or_else(|| format!("{i}.cedar"), |n| n.to_string_lossy().into_owned());
            members.push((format!("config/policy/{i:03}-{name}"), read_file(p)?));
        }
    }
    let manifest = json!({
        "schema": SCHEMA,
        "identity": q.identity,
        "window": {"from_unix_ns": window_from.to_string(), "to_unix_ns": window_to.to_string()},
        "segment": {"from": start, "to": end.min(start.saturating_add(lines).saturating_sub(1)), "lines": lines, "redacted": redacted},
        "members": members.iter().map(|(n, b)| (n.clone(), Value::from(super::sha256_tag(b)))).collect::<serde_json::Map<_, _>>(),
    });
    members.insert(0, ("manifest.json".into(), pretty(&manifest)));
    write_tar(req.out, &members)?;
    Ok(Written { lines, redacted, complete: completeness.complete, intact: integrity.intact() })
}

fn pretty(v: &impl serde::Serialize) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(v).unwrap_or_default();
    out.push(b'\n');
    out
}

fn read_file(path: &Path) -> Result<Vec<u8>, BundleError> {
    fs::read(path).map_err(|error| BundleError::Io { path: path.into(), error })
}

/// The configuration given must be one the window's lines name.
fn check_config(
    config: &ConfigFiles,
    (inventories, policies): &(std::collections::BTreeSet<String>, std::collections::BTreeSet<String>),
) -> Result<(), BundleError> {
    if let Some((path, inv)) = &config.inventory {
        let digest = inv.digest().unwrap_or_default();
        if !inventories.contains(digest) {
            return Err(BundleError::Config(format!(
                "{}: its digest {digest} is not the inventory in force in the window ({}); give the inventory the log names, or none",
                path.display(),
                inventories.iter().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    if let Some((paths, digest)) = &config.policies {
        if !policies.contains(digest) {
            return Err(BundleError::Config(format!(
                "the policies {} (digest {digest}) are not the ones in force in the window ({}); give the policies the log names, or none",
                paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
                policies.iter().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    Ok(())
}

/// Outcomes per time bucket: about 60 buckets over the window, at least a
/// second each.
fn timeline(times: &[(i128, usize)], from: i128, to: i128) -> Value {
    let span = (to - from).max(1);
    let bucket = (span / 60).max(1_000_000_000);
    let n = usize::try_from((span / bucket) + 1).unwrap_or(1).min(1000);
    let mut buckets = vec![[0u64; 4]; n];
    for &(t, outcome) in times {
        if let Ok(i) = usize::try_from((t - from) / bucket) {
            if let Some(b) = buckets.get_mut(i) {
                b[outcome.min(3)] += 1;
            }
        }
    }
    json!({
        "bucket_seconds": bucket / 1_000_000_000,
        "buckets": buckets.iter().enumerate().map(|(i, b)| json!({
            "start": rfc3339(from + bucket * i as i128),
            "allow": b[0], "deny": b[1], "review": b[2], "investigate": b[3],
        })).collect::<Vec<_>>(),
    })
}

fn write_tar(out: &Path, members: &[(String, Vec<u8>)]) -> Result<(), BundleError> {
    use std::os::unix::fs::OpenOptionsExt;
    let err = |error| BundleError::Io { path: out.into(), error };
    let file = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(out).map_err(err)?;
    let mut tar = tar::Builder::new(file);
    let mtime = u64::try_from(jiff::Timestamp::now().as_second()).unwrap_or(0);
    for (name, bytes) in members {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o600);
        header.set_mtime(mtime);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, name, bytes.as_slice()).map_err(err)?;
    }
    tar.into_inner().and_then(|f| f.sync_all()).map_err(err)
}

/// Whether `path` looks like a bundle (a tar archive).
pub fn is_bundle(path: &Path) -> bool {
    let mut magic = [0u8; 263];
    fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && &magic[257..262] == b"ustar"
}

/// What verifying a bundle found.
#[derive(Debug)]
pub struct Verified {
    /// The chain and signatures of its evidence.
    pub evidence: verify::Report,
    /// Members whose digest is not the manifest's, or missing.
    pub members: Vec<String>,
    /// The manifest.
    pub manifest: Value,
}

/// Verifies a bundle: every member against the manifest, the evidence
/// segment's chain and signatures.
pub fn verify(path: &Path, options: &verify::Options) -> Result<Verified, BundleError> {
    let bad = |what: String| BundleError::Bad { path: path.into(), what };
    let file = fs::File::open(path).map_err(|error| BundleError::Io { path: path.into(), error })?;
    let mut archive = tar::Archive::new(file);
    let mut members: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for entry in archive.entries().map_err(|e| bad(format!("not a tar archive ({e})")))? {
        let mut entry = entry.map_err(|e| bad(format!("a damaged member ({e})")))?;
        let name = entry.path().map_err(|e| bad(e.to_string()))?.to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(|e| bad(format!("{name}: {e}")))?;
        if members.insert(name.clone(), bytes).is_some() {
            return Err(bad(format!("{name} is in the archive twice")));
        }
    }
    let manifest: Value = members
        .get("manifest.json")
        .and_then(|m| serde_json::from_slice(m).ok())
        .ok_or_else(|| bad("no manifest.json: not a witness bundle".into()))?;
    if manifest["schema"] != SCHEMA {
        return Err(bad(format!("manifest schema {} is not {SCHEMA}", manifest["schema"])));
    }
    let mut problems = Vec::new();
    let listed = manifest["members"].as_object().cloned().unwrap_or_default();
    for (name, digest) in &listed {
        match members.get(name) {
            None => problems.push(format!("{name}: listed in the manifest, not in the archive")),
            Some(bytes) if Some(super::sha256_tag(bytes).as_str()) != digest.as_str() => {
                problems.push(format!("{name}: its digest is not the manifest's (edited)"));
            }
            Some(_) => {}
        }
    }
    for name in members.keys() {
        if name != "manifest.json" && !listed.contains_key(name) {
            problems.push(format!("{name}: in the archive, not in the manifest (added)"));
        }
    }
    let evidence = members.remove("evidence.jsonl").ok_or_else(|| bad("no evidence.jsonl".into()))?;
    let name = format!("{}:evidence.jsonl", path.display());
    let report = verify::verify_lines(vec![(name, evidence)], options);
    Ok(Verified { evidence: report, members: problems, manifest })
}
