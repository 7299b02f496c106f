//! `witness identity explain`: which inventory entry a process is, and why —
//! every entry with each of its selectors marked matched or not.

use std::fmt::Write as _;

use super::inventory::Inventory;
use super::process::ProcessFacts;

/// The explanation, as text.
pub fn explain(inventory: &Inventory, facts: &ProcessFacts) -> String {
    let subject = facts.subject();
    let mut out = String::new();
    let hex = |d: &[u8; 32]| crate::text::hex(d);
    let _ = writeln!(out, "process {} ({})", facts.pid, facts.comm);
    let _ = writeln!(out, "  uid {}  gid {}", facts.uid, facts.gid);
    let _ = writeln!(out, "  exe {}", facts.exe.as_deref().unwrap_or("-"));
    let _ = writeln!(out, "  sha256 {}", facts.sha256.as_ref().map_or("-".to_string(), hex));
    let _ = writeln!(out, "  cgroup {}", facts.cgroup.as_deref().unwrap_or("-"));
    let c = &facts.cgroup_info;
    let _ = writeln!(
        out,
        "  container {} ({})  pod {}",
        c.container_id.as_deref().unwrap_or("-"),
        c.runtime.unwrap_or("-"),
        c.pod_uid.as_deref().unwrap_or("-")
    );
    if let Some(p) = &facts.pod {
        let labels: Vec<String> = p.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(
            out,
            "  k8s pod {}/{} (uid {})  container {}  service account {}  labels {}",
            p.namespace,
            p.name,
            p.uid,
            p.container.as_deref().unwrap_or("-"),
            p.service_account.as_deref().unwrap_or("-"),
            if labels.is_empty() { "-".to_string() } else { labels.join(",") }
        );
    }
    for w in inventory.workloads() {
        let matched = w.selectors.iter().filter(|s| s.matches(&subject)).count();
        let verdict = if matched == w.selectors.len() { "matches" } else { "does not match" };
        let _ = writeln!(out, "entry {} (line {}, owner {}): {verdict}", w.spiffe_id, w.line, w.owner);
        for s in &w.selectors {
            let _ = writeln!(out, "    {} {s}", if s.matches(&subject) { "yes" } else { "no " });
        }
    }
    match inventory.attribute(&subject) {
        Some(w) => {
            let _ = writeln!(out, "=> {} (owner {}), by the entry at line {}", w.spiffe_id, w.owner, w.line);
            let _ = writeln!(
                out,
                "   (all selectors of an entry must match; most selectors wins; ties go to the earlier entry)"
            );
        }
        None => {
            let _ = writeln!(out, "=> unattested: no entry has all its selectors matched");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn explains_the_winner_and_the_rest() {
        let inv = Inventory::parse(
            "[[workload]]\nspiffe_id = \"spiffe://e.org/a\"\nowner = \"a\"\nselectors = [\"unix:uid:7\"]\n\n\
             [[workload]]\nspiffe_id = \"spiffe://e.org/b\"\nowner = \"b\"\nselectors = [\"unix:uid:7\", \"unix:gid:9\"]\n",
            Path::new("i.toml"),
        )
        .unwrap();
        let facts = ProcessFacts { pid: 1, comm: "x".into(), uid: 7, gid: 8, ..Default::default() };
        let text = explain(&inv, &facts);
        assert!(text.contains("entry spiffe://e.org/b (line 6, owner b): does not match"), "{text}");
        assert!(text.contains("    no  unix:gid:9"), "{text}");
        assert!(text.contains("=> spiffe://e.org/a (owner a)"), "{text}");
        let nobody = ProcessFacts { uid: 1, ..facts };
        assert!(explain(&inv, &nobody).contains("=> unattested"));
    }
}
