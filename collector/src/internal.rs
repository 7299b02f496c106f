//! The collector's own events: one small type each, whose
//! [`InternalEvent::emit`] logs it, counts it and, when it concerns the
//! stream, queues its evidence record — in one place, so that the log, the
//! metrics and the evidence log cannot disagree about it.
//!
//! Callers emit through [`crate::pipeline::Pipeline::emit`]; the sinks
//! write the queued stream records before the next evidence line.

use crate::evidence::Stream;
use crate::sinks::metrics::Counters;
use crate::sinks::output::Clock;

/// Where an internal event goes: the counters, and the queue of stream
/// records with their Unix times.
#[derive(Debug)]
pub struct Telemetry<'a> {
    /// The pipeline's counters.
    pub counters: &'a mut Counters,
    /// Stream records waiting for the sinks.
    pub stream: &'a mut Vec<(Stream, i128)>,
}

impl Telemetry<'_> {
    fn record(&mut self, stream: Stream, time_unix_ns: i128) {
        self.stream.push((stream, time_unix_ns));
    }
}

/// An event of the collector itself.
pub trait InternalEvent {
    /// Logs, counts and records it.
    fn emit(self, to: &mut Telemetry<'_>);
}

/// The collector began judging (`command` is `run` or `replay`).
#[derive(Debug)]
pub struct Started {
    /// The subcommand.
    pub command: &'static str,
    /// Every judged event is written (else those judged allow are not).
    pub evidence_all: bool,
}

impl InternalEvent for Started {
    fn emit(self, to: &mut Telemetry<'_>) {
        tracing::debug!(command = self.command, "started");
        let evidence = if self.evidence_all { "all" } else { "not_allow" };
        to.record(Stream::Started { command: self.command, evidence }, Clock::now_unix_ns());
    }
}

/// The collector stopped.
#[derive(Debug)]
pub struct Stopped {
    /// Records lost in all (sequence gaps).
    pub lost: u64,
}

impl InternalEvent for Stopped {
    fn emit(self, to: &mut Telemetry<'_>) {
        let records = to.counters.records;
        tracing::debug!(records, lost = self.lost, "stopped");
        to.record(Stream::Stopped { records, lost: self.lost }, Clock::now_unix_ns());
    }
}

/// A CPU's sequence numbers skipped `first_seq..=last_seq`.
#[derive(Debug)]
pub struct SequenceGap {
    /// The CPU.
    pub cpu: u32,
    /// The first missing number.
    pub first_seq: u64,
    /// The last missing number.
    pub last_seq: u64,
    /// The Unix time of the record before the gap.
    pub previous_unix_ns: i128,
    /// The Unix time of the record after the gap.
    pub time_unix_ns: i128,
}

impl InternalEvent for SequenceGap {
    fn emit(self, to: &mut Telemetry<'_>) {
        let missing = self.last_seq - self.first_seq + 1;
        tracing::debug!(cpu = self.cpu, first_seq = self.first_seq, missing, "sequence gap");
        *to.counters.sequence_gaps.entry(self.cpu).or_default() += missing;
        let gap = Stream::Gap {
            cpu: self.cpu,
            first_seq: self.first_seq,
            last_seq: self.last_seq,
            missing,
            previous_time_unix_ns: self.previous_unix_ns.to_string(),
        };
        to.record(gap, self.time_unix_ns);
    }
}

/// The device was opened and is read.
#[derive(Debug)]
pub struct DeviceOpened<'a> {
    /// The device.
    pub path: &'a std::path::Path,
    /// How its rings are read (`mmap`, `read(2)`).
    pub method: &'static str,
    /// The module's ABI version.
    pub abi_version: u32,
    /// Its rings.
    pub rings: u32,
    /// Bytes of each ring's data area.
    pub ring_bytes: u64,
}

impl InternalEvent for DeviceOpened<'_> {
    fn emit(self, to: &mut Telemetry<'_>) {
        tracing::info!(
            "reading {} through {} (ABI {}, {} rings of {} KiB)",
            self.path.display(),
            self.method,
            self.abi_version,
            self.rings,
            self.ring_bytes / 1024
        );
        to.counters.device_opens += 1;
        to.counters.device_reading = true;
        to.record(Stream::DeviceOpened { abi_version: self.abi_version, rings: self.rings }, Clock::now_unix_ns());
    }
}

/// The device is not there (the module is not loaded): `/healthz` says so
/// until it is read again. Emitted once per absence.
#[derive(Debug)]
pub struct DeviceAbsent {
    /// Why it cannot be opened.
    pub error: String,
}

impl InternalEvent for DeviceAbsent {
    fn emit(self, to: &mut Telemetry<'_>) {
        tracing::warn!("{}; waiting for it", self.error);
        to.counters.device_reading = false;
    }
}

/// The module went away under the collector.
#[derive(Debug)]
pub struct ModuleGone {
    /// What the device said.
    pub error: String,
}

impl InternalEvent for ModuleGone {
    fn emit(self, to: &mut Telemetry<'_>) {
        tracing::warn!("{}; waiting for it to be loaded again", self.error);
        to.counters.module_unloads += 1;
        to.counters.device_reading = false;
        to.record(Stream::ModuleGone, Clock::now_unix_ns());
    }
}

/// A new configuration is in force.
#[derive(Debug)]
pub struct ConfigChanged;

impl InternalEvent for ConfigChanged {
    fn emit(self, to: &mut Telemetry<'_>) {
        tracing::info!("configuration reloaded");
        to.counters.reloads[1] += 1;
        to.record(Stream::ConfigChanged, Clock::now_unix_ns());
    }
}

/// A new configuration was refused.
#[derive(Debug)]
pub struct ConfigRejected {
    /// Why, with file and line.
    pub error: String,
}

impl InternalEvent for ConfigRejected {
    fn emit(self, to: &mut Telemetry<'_>) {
        tracing::error!("reload rejected, keeping the running configuration: {}", self.error);
        to.counters.reloads[0] += 1;
        to.record(Stream::ConfigRejected { error: self.error }, Clock::now_unix_ns());
    }
}

/// A write to the evidence log failed; its lines are kept to retry.
#[derive(Debug)]
pub struct EvidenceWriteFailed {
    /// Whether this is the first failure (only that one is logged).
    pub first: bool,
    /// What failed.
    pub error: String,
}

impl InternalEvent for EvidenceWriteFailed {
    fn emit(self, to: &mut Telemetry<'_>) {
        if self.first {
            tracing::error!(
                "evidence log: {} (counting further failures in witness_evidence_write_failures_total)",
                self.error
            );
        }
        to.counters.evidence_failures += 1;
    }
}

/// Evidence lines were lost for good.
#[derive(Debug)]
pub struct EvidenceLost {
    /// What was lost.
    pub loss: crate::sinks::evidence::Loss,
}

impl InternalEvent for EvidenceLost {
    fn emit(self, to: &mut Telemetry<'_>) {
        let loss = self.loss;
        tracing::error!("evidence log: {} lines were lost ({}); writing their loss record", loss.lines, loss.error);
        to.counters.evidence_lines = to.counters.evidence_lines.saturating_sub(loss.lines);
        to.counters.evidence_errors += loss.lines;
        let stream = Stream::EvidenceLost {
            lines: loss.lines,
            first_time_unix_ns: loss.first_time_unix_ns.to_string(),
            last_time_unix_ns: loss.last_time_unix_ns.to_string(),
            error: loss.error,
        };
        to.record(stream, Clock::now_unix_ns());
    }
}

/// The evidence log's cut last line was removed when it was opened.
#[derive(Debug)]
pub struct EvidenceTrimmed {
    /// Bytes removed.
    pub bytes: u64,
}

impl InternalEvent for EvidenceTrimmed {
    fn emit(self, to: &mut Telemetry<'_>) {
        tracing::warn!("evidence log: removed a cut last line ({} bytes) left by a crash", self.bytes);
        to.record(Stream::EvidenceTrimmed { bytes: self.bytes }, Clock::now_unix_ns());
    }
}

/// A capture could not be read to its end.
#[derive(Debug)]
pub struct CaptureDamaged {
    /// The file.
    pub file: String,
    /// What is wrong, and where.
    pub error: String,
}

impl InternalEvent for CaptureDamaged {
    fn emit(self, to: &mut Telemetry<'_>) {
        to.record(Stream::CaptureDamaged { file: self.file, error: self.error }, Clock::now_unix_ns());
    }
}
