//! Cedar policy: each judged event becomes a Cedar request (principal =
//! workload, action = record kind, resource = what was touched, context =
//! the kernel's verdict, the divergence found and the task's credentials)
//! and the answer becomes an [`Outcome`].
//!
//! # Outcomes
//!
//! Cedar answers allow or deny and names the policies that decided. witness
//! refines that with an `@outcome` annotation on those policies:
//!
//! | Cedar decision | deciding policies | outcome |
//! |---|---|---|
//! | allow | `permit`s | the most severe `@outcome` among them, else `allow` |
//! | deny | `forbid`s | the most severe `@outcome` among them, else `deny` |
//! | deny | none (nothing permits it) | `deny` (Cedar's default) |
//!
//! Severity order: allow < review < investigate < deny. So
//! `@outcome("review") permit(...)` lets an event through but asks for a
//! human look, and `@outcome("investigate") forbid(...)` marks it without
//! calling it a denial. A divergence from declared intent (see
//! [`Divergence`]) raises the outcome to at least `investigate` whatever
//! the policies say. The kernel's own verdict is kept beside the outcome:
//! "the kernel denied it" and "policy says deny" are different facts.
//!
//! Policies are checked against the schema ([`SCHEMA`]) at load; every
//! error names the file and line. Decisions are cached in a bounded cache
//! ([`cache`]) keyed by what the policies read of the request
//! ([`observed`]: the principal, the action, the resource's kind and the
//! attributes some policy reads), so the hot path evaluates each request
//! the policies can tell apart once. The key is a 128-bit SipHash-1-3 fingerprint of the
//! request under a random per-process key, not the request itself: a hit
//! then costs one hash of data already in cache and no walk through the
//! stored request's strings (which measured as the largest cost of a hit).
//! The cache keeps 96 bits of it ([`cache`]): two distinct requests share
//! an entry with probability 2^-96, and without the key nobody can aim for
//! a collision.

pub mod cache;
pub mod observed;

use observed::*;

use crate::text::{AtLine, Lines};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use cedar_policy::{
    ActionConstraint, Authorizer, Context, Decision, Effect, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    PolicyId, PolicySet, Request, RestrictedExpression, Schema, ValidationMode, Validator,
};
use thiserror::Error;
use witness_abi::record::{RecordKind, NS_NAMES};

/// The schema every policy is validated against.
pub const SCHEMA: &str = include_str!("witness.cedarschema");

/// What witness concludes about an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// Within declared intent.
    Allow,
    /// Allowed, but a person should look.
    Review,
    /// Suspicious: look now.
    Investigate,
    /// Against policy.
    Deny,
}

impl Outcome {
    /// Every outcome, least severe first.
    pub const ALL: [Outcome; 4] = [Outcome::Allow, Outcome::Review, Outcome::Investigate, Outcome::Deny];

    /// Its name (used in output and metric labels).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Review => "review",
            Self::Investigate => "investigate",
            Self::Deny => "deny",
        }
    }

    /// The outcome called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.name() == name)
    }
}

/// A departure from what the inventory declares, found by the collector
/// before policy evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Divergence {
    /// None found.
    #[default]
    None,
    /// A connection to a peer the workload does not declare.
    UndeclaredPeer,
    /// An exec of a binary whose digest (or path) is not among the declared.
    UnexpectedBinary,
    /// A secret declared by one workload opened, created, unlinked or
    /// renamed by another identity.
    ForeignSecret,
}

impl Divergence {
    /// Every divergence, `None` first.
    pub const ALL: [Divergence; 4] =
        [Divergence::None, Divergence::UndeclaredPeer, Divergence::UnexpectedBinary, Divergence::ForeignSecret];

    /// Its name ("" for none in Cedar, "none" in labels via [`Self::label`]).
    pub const fn name(self) -> &'static str {
        match self {
            Self::None => "",
            Self::UndeclaredPeer => "undeclared_peer",
            Self::UnexpectedBinary => "unexpected_binary",
            Self::ForeignSecret => "foreign_secret",
        }
    }

    /// Its metric label value.
    pub const fn label(self) -> &'static str {
        match self {
            Self::None => "none",
            d => d.name(),
        }
    }
}

/// A policy file that cannot be used.
#[derive(Debug, Error)]
pub enum PolicyError {
    /// The file cannot be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A syntax, schema or annotation error.
    #[error(transparent)]
    Invalid(AtLine),
    /// Policy paths were given but hold no policy (a wrong directory, or
    /// files not named `*.cedar`): every event would be judged deny.
    #[error("{paths}: no policy found (a directory contributes its *.cedar files)")]
    NoPolicy {
        /// The paths, comma-separated.
        paths: String,
    },
}

/// The principal of a request: a declared workload or `unattested`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Principal {
    /// SPIFFE ID ("unattested" when none matched).
    pub spiffe_id: String,
    /// Owner ("" when unattested).
    pub owner: String,
    /// Trust domain ("" when unattested).
    pub trust_domain: String,
    /// Whether an inventory entry matched.
    pub attested: bool,
}

impl Principal {
    /// The principal of processes no inventory entry matches.
    pub fn unattested() -> Self {
        Self { spiffe_id: "unattested".into(), owner: String::new(), trust_domain: String::new(), attested: false }
    }
}

/// What an event touched (the Cedar resource). Strings are borrowed from
/// the event where they can be, so a cached decision costs no copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resource<'a> {
    /// exec, bprm_check.
    Binary {
        /// Path.
        path: Cow<'a, str>,
        /// Lower-case hex digest, "" when unknown.
        sha256: Cow<'a, str>,
        /// Whether it is among the workload's declared binaries (true when
        /// it declares none).
        declared: bool,
    },
    /// The file kinds.
    File {
        /// Path.
        path: Cow<'a, str>,
        /// SPIFFE ID of the workload declaring it secret ("" if none).
        secret_owner: Cow<'a, str>,
        /// Whether it is a secret (declared, or flagged by the kernel).
        secret: bool,
    },
    /// The socket kinds.
    Peer {
        /// Address.
        ip: IpAddr,
        /// Port.
        port: u16,
        /// The local workload listening there ("" if unknown).
        spiffe_id: Cow<'a, str>,
        /// Whether the principal declares this peer.
        declared: bool,
    },
    /// cred_change: the new credentials.
    Credential {
        /// New uid.
        uid: u32,
        /// New euid.
        euid: u32,
        /// New gid.
        gid: u32,
        /// New egid.
        egid: u32,
        /// Whether effective capabilities grew.
        caps_gained: bool,
    },
    /// cap_denied.
    Capability {
        /// Capability number.
        number: u32,
        /// The check came from a setuid/setgid-family call
        /// (`CAP_OPT_INSETID`): the kernel asks for the capability first
        /// and, refused, falls back to the unprivileged rules, so a refusal
        /// here often does not fail the call.
        in_setid: bool,
    },
    /// ns_change: bit n set when namespace `NS_NAMES[n]` changed.
    Namespace {
        /// The changed mask.
        changed: u32,
    },
    /// module_load.
    Module {
        /// Module name.
        name: Cow<'a, str>,
    },
    /// bpf_prog_load.
    Program {
        /// Program name.
        name: Cow<'a, str>,
        /// Program type.
        prog_type: u32,
    },
    /// ptrace_attach: the target.
    Process {
        /// Target tgid.
        tgid: u32,
        /// Target uid.
        uid: u32,
    },
    /// key_access.
    Key {
        /// Key type.
        key_type: Cow<'a, str>,
        /// Description.
        description: Cow<'a, str>,
    },
}

/// The request context.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Facts<'a> {
    /// 0 or -errno.
    pub kernel_verdict: i32,
    /// What the collector found.
    pub divergence: Divergence,
    /// Acting task's uid.
    pub uid: u32,
    /// Acting task's euid.
    pub euid: u32,
    /// Acting task's gid.
    pub gid: u32,
    /// Acting process's executable ("" when unknown).
    pub exe: Cow<'a, str>,
}

/// One question for the policy set. It is also the cache key (through
/// [`Question::encode`]), so it holds everything the answer depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question<'a> {
    /// Index of the principal in the caller's identity table (the cache
    /// key part; `principal` must be the same for the same index).
    pub principal_index: u32,
    /// The action.
    pub action: RecordKind,
    /// The resource.
    pub resource: Resource<'a>,
    /// The context.
    pub facts: Facts<'a>,
}

impl Resource<'_> {
    /// Bytes of text the resource holds.
    fn text_len(&self) -> usize {
        match self {
            Self::Binary { path, sha256, .. } => path.len() + sha256.len(),
            Self::File { path, secret_owner, .. } => path.len() + secret_owner.len(),
            Self::Peer { spiffe_id, .. } => spiffe_id.len(),
            Self::Module { name } | Self::Program { name, .. } => name.len(),
            Self::Key { key_type, description } => key_type.len() + description.len(),
            Self::Credential { .. } | Self::Capability { .. } | Self::Namespace { .. } | Self::Process { .. } => 0,
        }
    }
}

impl Question<'_> {
    /// Appends an unambiguous byte encoding of what `observed` reads of
    /// the question to `out`: the principal, the action and the resource's
    /// kind always, then only the attributes the policies read (fixed
    /// fields little-endian, strings with a length prefix). For one policy
    /// set the fields present follow from the kind, so distinct questions
    /// that the policies can tell apart encode differently, and the keyed
    /// hash of the encoding is a fingerprint as strong as one of the
    /// question itself; hashing one buffer is much cheaper than the
    /// derived `Hash`, which made a hasher call per field.
    pub fn encode(&self, observed: &Observed, out: &mut Vec<u8>) {
        fn text(out: &mut Vec<u8>, s: &str) {
            // CAST: strings here come from records (at most a few KiB).
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        fn num(out: &mut Vec<u8>, n: u32) {
            out.extend_from_slice(&n.to_le_bytes());
        }
        // Destructured whole, so that a field added to the question is a
        // compile error here rather than two questions sharing an answer.
        let Question { principal_index, action, resource, facts } = self;
        let Facts { kernel_verdict, divergence, uid, euid, gid, exe } = facts;
        // One reservation for the fixed fields and the longest strings.
        out.reserve(64 + exe.len() + resource.text_len());
        num(out, *principal_index);
        out.extend_from_slice(&(*action as u16).to_le_bytes());
        match resource {
            Resource::Binary { path, sha256, declared } => {
                out.push(1);
                if observed.reads_resource(R_PATH) {
                    text(out, path);
                }
                if observed.reads_resource(R_SHA256) {
                    text(out, sha256);
                }
                if observed.reads_resource(R_DECLARED) {
                    out.push(u8::from(*declared));
                }
            }
            Resource::File { path, secret_owner, secret } => {
                out.push(2);
                if observed.reads_resource(R_PATH) {
                    text(out, path);
                }
                if observed.reads_resource(R_SECRET_OWNER) {
                    text(out, secret_owner);
                }
                if observed.reads_resource(R_SECRET) {
                    out.push(u8::from(*secret));
                }
            }
            Resource::Peer { ip, port, spiffe_id, declared } => {
                out.push(3);
                if observed.reads_resource(R_IP) {
                    match ip {
                        IpAddr::V4(a) => {
                            out.push(4);
                            out.extend_from_slice(&a.octets());
                        }
                        IpAddr::V6(a) => {
                            out.push(6);
                            out.extend_from_slice(&a.octets());
                        }
                    }
                }
                if observed.reads_resource(R_PORT) {
                    out.extend_from_slice(&port.to_le_bytes());
                }
                if observed.reads_resource(R_SPIFFE_ID) {
                    text(out, spiffe_id);
                }
                if observed.reads_resource(R_DECLARED) {
                    out.push(u8::from(*declared));
                }
            }
            Resource::Credential { uid, euid, gid, egid, caps_gained } => {
                out.push(4);
                for (bit, n) in [(R_UID, *uid), (R_EUID, *euid), (R_GID, *gid), (R_EGID, *egid)] {
                    if observed.reads_resource(bit) {
                        num(out, n);
                    }
                }
                if observed.reads_resource(R_CAPS_GAINED) {
                    out.push(u8::from(*caps_gained));
                }
            }
            Resource::Capability { number, in_setid } => {
                out.push(5);
                // The name is the number's.
                if observed.reads_resource(R_NUMBER | R_NAME) {
                    num(out, *number);
                }
                if observed.reads_resource(R_IN_SETID) {
                    out.push(u8::from(*in_setid));
                }
            }
            Resource::Namespace { changed } => {
                out.push(6);
                if observed.reads_resource(R_CHANGED) {
                    num(out, *changed);
                }
            }
            Resource::Module { name } => {
                out.push(7);
                if observed.reads_resource(R_NAME) {
                    text(out, name);
                }
            }
            Resource::Program { name, prog_type } => {
                out.push(8);
                if observed.reads_resource(R_NAME) {
                    text(out, name);
                }
                if observed.reads_resource(R_PROG_TYPE) {
                    num(out, *prog_type);
                }
            }
            Resource::Process { tgid, uid } => {
                out.push(9);
                if observed.reads_resource(R_TGID) {
                    num(out, *tgid);
                }
                if observed.reads_resource(R_UID) {
                    num(out, *uid);
                }
            }
            Resource::Key { key_type, description } => {
                out.push(10);
                if observed.reads_resource(R_KEY_TYPE) {
                    text(out, key_type);
                }
                if observed.reads_resource(R_DESCRIPTION) {
                    text(out, description);
                }
            }
        }
        // kernel_denied is kernel_verdict != 0.
        if observed.reads_context(C_KERNEL_VERDICT) {
            out.extend_from_slice(&kernel_verdict.to_le_bytes());
        } else if observed.reads_context(C_KERNEL_DENIED) {
            out.push(u8::from(*kernel_verdict != 0));
        }
        if observed.reads_context(C_DIVERGENCE) {
            out.push(*divergence as u8);
        }
        for (bit, n) in [(C_UID, *uid), (C_EUID, *euid), (C_GID, *gid)] {
            if observed.reads_context(bit) {
                num(out, n);
            }
        }
        if observed.reads_context(C_EXE) {
            text(out, exe);
        }
    }
}

/// An answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Answer {
    /// The outcome from policy alone (divergence is applied by the caller).
    pub outcome: Outcome,
    /// Names of the deciding policies (`@id` or `file:line`).
    pub policies: Arc<[String]>,
    /// Policies that failed to evaluate on this request.
    pub errors: u32,
}

/// How a policy decides.
#[derive(Clone, Debug)]
struct PolicyInfo {
    name: String,
    outcome: Outcome,
    permit: bool,
}

/// A loaded, validated policy set.
pub struct Policies {
    set: PolicySet,
    /// By action (`RecordKind as usize`): the policies whose action scope
    /// admits it. Cedar checks a policy's scope before its condition, so a
    /// policy whose scope excludes the action is neither satisfied nor in
    /// error and leaving it out gives the same answer; each one evaluated
    /// costs the construction of its condition.
    by_action: Vec<PolicySet>,
    info: HashMap<PolicyId, PolicyInfo>,
    schema: Schema,
    authorizer: Authorizer,
    files: Vec<PathBuf>,
    digest: String,
    observed: Observed,
}

impl std::fmt::Debug for Policies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policies").field("policies", &self.info.len()).field("files", &self.files).finish()
    }
}

/// The first source offset a diagnostic points at.
fn offset_of(d: &dyn miette::Diagnostic) -> Option<usize> {
    if let Some(label) = d.labels().and_then(|mut l| l.next()) {
        return Some(label.offset());
    }
    d.related().and_then(|mut r| r.find_map(offset_of))
}

/// The message of a diagnostic with its help, on one line.
fn message_of(d: &dyn miette::Diagnostic) -> String {
    let mut m = d.to_string();
    if let Some(help) = d.help() {
        m.push_str(&format!(" ({help})"));
    }
    m
}

/// The built-in schema, parsed.
pub fn schema() -> Schema {
    /// Parsed once: parsing dominated loading a small policy set.
    static PARSED: std::sync::LazyLock<Schema> = std::sync::LazyLock::new(|| {
        // The schema is part of this crate and covered by tests.
        #[allow(clippy::expect_used)]
        Schema::from_cedarschema_str(SCHEMA).expect("built-in schema parses").0
    });
    PARSED.clone()
}

/// Parsed and validated policy files, each with its text.
type Loaded = Vec<(PathBuf, String)>;

impl Policies {
    /// Loads `.cedar` files; a directory contributes its `*.cedar` files in
    /// name order.
    pub fn load(paths: &[PathBuf]) -> Result<Self, PolicyError> {
        let mut files: Loaded = Vec::new();
        for path in paths {
            let io = |source| PolicyError::Io { path: path.clone(), source };
            if path.is_dir() {
                let mut names: Vec<PathBuf> = std::fs::read_dir(path)
                    .map_err(io)?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "cedar"))
                    .collect();
                names.sort();
                for name in names {
                    let text = std::fs::read_to_string(&name)
                        .map_err(|source| PolicyError::Io { path: name.clone(), source })?;
                    files.push((name, text));
                }
            } else {
                files.push((path.clone(), std::fs::read_to_string(path).map_err(io)?));
            }
        }
        let policies = Self::from_texts(files)?;
        if policies.is_empty() {
            let paths = paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
            return Err(PolicyError::NoPolicy { paths });
        }
        if !policies.permits() {
            tracing::warn!(
                "{}: no permit policy: every event will be judged deny (or by a forbid's @outcome)",
                policies.files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            );
        }
        Ok(policies)
    }

    /// Parses and validates policy texts; the paths only name them.
    pub fn from_texts(files: Loaded) -> Result<Self, PolicyError> {
        let schema = schema();
        let mut set = PolicySet::new();
        let mut info = HashMap::new();
        // `@id`s name policies in evidence and metrics: each names one.
        let mut ids: HashMap<String, String> = HashMap::new();
        for (path, text) in &files {
            let lines = Lines::new(text);
            let invalid = |offset: usize, message: String| {
                PolicyError::Invalid(AtLine { path: path.clone(), line: lines.line_of(offset), message })
            };
            let parsed = PolicySet::from_str(text).map_err(|errs| {
                let first = errs.iter().next();
                let offset = first.and_then(|e| offset_of(e)).unwrap_or(0);
                invalid(offset, first.map_or_else(|| errs.to_string(), |e| message_of(e)))
            })?;
            if parsed.templates().next().is_some() {
                return Err(invalid(0, "policy templates are not supported".into()));
            }
            // The parser numbers policies in file order: policy0, policy1, ...
            let mut policies: Vec<_> = parsed.policies().collect();
            policies.sort_by_key(|p| p.id().to_string().trim_start_matches("policy").parse::<usize>().unwrap_or(0));
            let mut cursor = 0;
            for p in policies {
                let src = p.to_string();
                let offset = text[cursor..].find(src.trim()).map_or(cursor, |o| cursor + o);
                cursor = offset + src.trim().len().min(text.len() - offset);
                let line = crate::text::line_of(text, offset);
                let here = format!("{}:{line}", path.display());
                let name = match p.annotation("id") {
                    Some(id) => {
                        if let Some(first) = ids.insert(id.to_string(), here.clone()) {
                            return Err(invalid(
                                offset,
                                format!("@id(\"{id}\") is already the id of the policy at {first}"),
                            ));
                        }
                        id.to_string()
                    }
                    None => here,
                };
                let at = text[offset..].find("@outcome").map_or(offset, |o| offset + o);
                let outcome = match p.annotation("outcome") {
                    None => match p.effect() {
                        Effect::Permit => Outcome::Allow,
                        Effect::Forbid => Outcome::Deny,
                    },
                    Some(o) => Outcome::parse(o).ok_or_else(|| {
                        invalid(at, format!("@outcome(\"{o}\"): must be allow, review, investigate or deny"))
                    })?,
                };
                if p.effect() == Effect::Forbid && outcome == Outcome::Allow {
                    return Err(invalid(at, "@outcome(\"allow\") on a forbid policy contradicts it".into()));
                }
                let id = PolicyId::new(format!("{}#{}", path.display(), line));
                if info.contains_key(&id) {
                    return Err(invalid(offset, "two policies on one line; put each on its own line".into()));
                }
                set.add(p.new_id(id.clone())).map_err(|e| invalid(offset, format!("cannot add policy: {e}")))?;
                info.insert(id, PolicyInfo { name, outcome, permit: p.effect() == Effect::Permit });
            }
        }
        let result = Validator::new(schema.clone()).validate(&set, ValidationMode::Strict);
        if let Some(err) = result.validation_errors().next() {
            let id = err.policy_id();
            let (path, line) = id
                .to_string()
                .rsplit_once('#')
                .map_or((PathBuf::new(), 1), |(p, l)| (PathBuf::from(p), l.parse().unwrap_or(1)));
            // Point at the exact offending line when the error has a label.
            let line = files
                .iter()
                .find(|(p, _)| *p == path)
                .and_then(|(_, text)| {
                    // Labels are offsets into the file the policy came from.
                    Some(crate::text::line_of(text, offset_of(err)?))
                })
                .unwrap_or(line);
            let name = info.get(id).map_or_else(|| id.to_string(), |i| i.name.clone());
            let message = message_of(err).replace(&format!("`{id}`"), &format!("`{name}`"));
            return Err(PolicyError::Invalid(AtLine { path, line, message }));
        }
        // What evidence names as the policies in force: each file's path
        // and text, in load order, with their lengths (so no two sets of
        // files hash alike).
        let mut all = Vec::new();
        for (path, text) in &files {
            let path = path.as_os_str().as_encoded_bytes();
            for part in [path, text.as_bytes()] {
                all.extend_from_slice(&(part.len() as u64).to_le_bytes());
                all.extend_from_slice(part);
            }
        }
        Ok(Self {
            observed: Observed::of(&set),
            by_action: by_action(&set).map_err(|e| {
                PolicyError::Invalid(AtLine {
                    path: files.first().map(|(p, _)| p.clone()).unwrap_or_default(),
                    line: 1,
                    message: format!("cannot split the policies by action: {e}"),
                })
            })?,
            set,
            info,
            schema,
            authorizer: Authorizer::new(),
            files: files.into_iter().map(|(p, _)| p).collect(),
            digest: crate::evidence::sha256_tag(&all),
        })
    }

    /// `sha256:` of the files' paths and texts, in load order: evidence
    /// names the policies in force by it.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The files, in load order.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// How many policies are loaded.
    pub fn len(&self) -> usize {
        self.info.len()
    }

    /// Whether no policy is loaded.
    pub fn is_empty(&self) -> bool {
        self.info.is_empty()
    }

    /// The `Workload::"..."` entities the policies name, each with the
    /// policy's name.
    pub fn workload_literals(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for p in self.set.policies() {
            let name = self.info.get(p.id()).map_or_else(|| p.id().to_string(), |i| i.name.clone());
            for uid in p.entity_literals() {
                if uid.type_name().basename() == "Workload" {
                    out.push((name.clone(), uid.id().unescaped().to_string()));
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Whether any loaded policy is a `permit`.
    pub fn permits(&self) -> bool {
        self.info.values().any(|i| i.permit)
    }

    /// Evaluates one question (uncached).
    pub fn evaluate(&self, principal: &Principal, q: &Question<'_>) -> Answer {
        self.evaluate_in(self.by_action.get(q.action as usize).unwrap_or(&self.set), principal, q)
    }

    /// Evaluates one question against `set`.
    fn evaluate_in(&self, set: &PolicySet, principal: &Principal, q: &Question<'_>) -> Answer {
        let (request, entities) = match build(principal, q) {
            Ok(x) => x,
            // Only reachable through a bug in `build`; judged as an error.
            Err(_) => return Answer { outcome: Outcome::Review, policies: Arc::from([]), errors: 1 },
        };
        let response = self.authorizer.is_authorized(&request, set, &entities);
        let errors = u32::try_from(response.diagnostics().errors().count()).unwrap_or(u32::MAX);
        let mut outcome = None::<Outcome>;
        let mut policies = Vec::new();
        let mut reasons: Vec<_> = response.diagnostics().reason().collect();
        reasons.sort_by_key(|id| id.to_string());
        for id in reasons {
            if let Some(i) = self.info.get(id) {
                outcome = Some(outcome.map_or(i.outcome, |o| o.max(i.outcome)));
                policies.push(i.name.clone());
            }
        }
        let outcome = match (response.decision(), outcome) {
            (_, Some(o)) => o,
            (Decision::Allow, None) => Outcome::Allow,
            (Decision::Deny, None) => Outcome::Deny,
        };
        Answer { outcome, policies: policies.into(), errors }
    }

    /// What the policies read of a request (what the decision cache is
    /// keyed by).
    pub fn observed(&self) -> Observed {
        self.observed
    }

    /// The schema policies were validated against.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }
}

/// The policies each action can be decided by (see `Policies::by_action`).
/// A policy scoped to an entity that is not an action of the schema stays
/// in every set.
fn by_action(set: &PolicySet) -> Result<Vec<PolicySet>, String> {
    let actions: Vec<EntityUid> = RecordKind::ALL.iter().map(|k| uid("Action", k.name())).collect();
    let mut out = vec![PolicySet::new(); RecordKind::ALL.len()];
    for p in set.policies() {
        let scope = p.action_constraint();
        let admits = |action: &EntityUid| match &scope {
            ActionConstraint::Any => true,
            ActionConstraint::Eq(a) => !actions.contains(a) || a == action,
            ActionConstraint::In(list) => !list.iter().all(|a| actions.contains(a)) || list.contains(action),
        };
        for kind in RecordKind::ALL {
            if admits(&actions[*kind as usize]) {
                out[*kind as usize].add(p.clone()).map_err(|e| format!("{}: {e}", p.id()))?;
            }
        }
    }
    Ok(out)
}

fn uid(ty: &str, id: &str) -> EntityUid {
    // The type names are the schema's own and always parse.
    #[allow(clippy::expect_used)]
    let ty = EntityTypeName::from_str(ty).expect("entity type name");
    EntityUid::from_type_name_and_id(ty, EntityId::new(id))
}

fn s(v: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(v.to_string())
}

fn n(v: impl Into<i64>) -> RestrictedExpression {
    RestrictedExpression::new_long(v.into())
}

fn b(v: bool) -> RestrictedExpression {
    RestrictedExpression::new_bool(v)
}

/// Capability names by number (`include/uapi/linux/capability.h`).
pub const CAP_NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The name of capability `number`.
pub fn cap_name(number: u32) -> String {
    CAP_NAMES.get(number as usize).map_or_else(|| format!("CAP_{number}"), |n| (*n).to_string())
}

/// The Cedar entity of a resource.
fn resource_entity(r: &Resource<'_>) -> (EntityUid, HashMap<String, RestrictedExpression>) {
    let attrs = |pairs: Vec<(&str, RestrictedExpression)>| pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    match r {
        Resource::Binary { path, sha256, declared } => {
            (uid("Binary", path), attrs(vec![("path", s(path)), ("sha256", s(sha256)), ("declared", b(*declared))]))
        }
        Resource::File { path, secret_owner, secret } => (
            uid("File", path),
            attrs(vec![("path", s(path)), ("secret", b(*secret)), ("secret_owner", s(secret_owner))]),
        ),
        Resource::Peer { ip, port, spiffe_id, declared } => (
            uid("Peer", &std::net::SocketAddr::new(*ip, *port).to_string()),
            attrs(vec![
                ("ip", RestrictedExpression::new_ip(ip.to_string())),
                ("port", n(*port)),
                ("spiffe_id", s(spiffe_id)),
                ("declared", b(*declared)),
            ]),
        ),
        Resource::Credential { uid: u, euid, gid, egid, caps_gained } => (
            uid("Credential", &format!("{u}/{euid}/{gid}/{egid}")),
            attrs(vec![
                ("uid", n(*u)),
                ("euid", n(*euid)),
                ("gid", n(*gid)),
                ("egid", n(*egid)),
                ("caps_gained", b(*caps_gained)),
            ]),
        ),
        Resource::Capability { number, in_setid } => {
            let name = cap_name(*number);
            (
                uid("Capability", &name),
                attrs(vec![("number", n(*number)), ("name", s(&name)), ("in_setid", b(*in_setid))]),
            )
        }
        Resource::Namespace { changed } => {
            let names: Vec<&str> =
                NS_NAMES.iter().enumerate().filter(|(i, _)| changed & (1 << i) != 0).map(|(_, n)| *n).collect();
            (
                uid("Namespace", &names.join(",")),
                attrs(vec![("changed", RestrictedExpression::new_set(names.iter().map(|x| s(x))))]),
            )
        }
        Resource::Module { name } => (uid("Module", name), attrs(vec![("name", s(name))])),
        Resource::Program { name, prog_type } => {
            (uid("Program", name), attrs(vec![("name", s(name)), ("prog_type", n(*prog_type))]))
        }
        Resource::Process { tgid, uid: u } => {
            (uid("Process", &tgid.to_string()), attrs(vec![("tgid", n(*tgid)), ("uid", n(*u))]))
        }
        Resource::Key { key_type, description } => (
            uid("Key", &format!("{key_type}:{description}")),
            attrs(vec![("key_type", s(key_type)), ("description", s(description))]),
        ),
    }
}

/// The Cedar request and entities of a question.
fn build(p: &Principal, q: &Question<'_>) -> Result<(Request, Entities), Box<dyn std::error::Error>> {
    let principal_uid = uid("Workload", &p.spiffe_id);
    let principal = Entity::new(
        principal_uid.clone(),
        [
            ("spiffe_id".to_string(), s(&p.spiffe_id)),
            ("owner".to_string(), s(&p.owner)),
            ("trust_domain".to_string(), s(&p.trust_domain)),
            ("attested".to_string(), b(p.attested)),
        ]
        .into(),
        HashSet::new(),
    )?;
    let (resource_uid, attrs) = resource_entity(&q.resource);
    let resource = Entity::new(resource_uid.clone(), attrs, HashSet::new())?;
    let f = &q.facts;
    let context = Context::from_pairs([
        ("kernel_verdict".to_string(), n(f.kernel_verdict)),
        ("kernel_denied".to_string(), b(f.kernel_verdict != 0)),
        ("divergence".to_string(), s(f.divergence.name())),
        ("uid".to_string(), n(f.uid)),
        ("euid".to_string(), n(f.euid)),
        ("gid".to_string(), n(f.gid)),
        ("exe".to_string(), s(&f.exe)),
    ])?;
    let action = uid("Action", q.action.name());
    let request = Request::new(principal_uid, action, resource_uid, context, None)?;
    let entities = Entities::from_entities([principal, resource], None)?;
    Ok((request, entities))
}

/// Decision cache statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Answers served from the cache.
    pub hits: u64,
    /// Answers evaluated.
    pub misses: u64,
    /// Nanoseconds spent evaluating (misses only).
    pub eval_ns: u64,
    /// Policy evaluation errors.
    pub errors: u64,
}

/// A bounded cache of answers in front of a policy set.
pub struct Judge {
    policies: Option<Policies>,
    cache: cache::DecisionCache,
    key: (u64, u64),
    /// The encoded question being fingerprinted (kept to reuse its memory).
    scratch: Vec<u8>,
    /// Allow with no deciding policy: the answer without policies, and
    /// for lifecycle events (its empty list is shared: an empty
    /// `Arc<[String]>` is still an allocation).
    open: Answer,
    /// Counters.
    pub stats: CacheStats,
}

impl std::fmt::Debug for Judge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Judge").field("policies", &self.policies).field("stats", &self.stats).finish()
    }
}

/// Default number of cached answers.
pub const DEFAULT_CACHE_ENTRIES: usize = 1 << 18;

impl Judge {
    /// A judge over `policies` (None: every event is allowed by policy, and
    /// only divergence raises outcomes) caching at most `entries` answers.
    pub fn new(policies: Option<Policies>, entries: usize) -> Self {
        Self {
            policies,
            cache: cache::DecisionCache::new(entries),
            key: (random_u64(), random_u64()),
            scratch: Vec::new(),
            open: Answer { outcome: Outcome::Allow, policies: Arc::from([]), errors: 0 },
            stats: CacheStats::default(),
        }
    }

    /// An allow decided without policy (lifecycle events).
    pub fn allow(&self) -> &Answer {
        &self.open
    }

    /// The policies, if any.
    pub fn policies(&self) -> Option<&Policies> {
        self.policies.as_ref()
    }

    /// Answers a question, from the cache when possible. The answer is
    /// borrowed: cloning its policy list (an atomic count) on every event
    /// showed in the profile, and most events need only the outcome.
    pub fn judge(&mut self, principal: &Principal, q: &Question<'_>) -> &Answer {
        let Some(policies) = &self.policies else {
            return &self.open;
        };
        self.scratch.clear();
        q.encode(&policies.observed, &mut self.scratch);
        let fingerprint =
            siphasher::sip128::SipHasher13::new_with_keys(self.key.0, self.key.1).hash(&self.scratch).as_u128();
        let number = match self.cache.lookup(fingerprint) {
            Some(n) => {
                self.stats.hits += 1;
                n
            }
            None => {
                let start = Instant::now();
                let answer = policies.evaluate(principal, q);
                self.stats.eval_ns += u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
                self.stats.misses += 1;
                self.stats.errors += u64::from(answer.errors);
                self.cache.put(fingerprint, answer)
            }
        };
        self.cache.answer(number).unwrap_or(&self.open)
    }
}

/// A random number from the standard library's randomly keyed hasher
/// (which seeds itself from the OS).
fn random_u64() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0u8)
}

/// Whether `path` looks like a policy file.
pub fn is_policy_file(path: &Path) -> bool {
    path.extension().is_some_and(|x| x == "cedar")
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"// Base: what is not forbidden is allowed.
@id("base")
permit(principal, action, resource);

@id("no-root-shells")
forbid(principal, action == Action::"cred_change", resource)
  when { resource.uid == 0 && context.uid != 0 };

@id("unattested-exec")
@outcome("review")
forbid(principal, action == Action::"exec", resource)
  when { !principal.attested };

@id("secrets")
@outcome("investigate")
forbid(principal, action == Action::"file_open", resource)
  when { resource.secret && resource.secret_owner != principal.spiffe_id };
"#;

    fn policies(text: &str) -> Result<Policies, PolicyError> {
        Policies::from_texts(vec![(PathBuf::from("p.cedar"), text.to_string())])
    }

    #[test]
    fn an_id_names_one_policy() {
        let text = "@id(\"base\")\npermit(principal, action, resource);\n\n@id(\"base\")\nforbid(principal, action, resource);\n";
        let err = policies(text).unwrap_err().to_string();
        assert!(err.starts_with("p.cedar:4: ") && err.contains("already the id of the policy at p.cedar:1"), "{err}");
    }

    #[test]
    fn workload_literals_are_listed_with_their_policy() {
        let text = "@id(\"api-only\")\npermit(principal == Workload::\"spiffe://example.org/api\", action, resource);\n\
                    forbid(principal, action, resource) when { principal == Workload::\"spiffe://example.org/typo\" };\n";
        let p = policies(text).unwrap();
        assert_eq!(
            p.workload_literals(),
            [
                ("api-only".to_string(), "spiffe://example.org/api".to_string()),
                ("p.cedar:3".to_string(), "spiffe://example.org/typo".to_string())
            ]
        );
    }

    /// A policy directory without `*.cedar` files is an error, not a set
    /// that judges everything deny.
    #[test]
    fn paths_without_policies_are_an_error() {
        let dir = std::env::temp_dir().join(format!("witness-policy-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("base.cedar.bak"), POLICY).unwrap();
        let err = Policies::load(std::slice::from_ref(&dir)).unwrap_err();
        assert!(matches!(err, PolicyError::NoPolicy { .. }), "{err}");
        assert!(err.to_string().contains("no policy found"), "{err}");
        assert!(err.to_string().contains(&dir.display().to_string()), "{err}");
        // A file with only comments holds no policy either.
        let comments = dir.join("only-comments.cedar");
        std::fs::write(&comments, "// nothing yet\n").unwrap();
        assert!(matches!(Policies::load(&[comments]), Err(PolicyError::NoPolicy { .. })));
        std::fs::write(dir.join("base.cedar"), POLICY).unwrap();
        let loaded = Policies::load(std::slice::from_ref(&dir)).unwrap();
        assert!(loaded.permits());
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(!policies("forbid(principal, action, resource);").unwrap().permits());
    }

    fn api() -> Principal {
        Principal {
            spiffe_id: "spiffe://example.org/api".into(),
            owner: "team-api".into(),
            trust_domain: "example.org".into(),
            attested: true,
        }
    }

    fn q(action: RecordKind, resource: Resource<'static>) -> Question<'static> {
        Question { principal_index: 0, action, resource, facts: Facts { uid: 1000, euid: 1000, ..Default::default() } }
    }

    #[test]
    fn encodings_keep_string_boundaries() {
        let file = |path: &'static str, owner: &'static str| {
            let mut out = Vec::new();
            q(RecordKind::FileOpen, Resource::File { path: path.into(), secret_owner: owner.into(), secret: false })
                .encode(&Observed::EVERYTHING, &mut out);
            out
        };
        assert_ne!(file("/ab", "c"), file("/a", "bc"));
        assert_eq!(file("/a", "bc"), file("/a", "bc"));
        let mut module = Vec::new();
        q(RecordKind::ModuleLoad, Resource::Module { name: "x".into() }).encode(&Observed::EVERYTHING, &mut module);
        let mut program = Vec::new();
        q(RecordKind::ModuleLoad, Resource::Program { name: "x".into(), prog_type: 0 })
            .encode(&Observed::EVERYTHING, &mut program);
        assert_ne!(module, program);
    }

    #[test]
    fn the_schema_parses() {
        let _ = schema();
    }

    #[test]
    fn outcomes_follow_annotations() {
        let p = policies(POLICY).unwrap();
        assert_eq!(p.len(), 4);
        // base and unattested-exec are all that can decide an exec.
        assert_eq!(p.by_action[RecordKind::Exec as usize].policies().count(), 2);
        let exec = q(RecordKind::Exec, Resource::Binary { path: "/bin/sh".into(), sha256: "".into(), declared: true });
        let a = p.evaluate(&api(), &exec);
        assert_eq!((a.outcome, &a.policies[..]), (Outcome::Allow, ["base".to_string()].as_slice()));
        let a = p.evaluate(&Principal::unattested(), &exec);
        assert_eq!((a.outcome, &a.policies[..]), (Outcome::Review, ["unattested-exec".to_string()].as_slice()));
        let root =
            q(RecordKind::CredChange, Resource::Credential { uid: 0, euid: 0, gid: 0, egid: 0, caps_gained: true });
        assert_eq!(p.evaluate(&api(), &root).outcome, Outcome::Deny);
        let secret = |owner: &str| {
            q(
                RecordKind::FileOpen,
                Resource::File { path: "/s".into(), secret_owner: owner.to_string().into(), secret: true },
            )
        };
        assert_eq!(p.evaluate(&api(), &secret("spiffe://example.org/db")).outcome, Outcome::Investigate);
        assert_eq!(p.evaluate(&api(), &secret("spiffe://example.org/api")).outcome, Outcome::Allow);
        // No permit at all: Cedar's default deny.
        let none = policies("forbid(principal, action == Action::\"exec\", resource);").unwrap();
        let a = none.evaluate(&api(), &q(RecordKind::ModuleLoad, Resource::Module { name: "x".into() }));
        assert_eq!((a.outcome, a.policies.len()), (Outcome::Deny, 0));
    }

    #[test]
    fn every_judged_kind_builds_a_valid_request() {
        let p = policies(POLICY).unwrap();
        let cases = [
            (RecordKind::BprmCheck, Resource::Binary { path: "/x".into(), sha256: "ab".into(), declared: false }),
            (RecordKind::FileRename, Resource::File { path: "/x".into(), secret_owner: "".into(), secret: false }),
            (
                RecordKind::SockConnect,
                Resource::Peer { ip: "::1".parse().unwrap(), port: 443, spiffe_id: "".into(), declared: false },
            ),
            (RecordKind::CapDenied, Resource::Capability { number: 21, in_setid: false }),
            (RecordKind::NsChange, Resource::Namespace { changed: 0b10100 }),
            (RecordKind::ModuleLoad, Resource::Module { name: "m".into() }),
            (RecordKind::BpfProgLoad, Resource::Program { name: "p".into(), prog_type: 1 }),
            (RecordKind::PtraceAttach, Resource::Process { tgid: 1, uid: 0 }),
            (RecordKind::KeyAccess, Resource::Key { key_type: "user".into(), description: "d".into() }),
        ];
        for (action, resource) in cases {
            let question = q(action, resource);
            let (request, entities) = build(&api(), &question).unwrap();
            // Validates the request and entities against the schema.
            Request::new(
                request.principal().unwrap().clone(),
                request.action().unwrap().clone(),
                request.resource().unwrap().clone(),
                request.context().unwrap().clone(),
                Some(p.schema()),
            )
            .unwrap();
            Entities::from_entities(entities.iter().cloned(), Some(p.schema())).unwrap();
            let a = p.evaluate(&api(), &question);
            assert_eq!((a.outcome, a.errors), (Outcome::Allow, 0), "{action:?}");
        }
    }

    #[test]
    fn errors_name_file_and_line() {
        let cases = [
            (
                POLICY.replace(
                    "forbid(principal, action == Action::\"exec\"",
                    "forbid(principal, action = Action::\"exec\"",
                ),
                11,
                "",
            ),
            (POLICY.replace("resource.uid == 0", "resource.colour == 0"), 7, "colour"),
            (POLICY.replace("Action::\"exec\"", "Action::\"exce\""), 11, "exce"),
            (POLICY.replace("@outcome(\"review\")", "@outcome(\"later\")"), 10, "must be allow, review"),
            (POLICY.replace("@outcome(\"review\")", "@outcome(\"allow\")"), 10, "contradicts"),
        ];
        for (text, line, want) in cases {
            let err = policies(&text).unwrap_err().to_string();
            assert!(err.starts_with(&format!("p.cedar:{line}: ")), "{err}");
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn the_cache_answers_repeats() {
        let reads_names =
            format!("{POLICY}\nforbid(principal, action, resource is Module) when {{ resource.name == \"b\" }};");
        let mut judge = Judge::new(Some(policies(&reads_names).unwrap()), 4);
        let a = q(RecordKind::ModuleLoad, Resource::Module { name: "a".into() });
        let b = q(RecordKind::ModuleLoad, Resource::Module { name: "b".into() });
        let c = q(RecordKind::ModuleLoad, Resource::Module { name: "c".into() });
        let mut answers = Vec::new();
        for question in [&a, &a, &b, &a, &c, &b] {
            answers.push(judge.judge(&api(), question).clone());
        }
        // a miss, a hit, b miss, a hit, c miss, b hit; a hit answers as
        // the evaluation did (eviction is tested in `cache`).
        assert_eq!((judge.stats.hits, judge.stats.misses), (3, 3));
        assert_eq!(answers[1], answers[0]);
        assert_eq!(answers[5], answers[2]);
        assert_eq!(answers[2].outcome, Outcome::Deny);
        // POLICY reads no module name: one evaluation answers all three.
        let mut judge = Judge::new(Some(policies(POLICY).unwrap()), 4);
        for question in [&a, &b, &c] {
            judge.judge(&api(), question);
        }
        assert_eq!((judge.stats.hits, judge.stats.misses), (2, 1));
        let mut open = Judge::new(None, 10);
        assert_eq!(open.judge(&api(), &a).outcome, Outcome::Allow);
    }

    /// Questions that encode alike under a policy set's [`Observed`] get
    /// the same answer from it: sampled questions over every resource kind
    /// and context, against policy sets that read few attributes, many, or
    /// the resource whole.
    #[test]
    fn observed_keys_answer_as_evaluation_does() {
        let sets = [
            POLICY.to_string(),
            format!("{}{}", include_str!("../../../examples/policy/baseline.cedar"), include_str!("../../../examples/policy/identity.cedar")),
            r#"permit(principal, action, resource);
               forbid(principal, action, resource == File::"/etc/shadow");
               forbid(principal, action, resource) when { context.exe like "*/sh" && context.kernel_verdict == -13 };
               @outcome("review") forbid(principal, action, resource is Peer) when { resource.port == 22 || resource.ip.isInRange(ip("10.0.0.0/8")) };
               @outcome("investigate") forbid(principal, action, resource) when { context.divergence != "" && resource has name && resource.name like "b*" };
               @outcome("review") forbid(principal, action, resource is Credential) when { resource.caps_gained || context.euid == 0 };"#
                .to_string(),
            r#"permit(principal, action, resource) when { resource has path && resource.path like "/etc/*" };"#.to_string(),
        ];
        let principals = [api(), Principal::unattested()];
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: usize| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            // CAST: n is small.
            (rng % n as u64) as usize
        };
        let texts = ["/etc/shadow", "/etc/passwd", "/srv/a", "b1", "bash", ""];
        for text in &sets {
            let p = policies(text).unwrap();
            let observed = p.observed();
            let mut seen: HashMap<Vec<u8>, (Answer, String)> = HashMap::new();
            let mut questions = 0;
            for _ in 0..4000 {
                let t = |i: usize| Cow::Borrowed(texts[i % texts.len()]);
                let resource = match next(10) {
                    0 => Resource::Binary { path: t(next(6)), sha256: t(next(2) + 4), declared: next(2) == 0 },
                    1 => Resource::File { path: t(next(6)), secret_owner: t(next(2) + 4), secret: next(2) == 0 },
                    2 => Resource::Peer {
                        ip: ["10.1.2.3", "192.168.0.1", "::1"][next(3)].parse().unwrap(),
                        port: [22, 443][next(2)],
                        spiffe_id: t(next(2) + 4),
                        declared: next(2) == 0,
                    },
                    3 => Resource::Credential {
                        uid: [0, 1000][next(2)],
                        euid: [0, 1000][next(2)],
                        gid: [0, 1000][next(2)],
                        egid: [0, 1000][next(2)],
                        caps_gained: next(2) == 0,
                    },
                    4 => Resource::Capability { number: [7, 21][next(2)], in_setid: next(2) == 0 },
                    5 => Resource::Namespace { changed: [1, 6][next(2)] },
                    6 => Resource::Module { name: t(next(6)) },
                    7 => Resource::Program { name: t(next(6)), prog_type: [1, 2][next(2)] },
                    8 => Resource::Process { tgid: [1, 2][next(2)], uid: [0, 1000][next(2)] },
                    _ => Resource::Key { key_type: t(next(6)), description: t(next(6)) },
                };
                let action = match resource {
                    Resource::Binary { .. } => [RecordKind::Exec, RecordKind::BprmCheck][next(2)],
                    Resource::File { .. } => [RecordKind::FileOpen, RecordKind::FileUnlink][next(2)],
                    Resource::Peer { .. } => [RecordKind::SockConnect, RecordKind::SockBind][next(2)],
                    Resource::Credential { .. } => RecordKind::CredChange,
                    Resource::Capability { .. } => RecordKind::CapDenied,
                    Resource::Namespace { .. } => RecordKind::NsChange,
                    Resource::Module { .. } => RecordKind::ModuleLoad,
                    Resource::Program { .. } => RecordKind::BpfProgLoad,
                    Resource::Process { .. } => RecordKind::PtraceAttach,
                    Resource::Key { .. } => RecordKind::KeyAccess,
                };
                let principal_index = next(2);
                let question = Question {
                    // CAST: 0 or 1.
                    principal_index: principal_index as u32,
                    action,
                    resource,
                    facts: Facts {
                        kernel_verdict: [0, -13, -1][next(3)],
                        divergence: [Divergence::None, Divergence::ForeignSecret][next(2)],
                        uid: [0, 1000][next(2)],
                        euid: [0, 1000][next(2)],
                        gid: [0, 1000][next(2)],
                        exe: ["/bin/sh", "/usr/bin/api"][next(2)].into(),
                    },
                };
                let answer = p.evaluate(&principals[principal_index], &question);
                assert_eq!(answer.errors, 0, "{question:?}");
                // Only the policies of the action answer as all of them do.
                assert_eq!(answer, p.evaluate_in(&p.set, &principals[principal_index], &question), "{question:?}");
                let mut key = Vec::new();
                question.encode(&observed, &mut key);
                questions += 1;
                match seen.get(&key) {
                    Some((first, about)) => assert_eq!(
                        &answer, first,
                        "policies {text}\nread {observed:?}; these encode alike and are answered differently:\n{about}\n{question:?}"
                    ),
                    None => {
                        seen.insert(key, (answer, format!("{question:?}")));
                    }
                }
            }
            // The sample shares keys, or the test proves nothing.
            assert!(seen.len() < questions, "{text}: {} keys for {questions} questions", seen.len());
        }
    }
}
