//! `witness status`: the kernel's view of itself — per-CPU ring counters,
//! per-hook counters and the recording configuration — as tables or JSON.

use std::io::{self, Write};

use serde_json::{json, Value};
use witness_abi::ioctl::{Config, CpuStats, Hook, HookStats};

use crate::config::control::kind_names;

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

/// How full a ring is, in percent of its data area.
fn fill_percent(c: &CpuStats) -> f64 {
    if c.data_size == 0 {
        return 0.0;
    }
    // CAST: display only; ring sizes are far below 2^52.
    #[allow(clippy::cast_precision_loss)]
    let fill = c.unread as f64 * 100.0 / c.data_size as f64;
    fill
}

/// Mean time per handler run, in nanoseconds (0 before the first run).
fn avg_cost_ns(h: &HookStats) -> u64 {
    h.cost_ns.checked_div(h.hits).unwrap_or(0)
}

fn hook_name(h: &HookStats) -> String {
    Hook::from_id(h.hook).map_or_else(|| format!("hook {}", h.hook), |hook| hook.name().to_string())
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
                    "data_size": c.data_size, "fill_percent": fill_percent(c),
                })
            })
            .collect();
        let hooks: Vec<Value> = self
            .hooks
            .iter()
            .map(|h| {
                json!({
                    "hook": hook_name(h), "attached": h.attached != 0,
                    "hits": h.hits, "filtered": h.filtered, "dropped": h.dropped, "written": h.written,
                    "cost_ns": h.cost_ns, "avg_cost_ns": avg_cost_ns(h),
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
            writeln!(
                out,
                "{:>4} {:>12} {:>12} {:>12} {:>12} {:>6.1}",
                c.cpu,
                c.produced,
                c.dropped_full,
                c.dropped_nested,
                c.unread,
                fill_percent(c)
            )?;
        }
        writeln!(out, "\nHOOKS")?;
        writeln!(
            out,
            "{:<30} {:>8} {:>12} {:>12} {:>10} {:>12} {:>10}",
            "HOOK", "ATTACHED", "HITS", "FILTERED", "DROPPED", "WRITTEN", "AVG_NS"
        )?;
        for h in &self.hooks {
            writeln!(
                out,
                "{:<30} {:>8} {:>12} {:>12} {:>10} {:>12} {:>10}",
                hook_name(h),
                if h.attached != 0 { "yes" } else { "NO" },
                h.hits,
                h.filtered,
                h.dropped,
                h.written,
                avg_cost_ns(h)
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
    use witness_abi::record::RecordKind;

    fn status() -> Status {
        Status {
            cpus: vec![
                CpuStats { cpu: 0, produced: 10, dropped_full: 2, data_size: 100, unread: 50, ..Default::default() },
                CpuStats { cpu: 1, produced: 3, dropped_nested: 1, data_size: 100, ..Default::default() },
            ],
            hooks: vec![
                HookStats {
                    hook: 0,
                    attached: 1,
                    hits: 4,
                    written: 3,
                    filtered: 1,
                    cost_ns: 400,
                    ..Default::default()
                },
                HookStats { hook: 19, attached: 0, ..Default::default() },
                HookStats { hook: 200, attached: 1, ..Default::default() },
            ],
            config: Config {
                kind_mask: RecordKind::Exec.mask_bit() | RecordKind::Fork.mask_bit(),
                watermark: 4096,
                reserved: 0,
            },
        }
    }

    #[test]
    fn table_shows_rings_hooks_and_config() {
        let mut out = Vec::new();
        status().write_table(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let line = |start: &str| text.lines().find(|l| l.trim_start().starts_with(start)).unwrap().to_string();
        let cpu0: Vec<String> = line("0 ").split_whitespace().map(String::from).collect();
        assert_eq!(cpu0, ["0", "10", "2", "0", "50", "50.0"]);
        let exec: Vec<String> = line("sched_process_exec").split_whitespace().map(String::from).collect();
        assert_eq!(exec, ["sched_process_exec", "yes", "4", "1", "0", "3", "100"]);
        assert!(line("kfree_skb").contains(" NO "));
        assert!(line("hook 200").contains("yes"));
        assert!(text.contains("recording: exec,fork\n"), "{text}");
        assert!(text.contains("poll watermark: 4096 bytes"));
        assert!(text.contains("records dropped in the kernel: 3"));
    }

    #[test]
    fn json_is_one_object() {
        let v = status().to_json();
        assert_eq!(v["dropped_total"], 3);
        assert_eq!(v["config"], json!({"kinds": ["exec", "fork"], "watermark": 4096}));
        assert_eq!(v["cpus"][0]["fill_percent"], 50.0);
        assert_eq!(v["cpus"][1]["dropped_nested"], 1);
        assert_eq!(v["hooks"][0]["hook"], "sched_process_exec");
        assert_eq!(v["hooks"][0]["avg_cost_ns"], 100);
        assert_eq!(v["hooks"][1]["attached"], false);
        assert_eq!(v["hooks"][2]["hook"], "hook 200");
        // VM scenarios match this text.
        assert!(v.to_string().contains(r#""kinds":["exec","fork"]"#));
    }
}
