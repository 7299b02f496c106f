//! Names of the kernel's packet drop reasons (`enum skb_drop_reason`).
//!
//! The `kfree_skb` records carry the reason's number, and the numbering
//! changes between kernels as reasons are added. The running kernel names
//! them in the `kfree_skb` tracepoint's format file, whose print format
//! maps each number to its name (`__print_symbolic(REC->reason, { 2,
//! "NOT_SPECIFIED" }, ...)`); the collector reads that table once and
//! labels drops by name. A number the table lacks (or every number, when
//! tracefs is not mounted) is labelled `reason_N`.

use std::collections::HashMap;
use std::sync::Arc;

/// Where tracefs shows the `kfree_skb` tracepoint's format.
const FORMAT_FILES: [&str; 2] =
    ["/sys/kernel/tracing/events/skb/kfree_skb/format", "/sys/kernel/debug/tracing/events/skb/kfree_skb/format"];

/// The reason names of one kernel.
#[derive(Clone, Debug, Default)]
pub struct DropReasons {
    names: HashMap<u32, Arc<str>>,
}

impl DropReasons {
    /// The running kernel's table, or an empty one when tracefs is not
    /// readable.
    pub fn from_tracefs() -> Self {
        FORMAT_FILES
            .iter()
            .find_map(|f| std::fs::read_to_string(f).ok())
            .map_or_else(Self::default, |t| Self::parse(&t))
    }

    /// Parses a tracepoint format file: the `{ N, "NAME" }` pairs of the
    /// `__print_symbolic` on `REC->reason`.
    pub fn parse(format: &str) -> Self {
        let mut names = HashMap::new();
        let Some(start) = format.find("__print_symbolic(REC->reason") else { return Self { names } };
        let mut rest = &format[start..];
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}') else { break };
            let pair = &rest[open + 1..open + close];
            rest = &rest[open + close + 1..];
            let Some((number, name)) = pair.split_once(',') else { continue };
            let (number, name) = (number.trim(), name.trim().trim_matches('"'));
            let number = match number.strip_prefix("0x") {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => number.parse().ok(),
            };
            if let Some(n) = number.filter(|_| !name.is_empty()) {
                names.insert(n, Arc::from(name));
            }
        }
        Self { names }
    }

    /// How many reasons are named.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no reason is named.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The label of reason `n`: its name, or `reason_N`.
    pub fn label(&self, n: u32) -> Arc<str> {
        self.names.get(&n).cloned().unwrap_or_else(|| Arc::from(format!("reason_{n}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of Linux 6.12 to 7.3's format file (abridged).
    const FORMAT: &str = r#"name: kfree_skb
ID: 1406
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:enum skb_drop_reason reason;	offset:32;	size:4;	signed:0;

print fmt: "skbaddr=%p rx_sk=%p protocol=%u location=%pS reason: %s", REC->skbaddr, REC->rx_sk, REC->protocol, REC->location, __print_symbolic(REC->reason, { 2, "NOT_SPECIFIED" }, { 3, "NO_SOCKET" }, { 0x5b, "SOCKET_FILTER" }, { 0x10000, "SUBSYS_MAC80211_UNUSABLE" })
"#;

    #[test]
    fn names_come_from_the_format_file() {
        let r = DropReasons::parse(FORMAT);
        assert_eq!(r.len(), 4);
        assert_eq!(&*r.label(3), "NO_SOCKET");
        assert_eq!(&*r.label(91), "SOCKET_FILTER");
        assert_eq!(&*r.label(0x10000), "SUBSYS_MAC80211_UNUSABLE");
        assert_eq!(&*r.label(77), "reason_77", "unknown numbers are still labelled, as numbers");
        assert!(DropReasons::parse("print fmt: \"%d\", REC->x").is_empty());
    }
}
