//! Completeness of a window: did the evidence log see everything that
//! happened between two times (for one identity, or all), and if not,
//! exactly what is missing. `witness evidence completeness` prints it;
//! bundles and reports carry it.
//!
//! Records lost in the kernel carry no identity, so a window is complete
//! for an identity only when nothing was lost in it at all; each loss says
//! which identities had events on its CPU around it, which is who it most
//! likely concerns. What the log says, in order:
//!
//! - **Sequence gaps** (`gap` lines): a CPU's records `first_seq..=last_seq`
//!   were never read, produced between the record before them and the one
//!   after (`previous_time_unix_ns`, `time`).
//! - **Drops no gap names**: the kernel's drop counters (in every
//!   checkpoint) against the gaps, per CPU and module lifetime. Drops
//!   while no collector read (between a `stopped` and the next `started`)
//!   show as gaps once reading resumes; drops after the last record a CPU
//!   produced show nowhere else.
//! - **Losses before the ring**: events a hook lost that are not ring drops
//!   (probe misses): they have no sequence number.
//! - **Evidence lines not written** (`evidence_lost`, `evidence_trimmed`).
//! - **Time not observed**: the module was not loaded (`module_gone` to
//!   `device_opened`), a capture was damaged, or the window reaches
//!   before the log's first line or after its last checkpoint (what the
//!   kernel counted after that is not in the log yet).
//!
//! And what qualifies "complete": kinds the kernel was configured not to
//! record (the checkpoints' `kernel.kinds`), and whether events judged
//! allow were written (`started`'s `evidence`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

pub use super::read::Query;
use super::read::{self, rfc3339, Entry, ReadError};

/// How far around a loss events count as "around it".
const AROUND_NS: i128 = 1_000_000_000;

/// One thing missing from a window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "loss", rename_all = "snake_case")]
pub enum Loss {
    /// A CPU's sequence skipped these records.
    Gap {
        /// The CPU.
        cpu: u32,
        /// The first missing sequence number.
        first_seq: u64,
        /// The last.
        last_seq: u64,
        /// How many.
        records: u64,
        /// Produced after this time (the record before them)...
        from_unix_ns: i128,
        /// ...and before this one (the record after them).
        to_unix_ns: i128,
        /// Identities with events on that CPU around it (`unattested`
        /// for processes no inventory entry matched).
        identities: Vec<String>,
    },
    /// Records the kernel counted as dropped on a CPU that no sequence gap
    /// names.
    Dropped {
        /// The CPU.
        cpu: u32,
        /// How many.
        records: u64,
        /// Dropped after this time (the checkpoint before)...
        from_unix_ns: i128,
        /// ...and by this one.
        to_unix_ns: i128,
    },
    /// Events hooks lost before the ring (no sequence number).
    BeforeRing {
        /// How many.
        events: u64,
        /// The hooks that lost events in the span.
        hooks: Vec<String>,
        /// Between the checkpoint before...
        from_unix_ns: i128,
        /// ...and this one.
        to_unix_ns: i128,
    },
    /// Evidence lines that could not be written.
    LinesNotWritten {
        /// How many.
        lines: u64,
        /// Their events' times, from...
        from_unix_ns: i128,
        /// ...to.
        to_unix_ns: i128,
        /// Why.
        why: String,
    },
    /// A span in which nothing was recorded.
    NotObserved {
        /// From.
        from_unix_ns: i128,
        /// To.
        to_unix_ns: i128,
        /// Why.
        why: String,
    },
}

impl Loss {
    fn span(&self) -> (i128, i128) {
        match self {
            Self::Gap { from_unix_ns, to_unix_ns, .. }
            | Self::Dropped { from_unix_ns, to_unix_ns, .. }
            | Self::BeforeRing { from_unix_ns, to_unix_ns, .. }
            | Self::LinesNotWritten { from_unix_ns, to_unix_ns, .. }
            | Self::NotObserved { from_unix_ns, to_unix_ns, .. } => (*from_unix_ns, *to_unix_ns),
        }
    }
}

/// The answer.
#[derive(Clone, Debug, Serialize)]
pub struct Statement {
    /// The window's start, Unix nanoseconds.
    pub from_unix_ns: i128,
    /// Its end.
    pub to_unix_ns: i128,
    /// The identity asked about (None: all).
    pub identity: Option<String>,
    /// Whether nothing was lost in the window.
    pub complete: bool,
    /// What was lost, oldest first.
    pub losses: Vec<Loss>,
    /// Event lines in the window (of the identity, if one was asked).
    pub events: u64,
    /// Which events the log holds: `all`, `not_allow`, or both (`mixed`)
    /// when collectors in the window were run differently.
    pub evidence: String,
    /// Kinds the kernel did not record in the window (off by configuration).
    pub kinds_not_recorded: Vec<String>,
    /// Events the kernel's filters (uid, cgroup, path) discarded in the
    /// window, by hook: not lost, but not recorded, by configuration.
    pub filtered: BTreeMap<String, u64>,
    /// What `witness evidence verify` says about the files.
    pub integrity: Option<String>,
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (from, to) = self.span();
        let (from, to) = (rfc3339(from), rfc3339(to));
        match self {
            Self::Gap { cpu, first_seq, last_seq, records, identities, .. } => {
                write!(f, "CPU {cpu}: records {first_seq}..={last_seq} ({records}) lost between {from} and {to}")?;
                if identities.is_empty() {
                    write!(f, "; no events in the log on CPU {cpu} around it")
                } else {
                    write!(f, "; around it on CPU {cpu}: {}", identities.join(", "))
                }
            }
            Self::Dropped { cpu, records, .. } => write!(
                f,
                "CPU {cpu}: {records} records dropped by the kernel between {from} and {to} that no sequence gap names (no collector read them, or no record came after them)"
            ),
            Self::BeforeRing { events, hooks, .. } => {
                write!(f, "{events} events lost before the ring (probe misses) between {from} and {to}; hooks: {}", hooks.join(", "))
            }
            Self::LinesNotWritten { lines, why, .. } => {
                write!(f, "{lines} evidence lines of events between {from} and {to} were not written: {why}")
            }
            Self::NotObserved { why, .. } => write!(f, "nothing observed between {from} and {to}: {why}"),
        }
    }
}

impl Statement {
    /// The statement as a Markdown section.
    pub fn markdown(&self) -> String {
        let mut out = String::from("# Completeness\n\n");
        let who = self.identity.as_deref().unwrap_or("every identity");
        out += &format!(
            "Window {} .. {}, {who}: {} events in the log.\n\n",
            rfc3339(self.from_unix_ns),
            rfc3339(self.to_unix_ns),
            self.events
        );
        if self.complete {
            out += "**Complete**: no record was lost in the window.\n";
        } else {
            let n = self.losses.len();
            out += &format!("**Incomplete**: {n} {} in the window.\n\n", if n == 1 { "loss" } else { "losses" });
            for loss in &self.losses {
                out += &format!("- {}\n", loss.to_string().replace('|', "\\|"));
            }
        }
        if !self.kinds_not_recorded.is_empty() {
            out += &format!("\nNot recorded (off in the kernel): {}.\n", self.kinds_not_recorded.join(", "));
        }
        if let Some(i) = &self.integrity {
            out += &format!("\nIntegrity: {i}\n");
        }
        out
    }
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = self.identity.as_deref().unwrap_or("every identity");
        writeln!(
            f,
            "window {} .. {}, {who}: {} events in the log",
            rfc3339(self.from_unix_ns),
            rfc3339(self.to_unix_ns),
            self.events
        )?;
        if self.complete {
            writeln!(f, "complete: no record was lost in the window")?;
        } else {
            let n = self.losses.len();
            writeln!(f, "incomplete: {n} {} in the window", if n == 1 { "loss" } else { "losses" })?;
            for loss in &self.losses {
                writeln!(f, "  {loss}")?;
            }
        }
        match self.evidence.as_str() {
            "all" => writeln!(f, "the log holds every judged event")?,
            "not_allow" => writeln!(
                f,
                "the log holds the events not judged allow (allowed ones are counted in metrics, not written)"
            )?,
            other => writeln!(
                f,
                "the log holds {other} events (collectors in the window ran with different --evidence-all)"
            )?,
        }
        if !self.kinds_not_recorded.is_empty() {
            writeln!(f, "not recorded (off in the kernel's configuration): {}", self.kinds_not_recorded.join(", "))?;
        }
        if !self.filtered.is_empty() {
            let by_hook: Vec<String> = self.filtered.iter().map(|(h, n)| format!("{h} {n}")).collect();
            writeln!(f, "not recorded (discarded by the kernel's filters): {}", by_hook.join(", "))?;
        }
        if let Some(integrity) = &self.integrity {
            writeln!(f, "integrity: {integrity}")?;
        }
        Ok(())
    }
}

/// Counters of one checkpoint, for the balance of drops against gaps.
#[derive(Default)]
struct Counted {
    /// Drops per CPU (full + nested), and produced (to see a reload).
    cpus: BTreeMap<u32, (u64, u64)>,
    hooks: BTreeMap<String, u64>,
    filtered: BTreeMap<String, u64>,
    time: i128,
}

fn counted(v: &Value, time: i128) -> Option<Counted> {
    let kernel = v.get("kernel").filter(|k| k.is_object())?;
    let mut c = Counted { time, ..Counted::default() };
    for cpu in kernel["cpus"].as_array()? {
        let n = |k: &str| cpu[k].as_u64().unwrap_or(0);
        // CAST: CPU numbers the module wrote fit in u32; others are skipped.
        let Ok(id) = u32::try_from(n("cpu")) else { continue };
        c.cpus.insert(id, (n("dropped_full") + n("dropped_nested"), n("produced")));
    }
    let by_hook = |field: &str| -> BTreeMap<String, u64> {
        kernel[field]
            .as_object()
            .map_or_else(BTreeMap::new, |h| h.iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0))).collect())
    };
    c.hooks = by_hook("hooks_dropped");
    c.filtered = by_hook("hooks_filtered");
    Some(c)
}

/// A per-CPU running count of kernel drops against the gaps seen.
#[derive(Default)]
struct Balance {
    /// Kernel drops minus gaps, and since when it has been above zero.
    cpus: BTreeMap<u32, (i128, Option<i128>)>,
}

/// Walks the log once.
struct Walk {
    q: Query,
    from: i128,
    to: i128,
    losses: Vec<Loss>,
    events: u64,
    scopes: BTreeSet<String>,
    /// Kinds the kernel recorded at the last checkpoint before the window.
    kinds_before: Option<BTreeSet<String>>,
    /// Kinds it recorded at every checkpoint in the window.
    kinds_in: Option<BTreeSet<String>>,
    /// Events filtered in the kernel, by hook.
    filtered: BTreeMap<String, u64>,
    first_time: Option<i128>,
    last_checkpoint: Option<i128>,
    last_time: i128,
    previous: Option<Counted>,
    balance: Balance,
    gone_since: Option<i128>,
    /// Recent events per CPU: (time, identity).
    recent: BTreeMap<u32, VecDeque<(i128, String)>>,
    /// Gaps still collecting the identities after them: (index in
    /// `losses`, CPU, until).
    open_gaps: Vec<(usize, u32, i128)>,
}

impl Walk {
    fn overlaps(&self, a: i128, b: i128) -> bool {
        a <= self.to && b >= self.from
    }

    fn push(&mut self, loss: Loss) -> Option<usize> {
        let (a, b) = loss.span();
        self.overlaps(a, b).then(|| {
            self.losses.push(loss);
            self.losses.len() - 1
        })
    }

    fn entry(&mut self, e: &Entry<'_>) {
        let t = e.time_unix_ns;
        // The earliest: a replay's stream lines have the time they were
        // written, its events the capture's.
        self.first_time = Some(self.first_time.map_or(t, |f| f.min(t)));
        self.last_time = self.last_time.max(t);
        match e.record() {
            "event" => self.event(e),
            "checkpoint" => self.checkpoint(e),
            "stream" => self.stream(e),
            _ => {}
        }
    }

    fn event(&mut self, e: &Entry<'_>) {
        let t = e.time_unix_ns;
        let who = e.spiffe_id().unwrap_or("unattested").to_string();
        if t >= self.from && t <= self.to && self.q.identity.as_deref().is_none_or(|id| id == who) {
            self.events += 1;
        }
        // CAST: CPU numbers are small; a line without one is skipped.
        let Some(cpu) = e.value["cpu"].as_u64().and_then(|c| u32::try_from(c).ok()) else { return };
        for &(i, gap_cpu, until) in &self.open_gaps {
            if gap_cpu == cpu && t <= until {
                if let Loss::Gap { identities, .. } = &mut self.losses[i] {
                    if !identities.contains(&who) {
                        identities.push(who.clone());
                    }
                }
            }
        }
        self.open_gaps.retain(|&(_, _, until)| t <= until);
        let recent = self.recent.entry(cpu).or_default();
        recent.push_back((t, who));
        while recent.front().is_some_and(|&(old, _)| old < t - AROUND_NS) {
            recent.pop_front();
        }
    }

    fn stream(&mut self, e: &Entry<'_>) {
        let t = e.time_unix_ns;
        let v = &e.value;
        match e.stream() {
            "started" => {
                if let Some(scope) = v["evidence"].as_str() {
                    if t <= self.to {
                        self.scopes.insert(scope.to_string());
                    }
                }
            }
            "gap" => {
                let n = |k: &str| v[k].as_u64().unwrap_or(0);
                let cpu = u32::try_from(n("cpu")).unwrap_or(u32::MAX);
                let missing = n("missing");
                if self.previous.is_some() {
                    self.balance.cpus.entry(cpu).or_default().0 -= i128::from(missing);
                }
                let since = e.time_field("previous_time_unix_ns").unwrap_or(t);
                let mut identities: Vec<String> = Vec::new();
                for (_, who) in self.recent.get(&cpu).into_iter().flatten().filter(|(at, _)| *at >= since - AROUND_NS) {
                    if !identities.contains(who) {
                        identities.push(who.clone());
                    }
                }
                let gap = Loss::Gap {
                    cpu,
                    first_seq: n("first_seq"),
                    last_seq: n("last_seq"),
                    records: missing,
                    from_unix_ns: since,
                    to_unix_ns: t,
                    identities,
                };
                if let Some(i) = self.push(gap) {
                    self.open_gaps.push((i, cpu, t + AROUND_NS));
                }
            }
            "evidence_lost" => {
                let loss = Loss::LinesNotWritten {
                    lines: v["lines"].as_u64().unwrap_or(0),
                    from_unix_ns: e.time_field("first_time_unix_ns").unwrap_or(t),
                    to_unix_ns: e.time_field("last_time_unix_ns").unwrap_or(t),
                    why: v["error"].as_str().unwrap_or("").to_string(),
                };
                self.push(loss);
            }
            "evidence_trimmed" => {
                let bytes = v["bytes"].as_u64().unwrap_or(0);
                let loss = Loss::LinesNotWritten {
                    lines: 1,
                    from_unix_ns: self.last_time_before(t),
                    to_unix_ns: t,
                    why: format!("the log's last line was cut ({bytes} bytes removed) when a collector died"),
                };
                self.push(loss);
            }
            "module_gone" => {
                self.gone_since.get_or_insert(t);
            }
            "device_opened" => {
                if let Some(since) = self.gone_since.take() {
                    self.push(Loss::NotObserved {
                        from_unix_ns: since,
                        to_unix_ns: t,
                        why: "the module was not loaded".into(),
                    });
                }
            }
            "capture_damaged" => {
                let why = format!(
                    "{} is damaged ({}): nothing after the damage was read",
                    v["file"].as_str().unwrap_or("a capture"),
                    v["error"].as_str().unwrap_or("")
                );
                self.push(Loss::NotObserved { from_unix_ns: t, to_unix_ns: t, why });
            }
            _ => {}
        }
    }

    /// The time of the last line before `t` (for a loss between lines).
    fn last_time_before(&self, t: i128) -> i128 {
        if self.last_time < t {
            self.last_time
        } else {
            self.first_time.unwrap_or(t)
        }
    }

    fn checkpoint(&mut self, e: &Entry<'_>) {
        let t = e.time_unix_ns;
        self.last_checkpoint = Some(t);
        let Some(now) = counted(&e.value, t) else { return };
        if let Some(kinds) = e.value["kernel"]["kinds"].as_array() {
            let these: BTreeSet<String> = kinds.iter().filter_map(|k| k.as_str().map(str::to_string)).collect();
            if t < self.from {
                // The configuration in force when the window begins.
                self.kinds_before = Some(these);
            } else if t <= self.to || self.kinds_in.is_none() {
                // In the window (or the first after it, if none was in it).
                self.kinds_in = Some(match self.kinds_in.take() {
                    Some(before) => before.intersection(&these).cloned().collect(),
                    None => these,
                });
            }
        }
        let Some(before) = self.previous.take() else {
            self.previous = Some(now);
            return;
        };
        // A counter that went down: the module was loaded again, and its
        // counters began at zero.
        let reloaded =
            now.cpus.iter().any(|(cpu, &(_, produced))| before.cpus.get(cpu).is_some_and(|&(_, p)| produced < p));
        if reloaded {
            self.settle(before.time);
        }
        let base = |cpu: &u32| if reloaded { 0 } else { before.cpus.get(cpu).map_or(0, |&(d, _)| d) };
        let mut ring_drops = 0u64;
        for (cpu, &(dropped, _)) in &now.cpus {
            let delta = dropped.saturating_sub(base(cpu));
            ring_drops += delta;
            let entry = self.balance.cpus.entry(*cpu).or_default();
            entry.0 += i128::from(delta);
            if entry.0 > 0 {
                entry.1.get_or_insert(before.time);
            } else {
                entry.1 = None;
            }
        }
        let mut hooks = Vec::new();
        let mut hook_drops = 0u64;
        for (hook, &dropped) in &now.hooks {
            let delta = dropped.saturating_sub(if reloaded { 0 } else { before.hooks.get(hook).copied().unwrap_or(0) });
            if delta > 0 {
                hooks.push(hook.clone());
                hook_drops += delta;
            }
        }
        // What the filters discarded between two checkpoints that overlap
        // the window.
        if self.overlaps(before.time, t) {
            for (hook, &n) in &now.filtered {
                let delta =
                    n.saturating_sub(if reloaded { 0 } else { before.filtered.get(hook).copied().unwrap_or(0) });
                if delta > 0 {
                    *self.filtered.entry(hook.clone()).or_default() += delta;
                }
            }
        }
        if hook_drops > ring_drops {
            self.push(Loss::BeforeRing {
                events: hook_drops - ring_drops,
                hooks,
                from_unix_ns: before.time,
                to_unix_ns: t,
            });
        }
        self.previous = Some(now);
    }

    /// Drops the gaps never named, up to the checkpoint at `until` (the
    /// end of a module's life, or of the log), become losses.
    fn settle(&mut self, until: i128) {
        for (cpu, (balance, since)) in std::mem::take(&mut self.balance.cpus) {
            if balance > 0 {
                let records = u64::try_from(balance).unwrap_or(u64::MAX);
                self.push(Loss::Dropped { cpu, records, from_unix_ns: since.unwrap_or(until), to_unix_ns: until });
            }
        }
    }
}

/// Answers `q` from the log in `paths`.
pub fn assess(paths: &[PathBuf], q: Query) -> Result<Statement, ReadError> {
    let mut w = Walk {
        from: q.from.unwrap_or(i128::MIN),
        to: q.to.unwrap_or(i128::MAX),
        q,
        losses: Vec::new(),
        events: 0,
        scopes: BTreeSet::new(),
        kinds_before: None,
        kinds_in: None,
        filtered: BTreeMap::new(),
        first_time: None,
        last_checkpoint: None,
        last_time: i128::MIN,
        previous: None,
        balance: Balance::default(),
        gone_since: None,
        recent: BTreeMap::new(),
        open_gaps: Vec::new(),
    };
    read::for_each(paths, |e| w.entry(&e))?;
    if let Some(last) = w.previous.as_ref().map(|c| c.time) {
        w.settle(last);
    }
    let first = w.first_time.unwrap_or(0);
    let last_checkpoint = w.last_checkpoint.unwrap_or(first);
    // The window as asked, or the log's span.
    let (from, to) = (w.q.from.unwrap_or(first), w.q.to.unwrap_or(last_checkpoint));
    (w.from, w.to) = (from, to);
    if let Some(since) = w.gone_since {
        w.push(Loss::NotObserved {
            from_unix_ns: since,
            to_unix_ns: to.max(since),
            why: "the module was not loaded".into(),
        });
    }
    if from < first {
        w.push(Loss::NotObserved {
            from_unix_ns: from,
            to_unix_ns: first,
            why: "before the first line of the log given".into(),
        });
    }
    if to > last_checkpoint {
        w.push(Loss::NotObserved {
            from_unix_ns: last_checkpoint,
            to_unix_ns: to,
            why: "after the log's last checkpoint: what the kernel counted since is not in the log".into(),
        });
    }
    w.losses.sort_by_key(Loss::span);
    let evidence = match w.scopes.len() {
        0 => "unknown".to_string(),
        1 => w.scopes.iter().next().cloned().unwrap_or_default(),
        _ => "mixed".to_string(),
    };
    let all = crate::config::control::kind_names(u64::MAX);
    let recorded = |k: &str| [&w.kinds_before, &w.kinds_in].into_iter().flatten().all(|set| set.contains(k));
    let kinds_not_recorded = all.iter().filter(|k| !recorded(k)).map(|k| (*k).to_string()).collect();
    Ok(Statement {
        from_unix_ns: from,
        to_unix_ns: to,
        identity: w.q.identity,
        complete: w.losses.is_empty(),
        losses: w.losses,
        events: w.events,
        evidence,
        kinds_not_recorded,
        filtered: w.filtered,
        integrity: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn log(name: &str, lines: &[Value]) -> PathBuf {
        let path = std::env::temp_dir().join(format!("witness-completeness-{}-{name}.jsonl", std::process::id()));
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(&path, text).unwrap();
        path
    }

    fn at(t: i128, mut v: Value) -> Value {
        v["time_unix_ns"] = json!(t.to_string());
        v
    }

    fn checkpoint(t: i128, cpus: &[(u32, u64, u64)], hooks: u64) -> Value {
        let cpus: Vec<Value> =
            cpus.iter().map(|&(cpu, produced, dropped)| json!({"cpu": cpu, "produced": produced, "dropped_full": dropped, "dropped_nested": 0})).collect();
        at(
            t,
            json!({"record": "checkpoint", "kernel": {"cpus": cpus, "hooks_dropped": {"security_file_open": hooks}, "hooks_filtered": {"security_file_open": hooks * 2}, "kinds": ["exec", "file_open"]}}),
        )
    }

    fn event(t: i128, cpu: u32, who: &str) -> Value {
        at(
            t,
            json!({"record": "event", "kind": "file_open", "cpu": cpu, "identity": {"spiffe_id": who}, "outcome": "allow"}),
        )
    }

    /// Drops the gaps name, drops they do not (balanced against the
    /// kernel's counters), losses before the ring, a module reload, and
    /// kinds off in the kernel; a window clear of them is complete.
    #[test]
    fn every_kind_of_loss_is_named() {
        let a = "spiffe://t/a";
        let path = log(
            "all",
            &[
                at(100, json!({"record": "stream", "stream": "started", "evidence": "all"})),
                checkpoint(110, &[(0, 10, 0), (1, 10, 0)], 0),
                event(120, 0, a),
                event(200, 1, a),
                // CPU 0 lost 5 records between 120 and 210; the line after
                // it comes from a.
                at(
                    210,
                    json!({"record": "stream", "stream": "gap", "cpu": 0, "first_seq": 11, "last_seq": 15, "missing": 5, "previous_time_unix_ns": "120"}),
                ),
                event(220, 0, a),
                // The kernel counted 5 on CPU 0 (the gap) and 3 on CPU 1
                // (no gap), and hooks lost 10: 2 before the ring.
                checkpoint(300, &[(0, 20, 5), (1, 20, 3)], 10),
                at(400, json!({"record": "stream", "stream": "module_gone"})),
                at(500, json!({"record": "stream", "stream": "device_opened"})),
                checkpoint(600, &[(0, 1, 0), (1, 1, 0)], 0),
                event(700, 0, a),
                checkpoint(800, &[(0, 2, 0), (1, 2, 0)], 0),
            ],
        );
        let s = assess(std::slice::from_ref(&path), Query::default()).unwrap();
        assert!(!s.complete);
        let kinds: Vec<&str> = s
            .losses
            .iter()
            .map(|l| match l {
                Loss::Gap { .. } => "gap",
                Loss::Dropped { .. } => "dropped",
                Loss::BeforeRing { .. } => "before_ring",
                Loss::LinesNotWritten { .. } => "lines",
                Loss::NotObserved { .. } => "not_observed",
            })
            .collect();
        assert_eq!(kinds, ["before_ring", "dropped", "gap", "not_observed"], "{:#?}", s.losses);
        assert!(
            s.losses.contains(&Loss::Gap {
                cpu: 0,
                first_seq: 11,
                last_seq: 15,
                records: 5,
                from_unix_ns: 120,
                to_unix_ns: 210,
                identities: vec![a.to_string()],
            }),
            "{:#?}",
            s.losses
        );
        assert!(
            s.losses.contains(&Loss::Dropped { cpu: 1, records: 3, from_unix_ns: 110, to_unix_ns: 300 }),
            "{:#?}",
            s.losses
        );
        assert!(s.losses.contains(&Loss::BeforeRing {
            events: 2,
            hooks: vec!["security_file_open".into()],
            from_unix_ns: 110,
            to_unix_ns: 300
        }));
        assert!(s.losses.contains(&Loss::NotObserved {
            from_unix_ns: 400,
            to_unix_ns: 500,
            why: "the module was not loaded".into()
        }));
        assert_eq!(s.kinds_not_recorded.len(), crate::config::control::kind_names(u64::MAX).len() - 2);
        assert_eq!(s.evidence, "all");
        assert_eq!(s.filtered, BTreeMap::from([("security_file_open".to_string(), 20)]));
        // After the reload, nothing was lost.
        let s = assess(&[path], Query { from: Some(600), to: Some(800), identity: Some(a.into()) }).unwrap();
        assert!(s.complete, "{:#?}", s.losses);
        assert_eq!(s.events, 1);
    }
}
