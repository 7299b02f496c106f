//! `witness status`: the kernel's view of itself — per-CPU ring counters,
//! per-hook counters and the recording configuration — as tables or JSON.

use std::io::{self, Write};

use serde_json::{json, Value};
use witness_abi::ioctl::{Config, CpuStats, Hook, HookStats};
use witness_abi::record::RecordKind;

/// Everything `witness status` shows.
#[derive(Clone, Debug)]
pub struct Status {
    /// Per-ring counters.
    pub cpus: Vec<CpuStats>,
    /// Per-hook counters.
    pub hooks: Vec<HookStats>,
    /// The recording configuration.
    pub config: Config,
}

/// Names of the kinds enabled in a kind mask.
pub fn kind_names(mask: u64) -> Vec<&'static str> {
    RecordKind::ALL.iter().filter(|k| **k != RecordKind::Pad && mask & k.mask_bit() != 0).map(|k| k.name()).collect()
}

/// Parses a comma-separated list of kind names (or "all") into a mask.
pub fn parse_kinds(list: &str) -> Result<u64, String> {
    let mut mask = 0;
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if name == "all" {
            mask |= RecordKind::ALL.iter().filter(|k| **k != RecordKind::Pad).fold(0, |m, k| m | k.mask_bit());
            continue;
        }
        let kind = RecordKind::ALL.iter().find(|k| **k != RecordKind::Pad && k.name() == name).ok_or_else(|| {
            format!("unknown record kind '{name}'; known kinds: all, {}", kind_names(u64::MAX).join(", "))
        })?;
        mask |= kind.mask_bit();
    }
    if mask == 0 {
        return Err("no record kind given".into());
    }
    Ok(mask)
}

impl Status {
    /// Records dropped in the kernel, all CPUs: what the sequence gaps add up to.
    pub fn dropped(&self) -> u64 {
        self.cpus.iter().map(|c| c.dropped_full + c.dropped_nested).sum()
    }

    /// The JSON form.
    pub fn to_json(&self) -> Value {
        let cpus: Vec<Value> = self
            .cpus
            .iter()
            .map(|c| {
                json!({
                    "cpu": c.cpu, "produced": c.produced, "dropped_full": c.dropped_full,
                    "dropped_nested": c.dropped_nested, "bytes": c.bytes, "unread": c.unread,
                    "data_size": c.data_size,
                })
            })
            .collect();
        let hooks: Vec<Value> = self
            .hooks
            .iter()
            .map(|h| {
                json!({
                    "hook": Hook::from_id(h.hook).map_or("unknown", Hook::name), "attached": h.attached != 0,
                    "hits": h.hits, "filtered": h.filtered, "dropped": h.dropped, "written": h.written,
                    "cost_ns": h.cost_ns,
                })
            })
            .collect();
        json!({
            "cpus": cpus,
            "hooks": hooks,
            "dropped_total": self.dropped(),
            "config": { "kinds": kind_names(self.config.kind_mask), "watermark": self.config.watermark },
        })
    }

    /// The table form.
    pub fn write_table(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(out, "RINGS")?;
        writeln!(
            out,
            "{:>4} {:>12} {:>12} {:>12} {:>12} {:>6}",
            "CPU", "PRODUCED", "DROP_FULL", "DROP_NESTED", "UNREAD_B", "FILL%"
        )?;
        for c in &self.cpus {
            // CAST: display only.
            #[allow(clippy::cast_precision_loss)]
            let fill = if c.data_size == 0 { 0.0 } else { c.unread as f64 * 100.0 / c.data_size as f64 };
            writeln!(
                out,
                "{:>4} {:>12} {:>12} {:>12} {:>12} {:>6.1}",
                c.cpu, c.produced, c.dropped_full, c.dropped_nested, c.unread, fill
            )?;
        }
        writeln!(out, "\nHOOKS")?;
        writeln!(
            out,
            "{:<30} {:>8} {:>12} {:>12} {:>10} {:>12} {:>10}",
            "HOOK", "ATTACHED", "HITS", "FILTERED", "DROPPED", "WRITTEN", "AVG_NS"
        )?;
        for h in &self.hooks {
            let avg = h.cost_ns.checked_div(h.hits).unwrap_or(0);
            writeln!(
                out,
                "{:<30} {:>8} {:>12} {:>12} {:>10} {:>12} {:>10}",
                Hook::from_id(h.hook).map_or("unknown", Hook::name),
                if h.attached != 0 { "yes" } else { "NO" },
                h.hits,
                h.filtered,
                h.dropped,
                h.written,
                avg
            )?;
        }
        writeln!(out, "\nrecording: {}", kind_names(self.config.kind_mask).join(","))?;
        writeln!(out, "poll watermark: {} bytes", self.config.watermark)?;
        writeln!(out, "records dropped in the kernel: {}", self.dropped())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_lists_parse_and_print() {
        let mask = parse_kinds("exec, file_open").unwrap();
        assert_eq!(kind_names(mask), ["exec", "file_open"]);
        assert_eq!(kind_names(parse_kinds("all").unwrap()).len(), RecordKind::ALL.len() - 1);
        let err = parse_kinds("exec,bogus").unwrap_err();
        assert!(err.contains("unknown record kind 'bogus'") && err.contains("file_open"), "{err}");
        assert!(parse_kinds("").is_err());
        assert!(parse_kinds("pad").is_err());
    }

    #[test]
    fn status_renders() {
        let s = Status {
            cpus: vec![CpuStats {
                cpu: 0,
                produced: 10,
                dropped_full: 2,
                data_size: 100,
                unread: 50,
                ..Default::default()
            }],
            hooks: vec![HookStats { hook: 0, attached: 1, hits: 4, cost_ns: 400, ..Default::default() }],
            config: Config { kind_mask: RecordKind::Exec.mask_bit(), watermark: 1, reserved: 0 },
        };
        let mut out = Vec::new();
        s.write_table(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("sched_process_exec") && text.contains("50.0") && text.contains("100"));
        assert_eq!(s.to_json()["dropped_total"], 2);
        assert_eq!(s.to_json()["config"]["kinds"], json!(["exec"]));
    }
}
