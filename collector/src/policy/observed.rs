//! What a policy set reads of a request, so the decision cache is keyed by
//! that and nothing else.
//!
//! Keyed by the whole request, the cache misses on every new path, command
//! line or uid even when no policy looks at it: on a busy node almost every
//! file open is a new path, and each miss is a Cedar evaluation (tens of
//! thousands of instructions against a few hundred for a hit). Most policy
//! sets read a handful of attributes (`resource.secret`,
//! `context.kernel_denied`), so two requests that differ only elsewhere
//! must get the same answer and can share an entry.
//!
//! The analysis walks each policy's JSON form (Cedar's EST, a stable
//! public format) and is conservative: an attribute read
//! (`resource.path`, `context has exe`) marks that attribute; a type test
//! (`resource is File`) needs nothing beyond the action, which is always
//! keyed; any other use of `resource` or `context` (`resource ==
//! File::"/etc/shadow"`, `resource in ...`, a scope constraint on the
//! resource, `context` passed whole) marks all of it. The principal is
//! always keyed (by its index in the identity table), and so is the action
//! and the resource's kind. A policy whose JSON form cannot be had marks
//! everything.

use serde_json::Value;

/// Attribute names of the resource entities (`witness.cedarschema`), one
/// bit each; a name shared by several entity types is one bit.
pub const RESOURCE_ATTRS: [&str; 21] = [
    "path",
    "sha256",
    "declared",
    "secret",
    "secret_owner",
    "ip",
    "port",
    "spiffe_id",
    "uid",
    "euid",
    "gid",
    "egid",
    "caps_gained",
    "number",
    "name",
    "in_setid",
    "changed",
    "prog_type",
    "tgid",
    "key_type",
    "description",
];

/// Attribute names of the context (`Facts` in the schema), one bit each.
pub const CONTEXT_ATTRS: [&str; 7] = ["kernel_verdict", "kernel_denied", "divergence", "uid", "euid", "gid", "exe"];

/// The bit of a resource attribute.
pub const fn resource_bit(name: &str) -> u32 {
    1 << index_of(&RESOURCE_ATTRS, name)
}

/// The bit of a context attribute.
pub const fn context_bit(name: &str) -> u32 {
    1 << index_of(&CONTEXT_ATTRS, name)
}

/// Resource attribute bits, as the cache key encoding tests them.
pub(crate) const R_PATH: u32 = resource_bit("path");
pub(crate) const R_SHA256: u32 = resource_bit("sha256");
pub(crate) const R_DECLARED: u32 = resource_bit("declared");
pub(crate) const R_SECRET: u32 = resource_bit("secret");
pub(crate) const R_SECRET_OWNER: u32 = resource_bit("secret_owner");
pub(crate) const R_IP: u32 = resource_bit("ip");
pub(crate) const R_PORT: u32 = resource_bit("port");
pub(crate) const R_SPIFFE_ID: u32 = resource_bit("spiffe_id");
pub(crate) const R_UID: u32 = resource_bit("uid");
pub(crate) const R_EUID: u32 = resource_bit("euid");
pub(crate) const R_GID: u32 = resource_bit("gid");
pub(crate) const R_EGID: u32 = resource_bit("egid");
pub(crate) const R_CAPS_GAINED: u32 = resource_bit("caps_gained");
pub(crate) const R_NUMBER: u32 = resource_bit("number");
pub(crate) const R_NAME: u32 = resource_bit("name");
pub(crate) const R_IN_SETID: u32 = resource_bit("in_setid");
pub(crate) const R_CHANGED: u32 = resource_bit("changed");
pub(crate) const R_PROG_TYPE: u32 = resource_bit("prog_type");
pub(crate) const R_TGID: u32 = resource_bit("tgid");
pub(crate) const R_KEY_TYPE: u32 = resource_bit("key_type");
pub(crate) const R_DESCRIPTION: u32 = resource_bit("description");
/// Context attribute bits.
pub(crate) const C_KERNEL_VERDICT: u32 = context_bit("kernel_verdict");
pub(crate) const C_KERNEL_DENIED: u32 = context_bit("kernel_denied");
pub(crate) const C_DIVERGENCE: u32 = context_bit("divergence");
pub(crate) const C_UID: u32 = context_bit("uid");
pub(crate) const C_EUID: u32 = context_bit("euid");
pub(crate) const C_GID: u32 = context_bit("gid");
pub(crate) const C_EXE: u32 = context_bit("exe");

/// Position of `name` in `names` (a compile error through the `const`
/// callers when it is missing).
const fn index_of(names: &[&str], name: &str) -> u32 {
    let mut i = 0;
    while i < names.len() {
        if eq(names[i].as_bytes(), name.as_bytes()) {
            // CAST: the tables have fewer than 32 names.
            return i as u32;
        }
        i += 1;
    }
    panic!("not an attribute of the schema")
}

const fn eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The attributes a policy set reads: a bit per name in
/// [`RESOURCE_ATTRS`] and [`CONTEXT_ATTRS`]; all bits set where a
/// variable is used whole (a resource's identity is made of its
/// attributes, so all of them key it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observed {
    /// Resource attributes read.
    pub resource: u32,
    /// Context attributes read.
    pub context: u32,
}

impl Observed {
    /// Reads nothing (no policy yet).
    pub const NOTHING: Self = Self { resource: 0, context: 0 };
    /// Reads everything.
    pub const EVERYTHING: Self = Self { resource: u32::MAX, context: u32::MAX };

    /// What a policy set reads.
    pub fn of(set: &cedar_policy::PolicySet) -> Self {
        let mut o = Self::NOTHING;
        for p in set.policies() {
            match p.to_json() {
                Ok(json) => o.add_policy(&json),
                Err(_) => return Self::EVERYTHING,
            }
        }
        o
    }

    /// Whether any resource attribute in `bit` ([`resource_bit`]) is read.
    pub const fn reads_resource(&self, bit: u32) -> bool {
        self.resource & bit != 0
    }

    /// Whether context attribute `bit` ([`context_bit`]) is read.
    pub const fn reads_context(&self, bit: u32) -> bool {
        self.context & bit != 0
    }

    /// Adds what one policy, in its JSON form, reads.
    pub fn add_policy(&mut self, json: &Value) {
        for part in ["conditions", "principal", "action", "resource"] {
            if let Some(v) = json.get(part) {
                if part == "resource" {
                    self.resource_scope(v);
                } else {
                    self.visit(v);
                }
            }
        }
    }

    /// The resource's scope constraint: `All` and `is T` read no more than
    /// the kind; `== E`, `in E` and `is T in E` read its identity.
    fn resource_scope(&mut self, scope: &Value) {
        let op = scope.get("op").and_then(Value::as_str);
        let only_type = op == Some("is") && scope.get("in").is_none();
        if op != Some("All") && !only_type {
            self.whole("resource");
        }
    }

    fn whole(&mut self, var: &str) {
        match var {
            "resource" => self.resource = u32::MAX,
            "context" => self.context = u32::MAX,
            // The principal and the action are always keyed.
            _ => {}
        }
    }

    fn attr(&mut self, var: &str, attr: &str) {
        let (names, bits): (&[&str], &mut u32) = match var {
            "resource" => (&RESOURCE_ATTRS, &mut self.resource),
            "context" => (&CONTEXT_ATTRS, &mut self.context),
            _ => return,
        };
        match names.iter().position(|n| *n == attr) {
            Some(i) => *bits |= 1 << i,
            // Not in the schema (validation refuses that; be safe anyway).
            None => self.whole(var),
        }
    }

    /// Walks an expression (or any JSON inside a policy).
    fn visit(&mut self, v: &Value) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| self.visit(i)),
            Value::Object(map) => {
                for (key, inner) in map {
                    match (key.as_str(), var_of(inner.get("left"))) {
                        // `x.attr` and `x has attr` (or `x has a.b`: the
                        // first name is the attribute of x).
                        (".", Some(var)) | ("has", Some(var)) => match inner.get("attr") {
                            Some(Value::String(a)) => self.attr(var, a),
                            Some(Value::Array(a)) => match a.first().and_then(Value::as_str) {
                                Some(first) => self.attr(var, first),
                                None => self.whole(var),
                            },
                            _ => self.whole(var),
                        },
                        // `x is T`: the kind, already keyed.
                        ("is", Some(_)) if inner.get("in").is_none() => {}
                        ("Var", _) => match inner.as_str() {
                            Some(var) => self.whole(var),
                            None => self.visit(inner),
                        },
                        _ => self.visit(inner),
                    }
                }
            }
            _ => {}
        }
    }
}

/// `Some(name)` when `left` is a bare variable, `{"Var": name}`.
fn var_of(left: Option<&Value>) -> Option<&str> {
    let map = left?.as_object()?;
    if map.len() != 1 {
        return None;
    }
    map.get("Var")?.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(text: &str) -> Observed {
        Observed::of(&text.parse().unwrap())
    }

    #[test]
    fn attribute_reads_mark_their_bits() {
        let o = observed(
            r#"forbid(principal, action == Action::"file_open", resource)
                 when { resource.secret && resource.secret_owner != principal.spiffe_id };
               forbid(principal, action, resource) when { context.kernel_denied }
                 unless { resource is Capability && resource has in_setid && resource.in_setid };"#,
        );
        assert_eq!(
            o,
            Observed {
                resource: resource_bit("secret") | resource_bit("secret_owner") | resource_bit("in_setid"),
                context: context_bit("kernel_denied"),
            }
        );
        assert_eq!(observed("permit(principal, action, resource is File);"), Observed::NOTHING);
    }

    #[test]
    fn other_uses_read_everything() {
        for text in [
            r#"forbid(principal, action, resource == File::"/etc/shadow");"#,
            r#"forbid(principal, action, resource in File::"/etc/shadow");"#,
            r#"forbid(principal, action, resource is File in File::"/etc");"#,
            r#"forbid(principal, action, resource) when { resource == File::"/etc/shadow" };"#,
            r#"forbid(principal, action, resource) when { [resource].contains(File::"/x") };"#,
        ] {
            let o = observed(text);
            assert_eq!(o.resource, u32::MAX, "{text}");
            assert_eq!(o.context, 0, "{text}");
        }
        let o = observed(r#"forbid(principal, action, resource) when { context == {"uid": 0} };"#);
        assert_eq!((o.context, o.resource), (u32::MAX, 0));
        // A principal used whole is keyed anyway.
        let o = observed(r#"forbid(principal == Workload::"a", action, resource) when { principal.attested };"#);
        assert_eq!(o, Observed::NOTHING);
    }

    #[test]
    fn nested_reads_are_found() {
        let o = observed(
            r#"forbid(principal, action, resource)
                 when { if context.exe like "*/sh" then resource has path && resource.path like "/etc/*" else false };"#,
        );
        assert_eq!((o.resource, o.context), (resource_bit("path"), context_bit("exe")));
    }
}
