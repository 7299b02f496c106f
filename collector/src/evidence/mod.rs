//! The evidence record: one type, [`Line`], that every sink serializes.
//! The JSONL log writes it with serde; OTLP turns the same serialization
//! into log attributes ([`crate::sinks::otlp::attributes`]), so a field
//! cannot be in one and not the other.
//!
//! Each line stands on its own: it names its schema ([`SCHEMA`]), the host
//! and collector version that wrote it, the digests of the inventory and
//! policies in force ([`Origin`]), and its time both as RFC 3339 and as
//! Unix nanoseconds in a string (2^53 is exceeded by any Unix time in
//! nanoseconds, and many JSON readers stop there).
//!
//! Two records share the log: `"record": "event"`, a judged event
//! ([`Judgement`]), and `"record": "stream"`, what happened to the stream
//! itself ([`Stream`]): the collector started or stopped, a CPU's sequence
//! skipped records, the module went away or came back, the configuration
//! changed, evidence lines could not be written. The log alone then says
//! whether it is complete: every record the kernel produced is either an
//! event line, below the evidence threshold (allowed, and counted), or in
//! a gap or loss record.

pub mod bundle;
pub mod chain;
pub mod completeness;
pub mod drift;
pub mod html;
pub mod intent;
pub mod possession;
pub mod read;
pub mod shadow;
pub mod verify;

use serde::ser::{Serialize, SerializeMap, Serializer};
use sha2::{Digest as _, Sha256};

use crate::policy::{Divergence, Outcome};
use crate::sinks::output::{self, Fields};
use crate::source::decode::Event;

/// The schema of evidence lines: bumped when a field changes meaning or
/// goes away (new fields do not bump it).
pub const SCHEMA: &str = "witness.evidence/1";

/// Where evidence comes from: the same for every line until the
/// configuration changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The name of the host the events happened on (a capture's host when
    /// it is replayed).
    pub host: String,
    /// This collector's version.
    pub collector: &'static str,
    /// `sha256:` of the inventory file in force (None: no inventory).
    pub inventory: Option<String>,
    /// `sha256:` of the policy files in force, in load order (None: no
    /// policies).
    pub policies: Option<String>,
    /// `sha256:` of the shadow policy set judged beside them, if any.
    pub shadow: Option<String>,
}

impl Origin {
    /// This host and collector, with the given configuration digests.
    pub fn here(inventory: Option<String>, policies: Option<String>) -> Self {
        let host = rustix::system::uname().nodename().to_string_lossy().into_owned();
        Self { host, collector: env!("CARGO_PKG_VERSION"), inventory, policies, shadow: None }
    }

    fn write<M: SerializeMap>(&self, m: &mut M, record: &str, time_unix_ns: i128) -> Result<(), M::Error> {
        m.serialize_entry("schema", SCHEMA)?;
        m.serialize_entry("record", record)?;
        m.serialize_entry("time", &Rfc3339(time_unix_ns))?;
        m.serialize_entry("time_unix_ns", &time_unix_ns.to_string())?;
        m.serialize_entry("host", &self.host)?;
        m.serialize_entry("collector", self.collector)?;
        m.serialize_entry(
            "config",
            &ConfigDigests {
                inventory: self.inventory.as_deref(),
                policies: self.policies.as_deref(),
                shadow: self.shadow.as_deref(),
            },
        )
    }
}

#[derive(serde::Serialize)]
struct ConfigDigests<'a> {
    inventory: Option<&'a str>,
    policies: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    shadow: Option<&'a str>,
}

/// `sha256:` and the hex digest of `bytes`.
pub fn sha256_tag(bytes: &[u8]) -> String {
    format!("sha256:{}", crate::text::hex(&Sha256::digest(bytes)))
}

/// Unix nanoseconds as an RFC 3339 UTC time with nanoseconds.
struct Rfc3339(i128);

impl Serialize for Rfc3339 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match jiff::Timestamp::from_nanosecond(self.0) {
            Ok(t) => s.collect_str(&format_args!("{t:.9}")),
            Err(_) => s.serialize_none(),
        }
    }
}

/// Who did it, as the inventory says. `spiffe_id` is None for a process
/// no entry matched (`attested: false`): "unattested" is not a SPIFFE ID.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Identity<'a> {
    /// The workload's SPIFFE ID.
    pub spiffe_id: Option<&'a str>,
    /// Its owner.
    pub owner: Option<&'a str>,
    /// Whether an inventory entry matched.
    pub attested: bool,
}

/// Where the process runs, as far as its cgroup and the container runtime
/// say (each part present when known). Keys follow OpenTelemetry
/// (`container.id`, `k8s.pod.uid`, `k8s.pod.name`, `k8s.namespace.name`,
/// `k8s.container.name`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Placement<'a> {
    /// The cgroup v2 path.
    pub cgroup: Option<&'a str>,
    /// The container id.
    pub container_id: Option<&'a str>,
    /// The runtime that named the container.
    pub container_runtime: Option<&'a str>,
    /// The Kubernetes pod UID.
    pub pod_uid: Option<&'a str>,
    /// The innermost systemd unit.
    pub systemd_unit: Option<&'a str>,
    /// The pod, as the container runtime describes it.
    pub pod: Option<&'a crate::enrich::pods::Pod>,
}

#[derive(serde::Serialize)]
struct Container<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    runtime: Option<&'a str>,
}

#[derive(serde::Serialize)]
struct K8s<'a> {
    pod: Pod<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<Named<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    container: Option<Named<'a>>,
}

#[derive(serde::Serialize)]
struct Pod<'a> {
    uid: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

#[derive(serde::Serialize)]
struct Named<'a> {
    name: &'a str,
}

impl Placement<'_> {
    fn write(&self, o: &mut impl Fields) {
        if let Some(path) = self.cgroup {
            o.field("cgroup", path);
        }
        if let Some(id) = self.container_id {
            o.field("container", Container { id, runtime: self.container_runtime });
        }
        if let Some(uid) = self.pod_uid.or(self.pod.map(|p| p.uid.as_str())) {
            let pod = self.pod;
            o.field(
                "k8s",
                K8s {
                    pod: Pod { uid, name: pod.map(|p| p.name.as_str()) },
                    namespace: pod.map(|p| Named { name: &p.namespace }),
                    container: pod.and_then(|p| Some(Named { name: p.container.as_deref()? })),
                },
            );
        }
        if let Some(unit) = self.systemd_unit {
            o.field("systemd_unit", unit);
        }
    }
}

/// One of [`Process::ancestors`].
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Ancestor<'a> {
    /// Its process id.
    pub pid: u32,
    /// Its command name.
    pub comm: &'a str,
    /// Its executable.
    pub exe: Option<&'a str>,
}

/// The process as the process table knows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Process<'a> {
    /// Its executable (before the event: an exec's new image is the
    /// event's `path`).
    pub exe: Option<&'a str>,
    /// Parent first, up to eight.
    pub ancestors: Vec<Ancestor<'a>>,
}

/// A judged event: what the record says, who did it, where it runs, and
/// the judgement.
#[derive(Clone, Debug)]
pub struct Judgement<'a> {
    /// The record.
    pub event: &'a Event,
    /// Unix time of the record, nanoseconds.
    pub time_unix_ns: i128,
    /// The workload.
    pub identity: Identity<'a>,
    /// Its cgroup, container and pod.
    pub placement: Placement<'a>,
    /// The outcome (policy, raised by divergence).
    pub outcome: Outcome,
    /// The kernel's verdict: 0 allowed, else -errno.
    pub kernel_verdict: i32,
    /// The departure from declared intent.
    pub divergence: Divergence,
    /// The deciding policies.
    pub policies: &'a [String],
    /// The process (None for records without a task).
    pub process: Option<Process<'a>>,
    /// The workload whose declared secret the event touched.
    pub secret_of: Option<&'a str>,
    /// For a connect, the declared workload serving the address.
    pub peer: Option<&'a str>,
    /// For an exec, the SHA-256 of the executable (hex), when known.
    pub sha256: Option<String>,
    /// The shadow policy set's outcome and deciding policies, when it
    /// differs from `outcome`.
    pub shadow: Option<(Outcome, &'a [String])>,
}

#[derive(serde::Serialize)]
struct Shadow<'a> {
    outcome: &'static str,
    policies: &'a [String],
}

#[derive(serde::Serialize)]
struct Kernel {
    verdict: i32,
    denied: bool,
}

/// What happened to the stream. Each variant is one `"stream"` value.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "stream", rename_all = "snake_case")]
pub enum Stream {
    /// The collector started judging (its configuration is the line's
    /// `config`).
    Started {
        /// The command: `run` or `replay`.
        command: &'static str,
        /// Which judged events get a line: `all`, or `not_allow` (events
        /// judged allow are then counted in metrics, not written).
        evidence: &'static str,
    },
    /// The collector stopped; what it saw in all.
    Stopped {
        /// Records read.
        records: u64,
        /// Records the sequence numbers say were lost.
        lost: u64,
    },
    /// A CPU's sequence numbers skipped: records `first_seq..=last_seq`
    /// were produced and never read (the kernel's ring was full, or the
    /// record was nested in another on that CPU).
    Gap {
        /// The CPU.
        cpu: u32,
        /// The first missing sequence number.
        first_seq: u64,
        /// The last missing one.
        last_seq: u64,
        /// How many: `last_seq - first_seq + 1`.
        missing: u64,
        /// The Unix time (nanoseconds, a string) of the record read before
        /// them on this CPU; the line's time is the record's after them.
        /// They were produced in between.
        previous_time_unix_ns: String,
    },
    /// The device was opened; sequence numbers start afresh when the module
    /// was loaded again.
    DeviceOpened {
        /// The module's ABI version.
        abi_version: u32,
        /// Its rings (one per possible CPU).
        rings: u32,
    },
    /// The module went away (unloaded); nothing is recorded until it is
    /// back.
    ModuleGone,
    /// A new configuration is in force (the line's `config` has its
    /// digests).
    ConfigChanged,
    /// A new configuration was refused; the running one stays.
    ConfigRejected {
        /// Why, with file and line.
        error: String,
    },
    /// Evidence lines that could not be written (the disk was full, the
    /// file system failed): their events are judged and counted, but their
    /// lines are not in this log. Written as soon as the log takes lines
    /// again.
    EvidenceLost {
        /// Lines lost.
        lines: u64,
        /// The earliest event time among them, Unix nanoseconds (string).
        first_time_unix_ns: String,
        /// The latest.
        last_time_unix_ns: String,
        /// Why.
        error: String,
    },
    /// The log's last line was cut (a crash during a write) and removed
    /// when the log was opened again: the event it held is not in the log.
    EvidenceTrimmed {
        /// Bytes removed.
        bytes: u64,
    },
    /// The capture being replayed is damaged: nothing after the damage
    /// was read.
    CaptureDamaged {
        /// The capture file.
        file: String,
        /// What is wrong, and where.
        error: String,
    },
}

impl Stream {
    /// The value of `"stream"`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Started { .. } => "started",
            Self::Stopped { .. } => "stopped",
            Self::Gap { .. } => "gap",
            Self::DeviceOpened { .. } => "device_opened",
            Self::ModuleGone => "module_gone",
            Self::ConfigChanged => "config_changed",
            Self::ConfigRejected { .. } => "config_rejected",
            Self::EvidenceLost { .. } => "evidence_lost",
            Self::EvidenceTrimmed { .. } => "evidence_trimmed",
            Self::CaptureDamaged { .. } => "capture_damaged",
        }
    }
}

/// What a checkpoint line states, besides its origin. The log adds its
/// place in the chain, its key and its signature
/// ([`chain`]); its `prev` covers every line before it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Checkpoint {
    /// Records this collector read since it started.
    pub records: u64,
    /// Records its sequence numbers say were lost since it started.
    pub lost: u64,
    /// The kernel's counters as last read (None: no device is read, as in
    /// a replay).
    pub kernel: Option<KernelCounters>,
}

/// The module's own counters, as `witness status` shows them: what lets a
/// reader account for records lost while no collector was reading.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct KernelCounters {
    /// Per ring.
    pub cpus: Vec<CpuCounters>,
    /// Events each hook lost, ring drops (which are also sequence gaps)
    /// and losses before the ring (probe misses, which are not).
    pub hooks_dropped: std::collections::BTreeMap<&'static str, u64>,
    /// Events each hook's filters (uid, cgroup, path) discarded: not
    /// recorded, by configuration.
    pub hooks_filtered: std::collections::BTreeMap<&'static str, u64>,
    /// The kinds the module records (None: not known); a kind not listed
    /// is filtered out in the kernel.
    pub kinds: Option<Vec<&'static str>>,
}

/// One ring's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CpuCounters {
    /// The CPU.
    pub cpu: u32,
    /// Records published.
    pub produced: u64,
    /// Records dropped because the ring was full.
    pub dropped_full: u64,
    /// Records dropped by nested producers.
    pub dropped_nested: u64,
}

/// One evidence line: a judged event or a stream record, with its origin.
#[derive(Clone, Debug)]
pub struct Line<'a> {
    /// Host, collector, configuration.
    pub origin: &'a Origin,
    /// What the line is about.
    pub body: Body<'a>,
}

/// The kinds of [`Line`].
// A line lives on the stack while it is written; boxing the event (the
// common case) would allocate once per line.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Body<'a> {
    /// A judged event.
    Event(Judgement<'a>),
    /// A stream record, at a Unix time in nanoseconds.
    Stream(&'a Stream, i128),
    /// A checkpoint, at a Unix time in nanoseconds.
    Checkpoint(&'a Checkpoint, i128),
}

impl Line<'_> {
    /// The line's Unix time, nanoseconds.
    pub fn time_unix_ns(&self) -> i128 {
        match &self.body {
            Body::Event(j) => j.time_unix_ns,
            Body::Stream(_, t) | Body::Checkpoint(_, t) => *t,
        }
    }
}

impl Serialize for Line<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        match &self.body {
            Body::Event(j) => {
                self.origin.write(&mut m, "event", j.time_unix_ns)?;
                let mut o = MapFields { map: &mut m, error: None };
                j.write(&mut o);
                if let Some(e) = o.error {
                    return Err(e);
                }
            }
            Body::Stream(stream, t) => {
                self.origin.write(&mut m, "stream", *t)?;
                // Rare lines: through a Value, for the derived tagging.
                flatten(&mut m, stream)?;
            }
            Body::Checkpoint(checkpoint, t) => {
                self.origin.write(&mut m, "checkpoint", *t)?;
                flatten(&mut m, checkpoint)?;
            }
        }
        m.end()
    }
}

/// The members of `value`'s object, into `m`.
fn flatten<M: SerializeMap>(m: &mut M, value: &impl Serialize) -> Result<(), M::Error> {
    if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(value) {
        for (k, v) in &fields {
            m.serialize_entry(k, v)?;
        }
    }
    Ok(())
}

impl Judgement<'_> {
    fn write(&self, o: &mut impl Fields) {
        let m = self.event.meta();
        o.field("kind", self.event.kind_name());
        o.field("cpu", m.cpu);
        o.field("seq", m.seq);
        o.field("ts_boot_ns", m.ts_ns.to_string());
        output::event_fields(o, self.event);
        o.field("identity", self.identity);
        self.placement.write(o);
        o.field("outcome", self.outcome.name());
        o.field("kernel", Kernel { verdict: self.kernel_verdict, denied: self.kernel_verdict != 0 });
        o.field("divergence", (self.divergence != Divergence::None).then(|| self.divergence.name()));
        o.field("policies", self.policies);
        if let Some(owner) = self.secret_of {
            o.field("secret_of", owner);
        }
        if let Some(peer) = self.peer {
            o.field("peer", peer);
        }
        if let Some(sha256) = &self.sha256 {
            o.field("sha256", sha256);
        }
        if let Some((outcome, policies)) = self.shadow {
            o.field("shadow", Shadow { outcome: outcome.name(), policies });
        }
        if let Some(p) = &self.process {
            o.field("process", p);
        }
    }
}

/// [`Fields`] into a serde map, keeping the first error.
struct MapFields<'m, M: SerializeMap> {
    map: &'m mut M,
    error: Option<M::Error>,
}

impl<M: SerializeMap> Fields for MapFields<'_, M> {
    fn field<V: Serialize>(&mut self, key: &str, value: V) {
        if self.error.is_none() {
            if let Err(e) = self.map.serialize_entry(key, &value) {
                self.error = Some(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_and_exact() {
        let origin = Origin {
            host: "h".into(),
            collector: "0.1.0",
            inventory: None,
            policies: Some("sha256:ab".into()),
            shadow: None,
        };
        let stream = Stream::ModuleGone;
        let t = 1_796_219_365_123_456_789i128;
        let v = serde_json::to_value(Line { origin: &origin, body: Body::Stream(&stream, t) }).unwrap();
        assert_eq!(v["time"], "2026-12-02T13:49:25.123456789Z");
        assert_eq!(v["time_unix_ns"], "1796219365123456789");
        assert_eq!(v["schema"], SCHEMA);
        assert_eq!(v["record"], "stream");
        assert_eq!(v["stream"], "module_gone");
        assert_eq!(v["config"], serde_json::json!({"inventory": null, "policies": "sha256:ab"}));
    }

    #[test]
    fn stream_names_match_their_serialization() {
        let all = [
            Stream::Started { command: "run", evidence: "all" },
            Stream::Stopped { records: 1, lost: 0 },
            Stream::Gap { cpu: 1, first_seq: 5, last_seq: 6, missing: 2, previous_time_unix_ns: "1".into() },
            Stream::DeviceOpened { abi_version: 1, rings: 2 },
            Stream::ModuleGone,
            Stream::ConfigChanged,
            Stream::ConfigRejected { error: "x".into() },
            Stream::EvidenceLost {
                lines: 1,
                first_time_unix_ns: "1".into(),
                last_time_unix_ns: "2".into(),
                error: "e".into(),
            },
            Stream::CaptureDamaged { file: "f".into(), error: "e".into() },
            Stream::EvidenceTrimmed { bytes: 3 },
        ];
        for s in all {
            assert_eq!(serde_json::to_value(&s).unwrap()["stream"], s.name());
        }
    }
}
