//! Metric state with bounded cardinality, and its Prometheus encoding.
//!
//! The pipeline owns a [`Counters`] and updates it without locks; it
//! publishes a copy ([`Snapshot`]) a few times a second, which the
//! Prometheus endpoint ([`Exposition`]) and the OTLP exporter read.
//!
//! Cardinality is bounded by construction: label values come from the
//! inventory (SPIFFE IDs, plus `unattested`), the record kinds, the four
//! outcomes, the divergence kinds, CPU numbers and kernel drop reasons.
//! On top of that a series budget caps the number of `(identity, kind,
//! outcome)` series: once spent, new combinations are counted under
//! `identity="_overflow"` and `witness_series_overflow_total` says how many
//! events went there.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;
use witness_abi::record::RecordKind;

use crate::policy::{Divergence, Outcome};

/// Identity index of the overflow bucket.
pub const OVERFLOW: u32 = u32::MAX;

/// Handshake latency bucket bounds, seconds.
pub const HANDSHAKE_BUCKETS: [f64; 12] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0];
/// Policy evaluation bucket bounds, seconds.
pub const EVAL_BUCKETS: [f64; 8] = [0.000_001, 0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.001, 0.01];

/// A fixed-bucket histogram (per-bucket counts; the last is +Inf).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    /// Counts per bucket, one more than the bounds.
    pub buckets: Vec<u64>,
    /// Sum of observations.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

impl Histogram {
    /// Adds an observation against `bounds`.
    pub fn observe(&mut self, bounds: &[f64], v: f64) {
        if self.buckets.is_empty() {
            self.buckets = vec![0; bounds.len() + 1];
        }
        let i = bounds.iter().position(|b| v <= *b).unwrap_or(bounds.len());
        self.buckets[i] += 1;
        self.sum += v;
        self.count += 1;
    }

    fn encode_pairs(&self, bounds: &[f64]) -> Vec<(f64, u64)> {
        bounds.iter().copied().chain([f64::INFINITY]).zip(self.buckets.iter().copied()).collect()
    }
}

/// Per-CPU ring figures from the kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingFigures {
    /// Records the kernel published in this ring.
    pub produced: u64,
    /// Records dropped because the ring was full.
    pub dropped_full: u64,
    /// Records dropped by nested producers.
    pub dropped_nested: u64,
    /// Bytes in use.
    pub used: u64,
    /// Ring size in bytes.
    pub size: u64,
}

/// Wire kinds with a column in the live event counts (the rest go to a
/// map); above every kind this collector knows.
const KIND_COLUMNS: usize = 64;
/// Identity indexes with a row in the live event counts (inventories are
/// far smaller; larger indexes go to the map).
const MAX_ROWS: usize = 1 << 20;

/// One identity's live event counts: per wire kind, per outcome.
type Row = [[u64; 4]; KIND_COLUMNS];

/// Everything counted, owned by the pipeline.
#[derive(Clone, Debug, Default)]
pub struct Counters {
    /// Whether the device is open and being read (`/healthz`).
    pub device_reading: bool,
    /// How often the device was opened (0: this collector read nothing).
    pub device_opens: u64,
    /// Events by (identity, kind, outcome), as of the last
    /// [`Counters::settle`].
    pub events: BTreeMap<(u32, u16, Outcome), u64>,
    /// The live counts behind `events`, since every event updates one: a
    /// row per identity index, made on its first event, with a cell of
    /// four outcomes per wire kind below [`KIND_COLUMNS`]. One cache line
    /// per update, where a hash map took two (the profile showed it).
    live: Vec<Option<Box<Row>>>,
    /// The rest of the live counts: the overflow identity and kinds newer
    /// than this collector.
    live_other: HashMap<(u32, u16, Outcome), u64, foldhash::fast::RandomState>,
    /// Distinct series in `live` and `live_other`.
    live_series: usize,
    /// Identities with a series in `live`.
    with_series: HashSet<u32, foldhash::fast::RandomState>,
    /// Kernel denials by (identity, kind).
    pub kernel_denials: BTreeMap<(u32, u16), u64>,
    /// Divergences by (identity, kind).
    pub divergences: BTreeMap<(u32, Divergence), u64>,
    /// Outcomes of the shadow policy set by (identity, kind, outcome).
    pub shadow_events: BTreeMap<(u32, u16, Outcome), u64>,
    /// TCP handshake latency by identity.
    pub handshake: BTreeMap<u32, Histogram>,
    /// Packets dropped by kernel drop reason.
    pub packet_drops: BTreeMap<Arc<str>, u64>,
    /// Records lost by CPU (sequence gaps).
    pub sequence_gaps: BTreeMap<u32, u64>,
    /// Ring figures by CPU (from the device).
    pub rings: BTreeMap<u32, RingFigures>,
    /// Events each hook lost, by hook name (from the device): ring drops,
    /// which are also sequence gaps, plus losses before the ring (probe
    /// misses), which are not.
    pub hook_dropped: BTreeMap<&'static str, u64>,
    /// Events each hook's filters discarded in the kernel, by hook name
    /// (from the device): not losses, but not recorded either.
    pub hook_filtered: BTreeMap<&'static str, u64>,
    /// The kinds the module records (from the device; None: not read).
    pub kernel_kind_mask: Option<u64>,
    /// Events counted in the overflow bucket.
    pub series_overflow: u64,
    /// Policy decisions served from the cache.
    pub cache_hits: u64,
    /// Policy decisions evaluated.
    pub cache_misses: u64,
    /// Policy evaluation time (misses).
    pub eval: Histogram,
    /// Policies that failed to evaluate.
    pub policy_errors: u64,
    /// Evidence lines written.
    pub evidence_lines: u64,
    /// Evidence lines that could not be written (lost; each loss is an
    /// `evidence_lost` line once the log takes lines again).
    pub evidence_errors: u64,
    /// Writes to the evidence log that failed (their lines were kept to
    /// retry).
    pub evidence_failures: u64,
    /// Records read from the device or captures.
    pub records: u64,
    /// Containers whose pod the container runtime described.
    pub pods_resolved: u64,
    /// Log records handed to the OTLP exporter.
    pub otlp_logs: u64,
    /// Live processes known.
    pub processes: u64,
    /// Configuration reloads by result (true: applied).
    pub reloads: [u64; 2],
    /// Module unloads seen.
    pub module_unloads: u64,
    /// Events with more than `series_budget` distinct series.
    series_budget: usize,
}

impl Counters {
    /// Counters with a budget of `series_budget` `(identity, kind, outcome)`
    /// series.
    pub fn new(series_budget: usize) -> Self {
        Self { series_budget, ..Default::default() }
    }

    /// Counts one judged event.
    pub fn event(&mut self, identity: u32, kind: u16, outcome: Outcome) {
        // CAST: u32 to usize widens; the outcome is its index in ALL.
        let (row, column, o) = (identity as usize, usize::from(kind), outcome as usize);
        if identity != OVERFLOW && column < KIND_COLUMNS && row < MAX_ROWS {
            if row >= self.live.len() {
                self.live.resize_with(row + 1, || None);
            }
            let cells = self.live[row].get_or_insert_with(|| Box::new([[0; 4]; KIND_COLUMNS]));
            let n = &mut cells[column][o];
            if *n != 0 {
                *n += 1;
                return;
            }
            if self.live_series < self.series_budget {
                *n = 1;
                self.live_series += 1;
                self.with_series.insert(identity);
                return;
            }
        } else if let Some(n) = self.live_other.get_mut(&(identity, kind, outcome)) {
            *n += 1;
            return;
        }
        let mut key = (identity, kind, outcome);
        if self.live_series >= self.series_budget {
            key.0 = OVERFLOW;
            self.series_overflow += 1;
        }
        let n = self.live_other.entry(key).or_default();
        if *n == 0 {
            self.live_series += 1;
        }
        *n += 1;
        self.with_series.insert(key.0);
    }

    /// Brings `events` up to date with the live counts (before a copy is
    /// published).
    pub fn settle(&mut self) {
        self.events.clear();
        for (identity, cells) in self.live.iter().enumerate() {
            let Some(cells) = cells else { continue };
            // CAST: rows are fewer than MAX_ROWS < 2^32.
            let identity = identity as u32;
            for (kind, counts) in cells.iter().enumerate() {
                for (outcome, &n) in Outcome::ALL.iter().zip(counts) {
                    if n != 0 {
                        // CAST: kind < KIND_COLUMNS < 2^16.
                        self.events.insert((identity, kind as u16, *outcome), n);
                    }
                }
            }
        }
        self.events.extend(self.live_other.iter().map(|(k, v)| (*k, *v)));
    }

    /// Identity to use for the smaller families: the identity when it
    /// already has a series in `events`, else the overflow bucket.
    fn bounded(&self, identity: u32) -> u32 {
        if identity == OVERFLOW || self.with_series.contains(&identity) {
            identity
        } else {
            OVERFLOW
        }
    }

    /// Counts a kernel denial.
    pub fn kernel_denial(&mut self, identity: u32, kind: u16) {
        let id = self.bounded(identity);
        *self.kernel_denials.entry((id, kind)).or_default() += 1;
    }

    /// Counts a divergence.
    pub fn divergence(&mut self, identity: u32, d: Divergence) {
        let id = self.bounded(identity);
        *self.divergences.entry((id, d)).or_default() += 1;
    }

    /// Counts an outcome of the shadow policy set.
    pub fn shadow(&mut self, identity: u32, kind: u16, outcome: Outcome) {
        let id = self.bounded(identity);
        *self.shadow_events.entry((id, kind, outcome)).or_default() += 1;
    }

    /// Records a TCP handshake latency.
    pub fn handshake(&mut self, identity: u32, seconds: f64) {
        let id = self.bounded(identity);
        self.handshake.entry(id).or_default().observe(&HANDSHAKE_BUCKETS, seconds);
    }
}

/// A published copy of the counters with the label values it needs.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// The counters.
    pub counters: Counters,
    /// Identity label values by index.
    pub identities: Arc<Vec<String>>,
}

impl Snapshot {
    /// A snapshot of `counters` (settled) with identity label values.
    pub fn new(mut counters: Counters, identities: Arc<Vec<String>>) -> Self {
        counters.settle();
        Self { counters, identities }
    }

    /// The label value of identity `i`.
    pub fn identity(&self, i: u32) -> &str {
        if i == OVERFLOW {
            return "_overflow";
        }
        self.identities.get(i as usize).map_or("_overflow", String::as_str)
    }
}

/// Where the pipeline publishes and readers read.
pub type Shared = Arc<Mutex<Snapshot>>;

/// Kind name of a wire kind.
pub fn kind_name(kind: u16) -> &'static str {
    RecordKind::from_wire(kind).map_or("unknown", RecordKind::name)
}

/// A sample's value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Num {
    /// A count.
    Int(u64),
    /// A ratio or a measure.
    Float(f64),
}

/// What a family is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FamilyKind {
    /// Only goes up.
    Counter,
    /// Goes up and down.
    Gauge,
}

/// Takes one series: its labels and value.
pub type SeriesSink<'a> = dyn FnMut(&[(&str, &str)], Num) + 'a;

/// Calls its sink once per series.
pub type Read = fn(&Snapshot, &mut SeriesSink<'_>);

/// One metric family, as both `/metrics` and OTLP export it: Prometheus
/// names it `name` (`_total` added to counters' samples), OTLP `name` with
/// dots for the first underscore (`witness.events`), with `unit` (UCUM,
/// `{record}` style annotations for counts).
#[derive(Clone, Copy)]
pub struct Family {
    /// The Prometheus family name.
    pub name: &'static str,
    /// What it counts.
    pub help: &'static str,
    /// Its OTLP unit.
    pub unit: &'static str,
    /// Counter or gauge.
    pub kind: FamilyKind,
    /// Its series in a snapshot.
    pub read: Read,
}

impl std::fmt::Debug for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

impl Family {
    /// The OTLP name: `witness.events` for `witness_events`.
    pub fn otlp_name(&self) -> String {
        self.name.replacen('_', ".", 1)
    }
}

macro_rules! family {
    ($name:literal, $kind:ident, $unit:literal, $help:literal, $read:expr) => {
        Family { name: $name, help: $help, unit: $unit, kind: FamilyKind::$kind, read: $read }
    };
}

fn per_cpu(map: &BTreeMap<u32, u64>, f: &mut SeriesSink<'_>) {
    for (cpu, v) in map {
        f(&[("cpu", &cpu.to_string())], Num::Int(*v));
    }
}

fn single(v: u64, f: &mut SeriesSink<'_>) {
    f(&[], Num::Int(v));
}

/// Every family but the histograms (`witness_tcp_handshake_seconds`,
/// `witness_policy_evaluation_seconds`), the build information and the
/// `process_*` figures, which only `/metrics` has.
pub static FAMILIES: &[Family] = &[
    family!("witness_events", Counter, "{event}", "Judged events by workload identity, record kind and outcome.", |s, f| {
        for ((id, kind, outcome), v) in &s.counters.events {
            f(&[("identity", s.identity(*id)), ("kind", kind_name(*kind)), ("outcome", outcome.name())], Num::Int(*v));
        }
    }),
    family!("witness_kernel_denials", Counter, "{event}", "Operations the kernel itself refused (LSM verdict not 0), by identity and kind.", |s, f| {
        for ((id, kind), v) in &s.counters.kernel_denials {
            f(&[("identity", s.identity(*id)), ("kind", kind_name(*kind))], Num::Int(*v));
        }
    }),
    family!("witness_divergences", Counter, "{event}", "Departures from declared intent, by identity and divergence.", |s, f| {
        for ((id, d), v) in &s.counters.divergences {
            f(&[("identity", s.identity(*id)), ("divergence", d.label())], Num::Int(*v));
        }
    }),
    family!("witness_shadow_events", Counter, "{event}", "Events as the shadow policy set (--shadow-policy) would judge them, by identity, kind and outcome; never acted on.", |s, f| {
        for ((id, kind, outcome), v) in &s.counters.shadow_events {
            f(&[("identity", s.identity(*id)), ("kind", kind_name(*kind)), ("outcome", outcome.name())], Num::Int(*v));
        }
    }),
    family!("witness_packet_drops", Counter, "{packet}", "Packets the kernel dropped, by drop reason (enum skb_drop_reason, named as the running kernel names it).", |s, f| {
        for (reason, v) in &s.counters.packet_drops {
            f(&[("reason", reason)], Num::Int(*v));
        }
    }),
    family!("witness_records_read", Counter, "{record}", "Records read from the device (or a capture).", |s, f| single(s.counters.records, f)),
    family!("witness_pods_resolved", Counter, "{container}", "Containers whose pod (name, namespace, labels) the container runtime described; their processes are attributed again.", |s, f| single(s.counters.pods_resolved, f)),
    family!("witness_sequence_gaps", Counter, "{record}", "Records lost between the kernel and the collector (gaps in per-CPU sequence numbers).", |s, f| per_cpu(&s.counters.sequence_gaps, f)),
    family!("witness_ring_produced", Counter, "{record}", "Records the kernel published, by CPU: with witness_ring_dropped, the records each CPU attempted.", |s, f| {
        for (cpu, r) in &s.counters.rings {
            f(&[("cpu", &cpu.to_string())], Num::Int(r.produced));
        }
    }),
    family!("witness_ring_dropped", Counter, "{record}", "Records the kernel dropped, by CPU and cause (full ring, nested producer).", |s, f| {
        for (cpu, r) in &s.counters.rings {
            let cpu = cpu.to_string();
            f(&[("cpu", &cpu), ("cause", "full")], Num::Int(r.dropped_full));
            f(&[("cpu", &cpu), ("cause", "nested")], Num::Int(r.dropped_nested));
        }
    }),
    family!("witness_hook_dropped", Counter, "{event}", "Events lost, by hook: in a ring (also counted in witness_ring_dropped and seen as sequence gaps) or before it (kprobe misses, no free kretprobe instance), which only this counts.", |s, f| {
        for (hook, v) in &s.counters.hook_dropped {
            f(&[("hook", hook)], Num::Int(*v));
        }
    }),
    family!("witness_ring_fill_ratio", Gauge, "1", "Fraction of each CPU's ring in use at the last poll.", |s, f| {
        for (cpu, r) in &s.counters.rings {
            #[allow(clippy::cast_precision_loss)]
            let ratio = if r.size == 0 { 0.0 } else { r.used as f64 / r.size as f64 };
            f(&[("cpu", &cpu.to_string())], Num::Float(ratio));
        }
    }),
    family!("witness_policy_cache_hits", Counter, "{decision}", "Policy decisions answered from the cache.", |s, f| single(s.counters.cache_hits, f)),
    family!("witness_policy_cache_misses", Counter, "{decision}", "Policy decisions evaluated.", |s, f| single(s.counters.cache_misses, f)),
    family!("witness_policy_cache_hit_ratio", Gauge, "1", "Share of policy decisions answered from the cache.", |s, f| {
        let c = &s.counters;
        #[allow(clippy::cast_precision_loss)]
        let ratio = if c.cache_hits + c.cache_misses == 0 { 0.0 } else { c.cache_hits as f64 / (c.cache_hits + c.cache_misses) as f64 };
        f(&[], Num::Float(ratio));
    }),
    family!("witness_policy_errors", Counter, "{error}", "Policies that failed to evaluate on an event.", |s, f| single(s.counters.policy_errors, f)),
    family!("witness_series_overflow", Counter, "{event}", "Events counted under identity=\"_overflow\" because the series budget was spent.", |s, f| single(s.counters.series_overflow, f)),
    family!("witness_evidence_lines", Counter, "{line}", "Lines written to the evidence log.", |s, f| single(s.counters.evidence_lines, f)),
    family!("witness_evidence_errors", Counter, "{line}", "Evidence lines lost (each loss is also an evidence_lost line in the log once it takes lines again).", |s, f| single(s.counters.evidence_errors, f)),
    family!("witness_evidence_write_failures", Counter, "{write}", "Writes to the evidence log that failed; their lines are kept and written again.", |s, f| single(s.counters.evidence_failures, f)),
    family!("witness_otlp_log_records", Counter, "{record}", "Evidence log records queued for OTLP export.", |s, f| single(s.counters.otlp_logs, f)),
    family!("witness_module_unloads", Counter, "{unload}", "Times the kernel module went away under the collector.", |s, f| single(s.counters.module_unloads, f)),
    family!("witness_config_reloads", Counter, "{reload}", "Configuration reloads (SIGHUP) by result.", |s, f| {
        f(&[("result", "rejected")], Num::Int(s.counters.reloads[0]));
        f(&[("result", "applied")], Num::Int(s.counters.reloads[1]));
    }),
    family!("witness_processes", Gauge, "{process}", "Live processes in the collector's process table.", |s, f| {
        #[allow(clippy::cast_precision_loss)]
        f(&[], Num::Float(s.counters.processes as f64));
    }),
];

/// The Prometheus view of the published snapshot.
#[derive(Debug)]
pub struct Exposition {
    shared: Shared,
}

impl Exposition {
    /// Reads from `shared`.
    pub fn new(shared: Shared) -> Self {
        Self { shared }
    }
}

fn gauge(e: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: f64) -> Result<(), std::fmt::Error> {
    let g = ConstGauge::new(v);
    g.encode(e.encode_descriptor(name, help, None, g.metric_type())?)
}

impl Collector for Exposition {
    fn encode(&self, mut e: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let snap = match self.shared.lock() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        };
        let c = &snap.counters;
        for family in FAMILIES {
            let metric_type = match family.kind {
                FamilyKind::Counter => MetricType::Counter,
                FamilyKind::Gauge => MetricType::Gauge,
            };
            let mut series: Vec<(Vec<(String, String)>, Num)> = Vec::new();
            (family.read)(&snap, &mut |labels, v| {
                series.push((labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), v));
            });
            let mut m = e.encode_descriptor(family.name, family.help, None, metric_type)?;
            match series.as_slice() {
                // One series without labels: `name value`, not `name{} value`.
                [(labels, v)] if labels.is_empty() => encode_value(family.kind, *v, m)?,
                _ => {
                    for (labels, v) in &series {
                        encode_value(family.kind, *v, m.encode_family(labels)?)?;
                    }
                }
            }
        }
        let mut m = e.encode_descriptor(
            // The encoder adds the unit to the name: witness_tcp_handshake_seconds.
            "witness_tcp_handshake",
            "Outgoing TCP handshake latency (SYN_SENT to ESTABLISHED) by identity.",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        for (id, h) in &c.handshake {
            let labels = [("identity", snap.identity(*id))];
            m.encode_family(&labels)?.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                h.sum,
                h.count,
                &h.encode_pairs(&HANDSHAKE_BUCKETS),
                None,
            )?;
        }
        let mut m = e.encode_descriptor(
            "witness_policy_evaluation",
            "Time to evaluate Cedar policies for one event (cache misses).",
            Some(&Unit::Seconds),
            MetricType::Histogram,
        )?;
        m.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            c.eval.sum,
            c.eval.count,
            &if c.eval.buckets.is_empty() {
                Histogram { buckets: vec![0; EVAL_BUCKETS.len() + 1], ..Default::default() }
            } else {
                c.eval.clone()
            }
            .encode_pairs(&EVAL_BUCKETS),
            None,
        )?;
        let info = ConstGauge::new(1i64);
        let mut m =
            e.encode_descriptor("witness_build_info", "Build information (value 1).", None, MetricType::Gauge)?;
        let abi = witness_abi::ABI_VERSION.to_string();
        info.encode(m.encode_family(&[("version", env!("CARGO_PKG_VERSION")), ("abi_version", abi.as_str())])?)?;
        process_metrics(&mut e)
    }
}

/// One sample of a family of `kind`.
fn encode_value(kind: FamilyKind, v: Num, enc: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
    match (kind, v) {
        (FamilyKind::Counter, Num::Int(v)) => ConstCounter::new(v).encode(enc),
        // CAST: a gauge's count reads as f64.
        #[allow(clippy::cast_precision_loss)]
        (FamilyKind::Gauge, Num::Int(v)) => ConstGauge::new(v as f64).encode(enc),
        (FamilyKind::Counter, Num::Float(v)) => ConstCounter::new(v).encode(enc),
        (FamilyKind::Gauge, Num::Float(v)) => ConstGauge::new(v).encode(enc),
    }
}

/// `process_*` metrics of this process, from /proc/self.
fn process_metrics(e: &mut DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return Ok(()) };
    // Fields after the parenthesised comm, numbered from 3 (state).
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return Ok(()) };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    let page = rustix::param::page_size() as f64;
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("btime ")?.trim().parse::<f64>().ok()))
        .unwrap_or(0.0);
    counter_f(e, "process_cpu_seconds", "User and system CPU time spent, seconds.", (field(14) + field(15)) / ticks)?;
    gauge(e, "process_resident_memory_bytes", "Resident memory size, bytes.", field(24) * page)?;
    gauge(e, "process_virtual_memory_bytes", "Virtual memory size, bytes.", field(23))?;
    gauge(e, "process_start_time_seconds", "Start time since the Unix epoch, seconds.", boot + field(22) / ticks)?;
    #[allow(clippy::cast_precision_loss)]
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count) as f64;
    gauge(e, "process_open_fds", "Open file descriptors.", fds)
}

fn counter_f(e: &mut DescriptorEncoder<'_>, name: &str, help: &str, v: f64) -> Result<(), std::fmt::Error> {
    let c = ConstCounter::new(v);
    c.encode(e.encode_descriptor(name, help, None, c.metric_type())?)
}

/// Encodes the snapshot as OpenMetrics text.
pub fn render(shared: &Shared) -> String {
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register_collector(Box::new(Exposition::new(shared.clone())));
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

/// The same metrics in the classic Prometheus text format (version 0.0.4),
/// for scrapers and linters (`promtool check metrics`) that do not ask for
/// OpenMetrics. prometheus-client writes only OpenMetrics, and the two
/// differ in a few places this rewrites: counter and info families are
/// named after their samples (`x_total`, `x_info`), info becomes a gauge,
/// and there are no `# UNIT` or `# EOF` lines.
pub fn openmetrics_to_prometheus(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut help: Option<&str> = None;
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            if let Some(h) = help.take() {
                out.push_str(h);
                out.push('\n');
            }
            help = Some(rest);
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let (name, kind) = match kind {
                "counter" => (format!("{name}_total"), "counter"),
                "info" => (format!("{name}_info"), "gauge"),
                "gaugehistogram" | "stateset" => (name.to_string(), "untyped"),
                other => (name.to_string(), other),
            };
            if let Some(h) = help.take() {
                let text = h.split_once(' ').map_or("", |(_, t)| t);
                out.push_str(&format!("# HELP {name} {text}\n"));
            }
            out.push_str(&format!("# TYPE {name} {kind}\n"));
            continue;
        }
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        if let Some(h) = help.take() {
            out.push_str(&format!("# HELP {h}\n"));
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_series_budget_sends_new_series_to_overflow() {
        let mut c = Counters::new(2);
        c.event(0, 1, Outcome::Allow);
        c.event(1, 1, Outcome::Deny);
        c.event(2, 1, Outcome::Deny);
        c.event(2, 5, Outcome::Deny);
        c.event(0, 1, Outcome::Allow);
        c.settle();
        assert_eq!(c.events[&(0, 1, Outcome::Allow)], 2);
        assert_eq!(c.events[&(OVERFLOW, 1, Outcome::Deny)], 1);
        assert_eq!(c.events[&(OVERFLOW, 5, Outcome::Deny)], 1);
        assert_eq!(c.series_overflow, 2);
        c.divergence(2, Divergence::UndeclaredPeer);
        c.divergence(1, Divergence::UndeclaredPeer);
        assert!(c.divergences.contains_key(&(OVERFLOW, Divergence::UndeclaredPeer)));
        assert!(c.divergences.contains_key(&(1, Divergence::UndeclaredPeer)));
    }

    #[test]
    fn rows_columns_and_the_map_agree() {
        for (i, o) in Outcome::ALL.iter().enumerate() {
            assert_eq!(*o as usize, i, "live cells index outcomes by their place in ALL");
        }
        let mut c = Counters::new(100);
        // A row, a kind without a column, the overflow identity.
        for (identity, kind) in [(3, 2), (3, 2), (3, 700), (OVERFLOW, 2), (3, 700)] {
            c.event(identity, kind, Outcome::Review);
        }
        c.settle();
        let want: BTreeMap<_, _> =
            [((3, 2, Outcome::Review), 2), ((3, 700, Outcome::Review), 2), ((OVERFLOW, 2, Outcome::Review), 1)]
                .into_iter()
                .collect();
        assert_eq!(c.events, want);
        assert_eq!(c.live_series, 3);
        // Settling twice gives the same.
        c.settle();
        assert_eq!(c.events, want);
    }

    #[test]
    fn renders_openmetrics() {
        let mut c = Counters::new(100);
        c.event(0, RecordKind::SockConnect as u16, Outcome::Investigate);
        c.handshake(0, 0.002);
        c.packet_drops.insert(Arc::from("NO_SOCKET"), 7);
        c.rings.insert(0, RingFigures { dropped_full: 3, used: 512, size: 1024, ..Default::default() });
        c.hook_dropped.insert("security_file_open", 4);
        let shared: Shared = Arc::new(Mutex::new(Snapshot::new(c, Arc::new(vec!["spiffe://example.org/api".into()]))));
        let text = render(&shared);
        assert!(text.contains(
            "witness_events_total{identity=\"spiffe://example.org/api\",kind=\"sock_connect\",outcome=\"investigate\"} 1"
        ), "{text}");
        assert!(
            text.contains(
                "witness_tcp_handshake_seconds_bucket{le=\"0.0025\",identity=\"spiffe://example.org/api\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("witness_ring_fill_ratio{cpu=\"0\"} 0.5"), "{text}");
        assert!(text.contains("witness_hook_dropped_total{hook=\"security_file_open\"} 4"), "{text}");
        assert!(text.contains("witness_build_info{version="), "{text}");
        // A family without labels is `name value`, as readers of the text
        // format (and `grep '^name '`) expect.
        assert!(text.contains("\nwitness_policy_cache_hits_total 0\n"), "{text}");
        assert!(!text.contains("{}"), "{text}");
        assert!(text.contains("process_resident_memory_bytes "), "{text}");
        assert!(text.ends_with("# EOF\n"));

        let classic = openmetrics_to_prometheus(&text);
        assert!(classic.contains("# HELP witness_events_total Judged events"), "{classic}");
        assert!(classic.contains("# TYPE witness_events_total counter\n"), "{classic}");
        assert!(classic.contains("# TYPE witness_build_info gauge\n"), "{classic}");
        assert!(classic.contains("# TYPE witness_tcp_handshake_seconds histogram\n"), "{classic}");
        assert!(!classic.contains("# EOF") && !classic.contains("# UNIT"), "{classic}");
        // Every sample line is unchanged.
        let samples = |t: &str| t.lines().filter(|l| !l.starts_with('#')).map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(samples(&text), samples(&classic));
    }
}
