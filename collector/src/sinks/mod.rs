//! Where judged events and the collector's own figures go: the JSONL
//! evidence log, OTLP (logs and metrics), Prometheus `/metrics`
//! ([`endpoint`]), the verdict table, and the JSON lines and table of
//! `witness events`.
//!
//! [`Sinks`] is what `witness run` and `witness replay` hand every event
//! to: it runs the pipeline on it, counts it for the table, and writes the
//! evidence line of events that are evidence, after the stream records
//! (sequence gaps, configuration changes) the pipeline queued before it.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::evidence::chain::Signer;
use crate::evidence::{Line, Stream};
use crate::internal::{self, InternalEvent};
use crate::pipeline::{Judged, Pipeline};
use crate::sinks::evidence::{EvidenceError, EvidenceLog};
use crate::sinks::metrics::{Shared, Snapshot};
use crate::sinks::otlp::Otlp;
use crate::sinks::output::Clock;
use crate::source::decode::Event;

pub mod endpoint;
pub mod endpoint_tls;
pub mod evidence;
pub mod metrics;
pub mod otlp;
pub mod otlp_tls;
pub mod output;
pub mod summary;

/// Where judged events go.
pub struct Sinks {
    /// The JSONL evidence log.
    pub evidence: Option<EvidenceLog>,
    /// The OTLP exporter.
    pub otlp: Option<Arc<Otlp>>,
    /// Where counters are published.
    pub shared: Shared,
    /// The verdict table.
    pub tally: summary::Tally,
    /// When checkpoints are written and what signs them.
    pub checkpoints: Checkpoints,
    /// The live drift tally behind `/drift` (`witness run`).
    pub live_drift: Option<Arc<Mutex<crate::evidence::drift::Live>>>,
    /// The chain position and time of the last checkpoint.
    last_checkpoint: (u64, Instant),
    last_publish: Option<Instant>,
    reported_evidence_error: bool,
}

/// When the evidence log gets a checkpoint line (see
/// [`crate::evidence::chain`]): after `every_lines` lines or `every`,
/// whichever comes first, if a line was written since the last one, and
/// when the collector stops.
#[derive(Debug)]
pub struct Checkpoints {
    /// The key that signs them (None: unsigned checkpoints).
    pub signer: Option<Signer>,
    /// Lines between checkpoints, at most.
    pub every_lines: u64,
    /// Time between checkpoints, at most (while lines are written).
    pub every: Duration,
}

impl Default for Checkpoints {
    fn default() -> Self {
        Self { signer: None, every_lines: 10_000, every: Duration::from_secs(10) }
    }
}

impl std::fmt::Debug for Sinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sinks").field("evidence", &self.evidence.is_some()).finish()
    }
}

impl Sinks {
    /// Sinks writing evidence to `evidence` (if any) and OTLP (if any).
    pub fn new(evidence: Option<EvidenceLog>, otlp: Option<Arc<Otlp>>) -> Self {
        let head = evidence.as_ref().map_or(0, |log| log.head().n);
        Self {
            evidence,
            otlp,
            checkpoints: Checkpoints::default(),
            live_drift: None,
            last_checkpoint: (head, Instant::now()),
            shared: Arc::new(Mutex::new(Snapshot::default())),
            tally: summary::Tally::default(),
            last_publish: None,
            reported_evidence_error: false,
        }
    }

    /// Runs one event through the pipeline and the sinks; returns its
    /// judgement (None for records about no task).
    pub fn handle(&mut self, p: &mut Pipeline, event: &Event) -> Option<Judged> {
        if p.has_stream() {
            self.write_stream(p);
        }
        let judged = p.process(event)?;
        self.tally.count(p.config().identities(), &judged);
        if let Some(live) = &self.live_drift {
            observe_drift(live, p, event, &judged);
        }
        if p.is_evidence(&judged) {
            self.write(p, event, &judged);
        }
        Some(judged)
    }

    /// Writes the evidence line of a judged event to the log and OTLP.
    fn write(&mut self, p: &mut Pipeline, event: &Event, judged: &Judged) {
        let result = send(&mut self.evidence, self.otlp.as_deref(), &p.evidence(event, judged));
        p.counters.evidence_lines += u64::from(result.is_some());
        p.counters.otlp_logs += u64::from(self.otlp.is_some());
        if let Some(result) = result {
            self.account(p, result);
            self.checkpoint_if_lines(p);
        }
    }

    /// A checkpoint if `every_lines` lines were written since the last.
    fn checkpoint_if_lines(&mut self, p: &mut Pipeline) {
        if self
            .evidence
            .as_ref()
            .is_some_and(|log| log.head().n - self.last_checkpoint.0 >= self.checkpoints.every_lines)
        {
            self.checkpoint(p, true);
        }
    }

    /// Writes the stream records the pipeline queued (sequence gaps,
    /// configuration changes, the module going away), in order.
    pub fn write_stream(&mut self, p: &mut Pipeline) {
        for (stream, time) in p.take_stream() {
            self.write_one_stream(p, &stream, time);
        }
    }

    fn write_one_stream(&mut self, p: &mut Pipeline, stream: &Stream, time_unix_ns: i128) {
        if let Some(result) = send(&mut self.evidence, self.otlp.as_deref(), &p.stream_line(stream, time_unix_ns)) {
            self.account(p, result);
            self.checkpoint_if_lines(p);
        }
    }

    /// Says that `command` starts judging, and that the evidence log had
    /// a cut last line removed, if it had.
    pub fn started(&mut self, p: &mut Pipeline, command: &'static str) {
        p.emit(internal::Started { command, evidence_all: p.options().evidence_all });
        if let Some(bytes) = self.evidence.as_ref().map(|log| log.trimmed).filter(|&b| b > 0) {
            p.emit(internal::EvidenceTrimmed { bytes });
        }
        self.write_stream(p);
    }

    /// Emits an internal event (see [`crate::internal`]) and writes the
    /// stream records it queued, with any queued before it.
    pub fn emit(&mut self, p: &mut Pipeline, event: impl InternalEvent) {
        p.emit(event);
        self.write_stream(p);
    }

    /// Publishes the counters if `force` or enough time passed.
    pub fn publish(&mut self, p: &mut Pipeline, force: bool) {
        if force || self.last_publish.is_none_or(|t| t.elapsed() >= Duration::from_millis(200)) {
            let snap = p.snapshot();
            match self.shared.lock() {
                Ok(mut s) => *s = snap,
                Err(poisoned) => *poisoned.into_inner() = snap,
            }
            self.last_publish = Some(Instant::now());
        }
    }

    /// Counts lines the evidence log lost, writes their loss record once
    /// the log takes lines again, and reports the first failure.
    fn account(&mut self, p: &mut Pipeline, result: Result<(), EvidenceError>) {
        let Some(log) = &mut self.evidence else { return };
        if let Err(e) = result {
            p.emit(internal::EvidenceWriteFailed { first: !self.reported_evidence_error, error: e.to_string() });
            self.reported_evidence_error = true;
        }
        // The loss record waits until the log takes lines again; then it
        // goes out with the next lines (or waits with them, should that
        // write fail too).
        if !log.is_failing() {
            if let Some(loss) = log.take_loss() {
                p.emit(internal::EvidenceLost { loss });
            }
        }
    }

    /// Writes a checkpoint if one is due, then the buffered evidence lines
    /// (at the end of each batch).
    pub fn flush(&mut self, p: &mut Pipeline) {
        self.checkpoint(p, false);
        if let Some(result) = self.evidence.as_mut().map(EvidenceLog::flush) {
            self.account(p, result);
        }
    }

    /// Writes a checkpoint line if lines were written since the last one
    /// and `force` or [`Checkpoints`] says one is due.
    fn checkpoint(&mut self, p: &mut Pipeline, force: bool) {
        let Some(log) = &mut self.evidence else { return };
        let (last, at) = self.last_checkpoint;
        let n = log.head().n;
        let due = n - last >= self.checkpoints.every_lines || at.elapsed() >= self.checkpoints.every;
        if n == last || !(force || due) {
            return;
        }
        let checkpoint = p.checkpoint();
        let line = p.checkpoint_line(&checkpoint, Clock::now_unix_ns());
        let result = log.checkpoint(&line, line.time_unix_ns(), self.checkpoints.signer.as_ref());
        self.last_checkpoint = (log.head().n, Instant::now());
        let result = result.map(|sealed| {
            if let (Some(otlp), Some(sealed)) = (&self.otlp, sealed) {
                otlp.emit_checkpoint(&sealed);
            }
        });
        self.account(p, result);
    }

    /// Syncs the evidence log if its oldest unsynced line is `age` old.
    pub fn sync_if_older(&mut self, p: &mut Pipeline, age: Duration) {
        if let Some(result) = self.evidence.as_mut().map(|log| log.sync_if_older(age)) {
            self.account(p, result);
        }
    }

    /// Writes the queued stream records, then writes and syncs the
    /// evidence log.
    pub fn sync(&mut self, p: &mut Pipeline) {
        self.write_stream(p);
        self.checkpoint(p, true);
        if let Some(result) = self.evidence.as_mut().map(EvidenceLog::sync) {
            self.account(p, result);
        }
    }

    /// The verdict table.
    pub fn verdict_table(&self) -> String {
        self.tally.table()
    }
}

/// Counts an event in the live drift tally: connects and execs, and file
/// events that touched a secret or diverged (the rest cannot change it).
fn observe_drift(live: &Mutex<crate::evidence::drift::Live>, p: &Pipeline, event: &Event, judged: &Judged) {
    use crate::source::decode::Body;
    let relevant = match &event.body {
        Body::Sock(_) => event.kind() == Some(witness_abi::record::RecordKind::SockConnect),
        Body::Exec { .. } => true,
        Body::File { .. } => judged.credential.is_some() || judged.divergence != crate::policy::Divergence::None,
        _ => false,
    };
    if !relevant {
        return;
    }
    let peer = judged.peer.and_then(|i| p.config().workload(i)).map(|w| w.spiffe_id.as_str());
    let mut live = match live.lock() {
        Ok(l) => l,
        Err(poisoned) => poisoned.into_inner(),
    };
    live.observe(&p.config().inventory, judged.identity, event, judged.divergence, peer, Clock::now_unix_ns());
}

/// Gives one evidence line to the log and to OTLP; the log's result, if
/// there is a log.
fn send(evidence: &mut Option<EvidenceLog>, otlp: Option<&Otlp>, line: &Line<'_>) -> Option<Result<(), EvidenceError>> {
    let result = evidence.as_mut().map(|log| log.append(line, line.time_unix_ns()));
    if let Some(otlp) = otlp {
        otlp.emit(line);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Inventory;
    use crate::pipeline::{Config, Options};
    use crate::sinks::evidence::Policy;
    use crate::sinks::output::Clock;
    use crate::source::decode::{Body, Meta};
    use witness_abi::record::{ForkRecord, RecordKind};
    use zerocopy::FromZeros;

    /// Lines beyond what a failing log keeps are lost, and the log says
    /// so (how many, when) once it takes lines again; the counters agree.
    #[test]
    fn lost_evidence_is_recorded_in_the_log() {
        if !std::path::Path::new("/dev/full").exists() {
            return;
        }
        let dir = std::env::temp_dir().join(format!("witness-sinks-loss-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("evidence.jsonl");
        let options = Options { read_host_files: false, evidence_all: true, ..Options::default() };
        let mut p = Pipeline::new(Config::new(Inventory::default(), None, 16), options, Clock::identity());
        let log = EvidenceLog::open(&path, Policy { retain_bytes: 1, ..Policy::default() }).unwrap();
        let mut sinks = Sinks::new(Some(log), None);
        let fork = |seq: u64| {
            let mut r = ForkRecord::new_zeroed();
            (r.task.pid, r.task.tgid) = (10, 10);
            Event {
                meta: Meta { cpu: 0, seq, ts_ns: 100 + seq },
                wire_kind: RecordKind::Fork as u16,
                body: Body::Fork(r),
            }
        };
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
        let file = sinks.evidence.as_mut().unwrap().replace_file(full);
        for seq in 0..4 {
            sinks.handle(&mut p, &fork(seq));
        }
        // Until a write fails, lines are buffered as usual: these four are
        // kept when it does.
        sinks.flush(&mut p);
        for seq in 4..7 {
            sinks.handle(&mut p, &fork(seq));
        }
        sinks.flush(&mut p);
        sinks.evidence.as_mut().unwrap().replace_file(file);
        sinks.flush(&mut p);
        sinks.sync(&mut p);
        let lines: Vec<serde_json::Value> =
            std::fs::read_to_string(&path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let kept: Vec<_> =
            lines.iter().filter(|l| l["record"] == "event").map(|l| l["seq"].as_u64().unwrap()).collect();
        let lost: Vec<_> = lines.iter().filter(|l| l["stream"] == "evidence_lost").collect();
        assert_eq!(lost.len(), 1, "{lines:?}");
        let lost_lines = lost[0]["lines"].as_u64().unwrap();
        assert_eq!(kept.len() as u64 + lost_lines, 7, "every line is written or counted lost: {lines:?}");
        assert_eq!(kept, [0, 1, 2, 3], "the lines kept while the disk was full are written after all");
        let times = (lost[0]["first_time_unix_ns"].as_str(), lost[0]["last_time_unix_ns"].as_str());
        assert_eq!(times, (Some("104"), Some("106")));
        assert!(lost[0]["error"].as_str().unwrap().contains("No space left"), "{:?}", lost[0]);
        assert_eq!(p.counters.evidence_errors, 3);
        assert_eq!(p.counters.evidence_lines, 4);
        assert!(p.counters.evidence_failures >= 2);
        std::fs::remove_dir_all(&dir).ok();
    }
}
