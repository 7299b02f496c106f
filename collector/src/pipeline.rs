//! The judging pipeline: every decoded record is enriched (process table,
//! cgroup path, executable digest), attributed to a workload identity,
//! checked against declared intent (divergence), judged by Cedar policy,
//! and counted; non-allow events become evidence.
//!
//! Order per event: judge with the state *before* the event (so an exec is
//! judged as the workload that chose to run the new binary, and a
//! credential change as the workload before it), then apply the event to
//! the process table.
//!
//! Lifecycle records (fork, exit) are counted with outcome `allow` and not
//! sent to Cedar; TCP state changes feed the handshake latency histogram;
//! packet-drop aggregates feed `witness_packet_drops_total`.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};

/// The hasher of the pipeline's tables: their keys are small numbers,
/// and SipHash showed in the profile.
type FastHash = foldhash::fast::RandomState;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use witness_abi::record::{NetAddr, RecordKind, SockRecord, EXIT_GROUP_DEAD, FILE_PATH_SECRET};

use crate::enrich::cgroup::{self, CgroupInfo};
use crate::enrich::cgroup_paths::CgroupPaths;
use crate::enrich::digests::Digests;
use crate::enrich::drop_reasons::DropReasons;
use crate::enrich::peers::{Bound, Listeners};
use crate::enrich::pods::Pods;
use crate::enrich::process_table::{ImageKey, ProcessTable};
use crate::evidence::{
    Ancestor, Body as LineBody, Checkpoint, CpuCounters, Identity, Judgement, KernelCounters, Line, Origin, Placement,
    Process, Stream,
};
use crate::identity::{Inventory, Subject, Workload};
use crate::internal::{self, InternalEvent, Telemetry};
use crate::policy::{Divergence, Facts, Judge, Outcome, Policies, Principal, Question, Resource};
use crate::sinks::metrics::{Counters, Snapshot};
use crate::sinks::output::Clock;
use crate::source::decode::{nul_terminated, Body, Event};
use crate::source::sequence::{Observation, SequenceTracker};

/// What the pipeline judges with; replaced as a whole on reload.
#[derive(Debug)]
pub struct Config {
    /// Declared workloads.
    pub inventory: Arc<Inventory>,
    /// Policies and their decision cache.
    pub judge: Judge,
    /// A candidate policy set judged beside the active one
    /// (`--shadow-policy`): its outcomes are recorded, never acted on.
    pub shadow: Option<Judge>,
    principals: Vec<Principal>,
    identities: Arc<Vec<String>>,
    needs_digest: bool,
    origin: Origin,
}

impl Config {
    /// A configuration from an inventory and optional policies.
    pub fn new(inventory: Inventory, policies: Option<Policies>, cache_entries: usize) -> Self {
        let mut principals: Vec<Principal> = inventory
            .workloads()
            .iter()
            .map(|w| Principal {
                spiffe_id: w.spiffe_id.as_str().to_string(),
                owner: w.owner.clone(),
                trust_domain: w.spiffe_id.trust_domain().to_string(),
                attested: true,
            })
            .collect();
        principals.push(Principal::unattested());
        let identities = Arc::new(principals.iter().map(|p| p.spiffe_id.clone()).collect());
        let needs_digest = inventory.needs_digest();
        let origin =
            Origin::here(inventory.digest().map(str::to_string), policies.as_ref().map(|p| p.digest().to_string()));
        let inventory = Arc::new(inventory);
        let judge = Judge::new(policies, cache_entries);
        Self { inventory, judge, shadow: None, principals, identities, needs_digest, origin }
    }

    /// Judges with `policies` beside the active set from now on (None:
    /// no shadow set). Evidence lines name its digest.
    pub fn set_shadow(&mut self, policies: Option<Policies>, cache_entries: usize) {
        self.origin.shadow = policies.as_ref().map(|p| p.digest().to_string());
        self.shadow = policies.map(|p| Judge::new(Some(p), cache_entries));
    }

    /// Keeps `old`'s shadow set (a reload whose shadow set was refused).
    pub fn keep_shadow(&mut self, old: &mut Config) {
        self.origin.shadow = old.origin.shadow.take();
        self.shadow = old.shadow.take();
    }

    /// Where its evidence comes from (host, configuration digests).
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// Identity label values by index (`unattested` last).
    pub fn identities(&self) -> &Arc<Vec<String>> {
        &self.identities
    }

    /// Index of `unattested`.
    pub fn unattested(&self) -> u32 {
        u32::try_from(self.inventory.workloads().len()).unwrap_or(u32::MAX - 1)
    }

    /// The declared workload of identity index `identity` (None:
    /// unattested or overflow).
    pub fn workload(&self, identity: u32) -> Option<&Workload> {
        self.inventory.workloads().get(identity as usize)
    }
}

/// Limits.
#[derive(Clone, Debug)]
pub struct Options {
    /// Most processes tracked.
    pub max_processes: usize,
    /// Most executable digests cached.
    pub max_digests: usize,
    /// Series budget for `witness_events_total`.
    pub series_budget: usize,
    /// Write allow events to the evidence log too.
    pub evidence_all: bool,
    /// Read this host's /proc and executables (for digests). True for the
    /// live daemon; false when replaying a capture made elsewhere.
    pub read_host_files: bool,
    /// Keep the deciding policies of every judged event, not only of
    /// evidence (`witness replay` prints them for every event).
    pub keep_policies: bool,
    /// The cgroup v2 hierarchy, where cgroup ids are resolved to paths
    /// (None: not resolved, as for a capture made on another host, whose
    /// ids name that host's cgroups).
    pub cgroup_root: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_processes: 1 << 17,
            max_digests: 1 << 14,
            series_budget: 10_000,
            evidence_all: false,
            read_host_files: true,
            keep_policies: false,
            cgroup_root: Some(PathBuf::from("/sys/fs/cgroup")),
        }
    }
}

/// The judgement of one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Judged {
    /// Identity index (see [`Pipeline::identity_name`]).
    pub identity: u32,
    /// Final outcome (policy, raised by divergence).
    pub outcome: Outcome,
    /// Divergence found.
    pub divergence: Divergence,
    /// The kernel's verdict (0 allowed, else -errno).
    pub kernel_verdict: i32,
    /// Deciding policies: kept for events that become evidence, and for
    /// every event when [`Options::keep_policies`] is set; None otherwise.
    pub policies: Option<Arc<[String]>>,
    /// The event touched a credential: a declared secret (the index of the
    /// workload declaring it; `u32::MAX` for a file only the kernel's
    /// secret filter named) or a keyring (`u32::MAX`). Such events are
    /// always evidence: who holds an identity's credentials
    /// (`witness possession`) is answered from them.
    pub credential: Option<u32>,
    /// For a connect: the identity index of the workload serving the
    /// address connected to, when a listener of a declared workload is
    /// known.
    pub peer: Option<u32>,
    /// The shadow set's outcome and deciding policies, when it differs
    /// from `outcome` (such events are evidence).
    pub shadow: Option<(Outcome, Arc<[String]>)>,
}

/// Bytes as text, invalid UTF-8 replaced: `String::from_utf8_lossy`, but
/// valid input (nearly all) checked by `str::from_utf8`, whose ASCII fast
/// path the lossy scan lacks.
fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// The address of a socket record's `NetAddr`, for IPv4 and IPv6.
pub fn ip_of(family: u16, a: &NetAddr) -> Option<IpAddr> {
    match family {
        2 => Some(IpAddr::V4(Ipv4Addr::new(a.addr[0], a.addr[1], a.addr[2], a.addr[3]))),
        10 => Some(IpAddr::V6(Ipv6Addr::from(a.addr))),
        _ => None,
    }
}

/// The pipeline.
#[derive(Debug)]
pub struct Pipeline {
    config: Config,
    generation: u64,
    options: Options,
    table: ProcessTable,
    cgroups: Option<CgroupPaths>,
    digests: Digests,
    /// tgid → (generation, cgroup id, identity).
    attribution: HashMap<u32, (u64, u64, u32), FastHash>,
    /// The listeners seen, which resolve a connect to the workload it
    /// reaches.
    listeners: Listeners,
    /// Recent outgoing connects: (remote, port, identity).
    connects: VecDeque<(IpAddr, u16, u32)>,
    /// Handshakes in progress: sock id → (SYN_SENT time, identity).
    handshakes: HashMap<u64, (u64, u32), FastHash>,
    tracker: SequenceTracker,
    /// Everything counted.
    pub counters: Counters,
    clock: Clock,
    proc_root: PathBuf,
    /// The secret files of the inventory by (device, inode) → owner index,
    /// so that another path to one (`/proc/PID/root/...`, a bind mount, a
    /// hard link) is still that secret. Live collection only.
    secret_inodes: HashMap<(u64, u64), u32, FastHash>,
    secrets_resolved: Option<Instant>,
    /// Names of the packet drop reasons (the running kernel's, when live).
    drop_reasons: DropReasons,
    /// What each cgroup's path says (container, pod, unit), for evidence;
    /// filled where attribution reads the path.
    placements: HashMap<u64, CgroupInfo, FastHash>,
    /// Stream records not yet given to the sinks.
    stream: Vec<(Stream, i128)>,
    /// Pod metadata from the container runtime (live collection with
    /// `cri_endpoint`).
    pods: Option<Pods>,
}

/// Most secret files resolved to inodes.
const MAX_SECRET_FILES: usize = 10_000;

/// Most cgroups whose placement is kept for evidence.
const MAX_PLACEMENTS: usize = 16_384;

/// `CAP_OPT_INSETID` (include/linux/security.h): a capability check made by
/// a setuid/setgid-family system call.
const CAP_OPT_INSETID: u32 = 1 << 2;

/// Most handshakes tracked at once.
const MAX_HANDSHAKES: usize = 65_536;
/// Most recent connects remembered for handshake attribution.
const MAX_CONNECTS: usize = 1024;

impl Pipeline {
    /// A pipeline judging with `config`; Unix times from `clock`.
    pub fn new(config: Config, options: Options, clock: Clock) -> Self {
        Self {
            config,
            generation: 0,
            table: ProcessTable::new(options.max_processes),
            cgroups: options.cgroup_root.clone().map(|root| CgroupPaths::new(root, options.max_processes)),
            digests: Digests::new(options.max_digests),
            attribution: HashMap::default(),
            listeners: Listeners::default(),
            connects: VecDeque::new(),
            handshakes: HashMap::default(),
            tracker: SequenceTracker::default(),
            counters: Counters::new(options.series_budget),
            options,
            clock,
            proc_root: PathBuf::from("/proc"),
            secret_inodes: HashMap::default(),
            secrets_resolved: None,
            drop_reasons: DropReasons::default(),
            placements: HashMap::default(),
            stream: Vec::new(),
            pods: None,
        }
    }

    /// Logs, counts and records an event of the collector itself (see
    /// [`crate::internal`]).
    pub fn emit(&mut self, event: impl InternalEvent) {
        event.emit(&mut Telemetry { counters: &mut self.counters, stream: &mut self.stream });
    }

    /// Asks `pods` for the pods of containers (live collection).
    pub fn set_pods(&mut self, pods: Pods) {
        self.pods = Some(pods);
    }

    /// Takes the container runtime's answers; the processes of each
    /// container whose pod became known are attributed again on their next
    /// event (until then, and before, by what their cgroup says).
    fn poll_pods(&mut self) {
        let Some(pods) = self.pods.as_mut() else { return };
        let resolved = pods.poll();
        if resolved.is_empty() {
            return;
        }
        let cgroups: std::collections::HashSet<u64> = self
            .placements
            .iter()
            .filter(|(_, info)| info.container_id.as_ref().is_some_and(|id| resolved.contains(id)))
            .map(|(cg, _)| *cg)
            .collect();
        self.attribution.retain(|_, (_, cg, _)| !cgroups.contains(cg));
        self.counters.pods_resolved += resolved.len() as u64;
    }

    /// The stream records since the last call, oldest first.
    pub fn take_stream(&mut self) -> Vec<(Stream, i128)> {
        std::mem::take(&mut self.stream)
    }

    /// Whether stream records wait for the sinks.
    pub fn has_stream(&self) -> bool {
        !self.stream.is_empty()
    }

    /// Names packet drop reasons by `names` (the running kernel's table,
    /// for live collection; a capture's reasons stay numbers).
    pub fn set_drop_reasons(&mut self, names: DropReasons) {
        self.drop_reasons = names;
    }

    /// Resolves the inventory's secret globs to the files they name now
    /// (live collection only: a replay's files are not this host's), if
    /// that was last done `age` ago or more. Keys are rotated by writing a
    /// new file, a new inode, so `witness run` calls this periodically.
    pub fn resolve_secrets_if_older(&mut self, age: Duration) {
        use std::os::unix::fs::MetadataExt;
        if !self.options.read_host_files || self.secrets_resolved.is_some_and(|t| t.elapsed() < age) {
            return;
        }
        self.secrets_resolved = Some(Instant::now());
        self.secret_inodes.clear();
        for (path, owner) in self.config.inventory.secret_files(MAX_SECRET_FILES) {
            if let Ok(m) = std::fs::metadata(&path) {
                self.secret_inodes.entry((m.dev(), m.ino())).or_insert(owner);
            }
        }
    }

    /// Seeds the process table from `/proc` (live collection only; a
    /// replay must not mix the host's processes with the capture's).
    pub fn seed_processes(&mut self) -> usize {
        let n = self.table.seed_from_proc(&self.proc_root.clone());
        self.counters.processes = self.table.len() as u64;
        n
    }

    /// Records that `at` is served by the process `tgid` (from sock_diag
    /// at start).
    pub fn seed_listener(&mut self, at: Bound, tgid: u32) {
        let identity = self.identity_of(tgid, None);
        let proc_root = self.options.read_host_files.then_some(self.proc_root.as_path());
        self.listeners.insert(at, identity, tgid, proc_root);
    }

    /// Replaces the configuration (SIGHUP); cached attributions are dropped.
    pub fn reload(&mut self, config: Config) {
        let old = std::mem::replace(&mut self.config, config);
        self.generation += 1;
        self.attribution.clear();
        if self.secrets_resolved.is_some() {
            self.secrets_resolved = None;
            self.resolve_secrets_if_older(Duration::ZERO);
        }
        // Known listeners and recent connects keep their workload: its index
        // in the old configuration becomes its index in the new one, and
        // those whose SPIFFE ID the new inventory no longer has are dropped.
        let by_name: HashMap<&str, u32> = self
            .config
            .identities
            .iter()
            .enumerate()
            // CAST: identities are inventory entries, far fewer than 2^32.
            .map(|(i, name)| (name.as_str(), i as u32))
            .collect();
        let remap = |id: u32| old.identities.get(id as usize).and_then(|name| by_name.get(name.as_str()).copied());
        self.listeners.remap(remap);
        self.connects.retain_mut(|(_, _, id)| remap(*id).map(|new| *id = new).is_some());
        self.emit(internal::ConfigChanged);
    }

    /// Moves the running shadow set into `config` (a reload whose shadow
    /// set was refused).
    pub fn keep_shadow_in(&mut self, config: &mut Config) {
        config.keep_shadow(&mut self.config);
    }

    /// The options it runs with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The label value of an identity index.
    pub fn identity_name(&self, identity: u32) -> &str {
        self.config.identities.get(identity as usize).map_or("_overflow", String::as_str)
    }

    /// A copy of the counters for readers.
    pub fn snapshot(&mut self) -> Snapshot {
        let s = &self.config.judge.stats;
        self.counters.cache_hits = s.hits;
        self.counters.cache_misses = s.misses;
        self.counters.policy_errors = s.errors;
        self.counters.processes = self.table.len() as u64;
        Snapshot::new(self.counters.clone(), self.config.identities.clone())
    }

    /// Measures the boot-to-Unix offset again (live sources, every second):
    /// after a clock step (NTP, an operator) Unix times follow the new
    /// clock instead of keeping the offset taken at start.
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// Names the host the events come from in evidence (a capture's, when
    /// replaying one made elsewhere).
    pub fn set_host(&mut self, host: String) {
        self.config.origin.host = host;
    }

    /// Starts reading another source (the next capture of a replay):
    /// sequence numbers start afresh and times come from `clock`.
    pub fn next_source(&mut self, clock: Clock) {
        self.tracker.reset();
        self.clock = clock;
    }

    /// The module went away (`error` is what the device said): per-CPU
    /// sequence positions are forgotten, since a new module starts afresh.
    pub fn module_gone(&mut self, error: String) {
        self.tracker.reset();
        self.emit(internal::ModuleGone { error });
    }

    /// Records lost so far.
    pub fn lost(&self) -> u64 {
        self.tracker.lost()
    }

    /// Digest of a process's executable, if wanted and computable.
    fn digest_of(&mut self, tgid: u32) -> Option<[u8; 32]> {
        if !self.options.read_host_files {
            return None;
        }
        let image = self.table.get(tgid)?.image?;
        let mut candidates = vec![self.proc_root.join(tgid.to_string()).join("exe")];
        if let Some(exe) = self.table.get(tgid).and_then(|e| e.exe.clone()) {
            candidates.push(PathBuf::from(&*exe));
        }
        self.digests.get(image, &candidates)
    }

    /// The identity of process `tgid` (cached until it execs, changes
    /// credentials or cgroup, or the configuration is reloaded).
    fn identity_of(&mut self, tgid: u32, task: Option<&witness_abi::record::TaskContext>) -> u32 {
        let cgroup_id = task.map_or(0, |t| t.cgroup_id);
        if let Some(&(generation, cg, identity)) = self.attribution.get(&tgid) {
            if generation == self.generation && (cg == cgroup_id || cgroup_id == 0) {
                return identity;
            }
        }
        let entry = self.table.get(tgid).cloned();
        let cgroup_id = if cgroup_id == 0 { entry.as_ref().map_or(0, |e| e.cgroup_id) } else { cgroup_id };
        let cgroup_path = self.cgroups.as_mut().and_then(|c| c.path(cgroup_id));
        let info: CgroupInfo = cgroup_path.as_deref().map(cgroup::parse).unwrap_or_default();
        if cgroup_path.is_some() && !self.placements.contains_key(&cgroup_id) {
            if self.placements.len() >= MAX_PLACEMENTS {
                self.placements.clear();
            }
            self.placements.insert(cgroup_id, info.clone());
        }
        let sha256 = if self.config.needs_digest { self.digest_of(tgid) } else { None };
        let pod = info.container_id.as_deref().and_then(|id| self.pods.as_mut()?.get(id));
        let (uid, gid) = match (task, &entry) {
            (Some(t), _) => (Some(t.uid), Some(t.gid)),
            (None, Some(e)) => (Some(e.uid), Some(e.gid)),
            (None, None) => (None, None),
        };
        let subject = Subject {
            uid,
            gid,
            exe: entry.as_ref().and_then(|e| e.exe.as_deref()),
            sha256,
            cgroup: cgroup_path.as_deref(),
            container_id: info.container_id.as_deref(),
            k8s_pod_uid: info.pod_uid.as_deref().or(pod.as_deref().map(|p| p.uid.as_str())),
            pod: pod.as_deref(),
        };
        let identity = self
            .config
            .inventory
            .attribute_index(&subject)
            .map_or(self.config.unattested(), |i| u32::try_from(i).unwrap_or(u32::MAX - 1));
        if self.attribution.len() >= self.options.max_processes {
            self.attribution.clear();
        }
        self.attribution.insert(tgid, (self.generation, cgroup_id, identity));
        identity
    }

    /// Checks per-CPU sequence numbers of a batch in arrival order (each
    /// ring's records arrive in sequence order; sorting by time can swap two
    /// records when an interrupt's record took its timestamp later but its
    /// slot earlier). Gaps are lost records, counted per CPU; returns how
    /// many this batch showed.
    pub fn track(&mut self, events: &[Event]) -> u64 {
        self.poll_pods();
        let mut lost = 0;
        self.counters.records += events.len() as u64;
        for event in events {
            let m = event.meta;
            match self.tracker.observe(m.cpu, m.seq, m.ts_ns) {
                Observation::Gap { missing, previous_ts_ns } => {
                    lost += missing;
                    let (first_seq, last_seq) = (m.seq - missing, m.seq - 1);
                    let time_unix_ns = self.clock.unix_ns(m.ts_ns);
                    let previous_unix_ns = self.clock.unix_ns(previous_ts_ns);
                    self.emit(internal::SequenceGap {
                        cpu: m.cpu,
                        first_seq,
                        last_seq,
                        previous_unix_ns,
                        time_unix_ns,
                    });
                }
                Observation::InOrder | Observation::Restart => {
                    // The CPU's series exists from its first record on.
                    self.counters.sequence_gaps.entry(m.cpu).or_default();
                }
            }
        }
        lost
    }

    /// Runs one event through the pipeline. Returns the judgement for
    /// events about a task (None for TCP state, packet drops, unknown).
    ///
    /// Sequence numbers are not checked here: call [`Pipeline::track`] on
    /// each batch in the order the device returned it, before any sorting.
    pub fn process(&mut self, event: &Event) -> Option<Judged> {
        let m = event.meta;
        let judged = match &event.body {
            Body::TcpState(t) => {
                self.tcp_state(t.sock_id, t.old_state, t.new_state, t.family, &t.remote, m.ts_ns);
                None
            }
            Body::PacketDrops { entries, .. } => {
                for d in entries {
                    *self.counters.packet_drops.entry(self.drop_reasons.label(d.reason)).or_default() +=
                        u64::from(d.count);
                }
                None
            }
            Body::Unknown => None,
            _ => self.judge(event),
        };
        self.table.observe(event);
        if let Some(task) = event.task() {
            match &event.body {
                Body::Exec { .. } | Body::Cred(_) => {
                    self.attribution.remove(&task.tgid);
                }
                Body::Exit(x) if x.flags & EXIT_GROUP_DEAD != 0 => {
                    self.attribution.remove(&task.tgid);
                }
                _ => {}
            }
        }
        judged
    }

    fn tcp_state(&mut self, sock: u64, old: u8, new: u8, family: u16, remote: &NetAddr, ts: u64) {
        const ESTABLISHED: u8 = 1;
        const SYN_SENT: u8 = 2;
        const CLOSE: u8 = 7;
        if old == CLOSE && new == SYN_SENT {
            // Attribute to the latest connect to the same peer.
            let ip = ip_of(family, remote);
            let who = self
                .connects
                .iter()
                .rev()
                .find(|(a, p, _)| Some(*a) == ip && *p == remote.port)
                .map_or(self.config.unattested(), |c| c.2);
            if self.handshakes.len() >= MAX_HANDSHAKES {
                self.handshakes.clear();
            }
            self.handshakes.insert(sock, (ts, who));
        } else if old == SYN_SENT {
            if let Some((start, who)) = self.handshakes.remove(&sock) {
                if new == ESTABLISHED && ts >= start {
                    #[allow(clippy::cast_precision_loss)]
                    self.counters.handshake(who, (ts - start) as f64 / 1e9);
                }
            }
        }
    }

    fn judge(&mut self, event: &Event) -> Option<Judged> {
        let task = *event.task()?;
        let kind = event.kind()?;
        let identity = self.identity_of(task.tgid, Some(&task));
        // Borrowed field by field: the workload from the configuration
        // while the tables beside it change.
        let inventory = &self.config.inventory;
        let workload = inventory.workloads().get(identity as usize);
        let mut divergence = Divergence::None;
        let mut verdict = 0;
        let mut credential = None;
        let mut peer = None;
        let mut shadow = None;
        let resource = match &event.body {
            Body::Fork(_) | Body::Exit(_) => None,
            Body::Exec { rec, path, .. } => {
                let path = lossy(path);
                let key = ImageKey::from_kernel(rec.dev, rec.ino, rec.mtime_sec);
                let digest = self.options.read_host_files.then(|| {
                    let candidates = [self.proc_root.join(task.tgid.to_string()).join("exe"), PathBuf::from(&*path)];
                    self.digests.get(key, &candidates)
                });
                let digest = digest.flatten();
                let declared = workload.is_none_or(|w| w.declares_binary(&path, digest.as_ref()));
                if !declared {
                    divergence = Divergence::UnexpectedBinary;
                }
                let sha256 = digest.as_ref().map_or(Cow::Borrowed(""), |d| Cow::Owned(crate::text::hex(d)));
                Some(Resource::Binary { path, sha256, declared })
            }
            Body::BprmCheck { rec, path } => {
                verdict = rec.verdict;
                Some(Resource::Binary { path: lossy(path), sha256: Cow::Borrowed(""), declared: true })
            }
            Body::File { rec, path, path2 } => {
                verdict = rec.verdict;
                let path = lossy(path);
                // A secret by its path, by its file under another path
                // (device and inode; a create has no inode yet), or, for a
                // rename, by the path it is renamed to.
                let by_inode =
                    || self.secret_inodes.get(&(u64::from(rec.dev), rec.ino)).filter(|_| rec.ino != 0).copied();
                let renamed_to =
                    || (kind == RecordKind::FileRename).then(|| inventory.secret_owner_index(&lossy(path2))).flatten();
                let index = inventory.secret_owner_index(&path).or_else(by_inode).or_else(renamed_to);
                let owner = index.and_then(|i| inventory.workloads().get(i as usize)).map(|w| w.spiffe_id.as_str());
                // Opening, creating, unlinking or renaming another
                // workload's secret.
                if owner.is_some_and(|o| Some(o) != workload.map(|w| w.spiffe_id.as_str())) {
                    divergence = Divergence::ForeignSecret;
                }
                let secret = owner.is_some() || (rec.path_flags | rec.path2_flags) & FILE_PATH_SECRET != 0;
                if secret {
                    credential = Some(index.unwrap_or(u32::MAX));
                }
                Some(Resource::File { path, secret_owner: Cow::Borrowed(owner.unwrap_or("")), secret })
            }
            Body::Sock(r) => {
                verdict = r.verdict;
                let proc_root = self.options.read_host_files.then_some(self.proc_root.as_path());
                let tables = PeerTables { listeners: &mut self.listeners, connects: &mut self.connects, proc_root };
                let (names, unattested) = (&self.config.identities[..], self.config.unattested());
                sock(tables, names, unattested, kind, r, identity, workload, (&mut divergence, &mut peer))
            }
            Body::Cred(c) => Some(Resource::Credential {
                uid: c.new_uid,
                euid: c.new_euid,
                gid: c.new_gid,
                egid: c.new_egid,
                caps_gained: c.new_cap_effective & !c.old_cap_effective != 0,
            }),
            Body::Cap(c) => {
                verdict = c.verdict;
                Some(Resource::Capability { number: c.cap, in_setid: c.opts & CAP_OPT_INSETID != 0 })
            }
            Body::Ns(n) => Some(Resource::Namespace { changed: n.changed }),
            Body::Module(x) => {
                verdict = x.verdict;
                Some(Resource::Module { name: lossy(nul_terminated(&x.name)) })
            }
            Body::Bpf(b) => {
                verdict = b.verdict;
                Some(Resource::Program { name: lossy(nul_terminated(&b.name)), prog_type: b.prog_type })
            }
            Body::Ptrace(p) => {
                verdict = p.verdict;
                Some(Resource::Process { tgid: p.target_tgid, uid: p.target_uid })
            }
            Body::Key { rec, key_type, description } => {
                verdict = rec.verdict;
                credential = Some(u32::MAX);
                Some(Resource::Key { key_type: lossy(key_type), description: lossy(description) })
            }
            Body::TcpState(_) | Body::PacketDrops { .. } | Body::Unknown => return None,
        };
        // The deciding policies are copied out (an atomic count) only for
        // events that become evidence, or when the caller asked for all.
        let keep = |outcome: Outcome| {
            outcome != Outcome::Allow || credential.is_some() || self.options.evidence_all || self.options.keep_policies
        };
        let raise =
            |outcome: Outcome| if divergence == Divergence::None { outcome } else { outcome.max(Outcome::Investigate) };
        let (outcome, policies) = match resource {
            None => {
                let outcome = raise(Outcome::Allow);
                (outcome, keep(outcome).then(|| self.config.judge.allow().policies.clone()))
            }
            Some(resource) => {
                let exe = self.table.get(task.tgid).and_then(|e| e.exe.as_deref()).unwrap_or("");
                let question = Question {
                    principal_index: identity,
                    action: kind,
                    resource,
                    facts: Facts {
                        kernel_verdict: verdict,
                        divergence,
                        uid: task.uid,
                        euid: task.euid,
                        gid: task.gid,
                        exe: Cow::Borrowed(exe),
                    },
                };
                let principal = &self.config.principals[(identity as usize).min(self.config.principals.len() - 1)];
                let before = self.config.judge.stats.eval_ns;
                let misses = self.config.judge.stats.misses;
                let answer = self.config.judge.judge(principal, &question);
                let outcome = raise(answer.outcome);
                let policies = keep(outcome).then(|| answer.policies.clone());
                if let Some(candidate) = &mut self.config.shadow {
                    let answer = candidate.judge(principal, &question);
                    let would = raise(answer.outcome);
                    self.counters.shadow(identity, event.wire_kind, would);
                    if would != outcome {
                        shadow = Some((would, answer.policies.clone()));
                    }
                }
                if self.config.judge.stats.misses != misses {
                    #[allow(clippy::cast_precision_loss)]
                    let s = (self.config.judge.stats.eval_ns - before) as f64 / 1e9;
                    self.counters.eval.observe(&crate::sinks::metrics::EVAL_BUCKETS, s);
                }
                (outcome, policies)
            }
        };
        self.counters.event(identity, event.wire_kind, outcome);
        if verdict != 0 {
            self.counters.kernel_denial(identity, event.wire_kind);
        }
        if divergence != Divergence::None {
            self.counters.divergence(identity, divergence);
        }
        Some(Judged { identity, outcome, divergence, kernel_verdict: verdict, policies, credential, peer, shadow })
    }

    /// Whether a judged event goes to the evidence sinks.
    pub fn is_evidence(&self, judged: &Judged) -> bool {
        self.options.evidence_all
            || judged.outcome != Outcome::Allow
            || judged.credential.is_some()
            || judged.shadow.is_some()
    }

    /// The evidence line of a judged event: the record, the workload,
    /// where it runs, the judgement, the process and its ancestry.
    pub fn evidence<'a>(&'a self, event: &'a Event, judged: &'a Judged) -> Line<'a> {
        let workload = self.config.workload(judged.identity);
        let identity = Identity {
            spiffe_id: workload.map(|w| w.spiffe_id.as_str()),
            owner: workload.map(|w| w.owner.as_str()),
            attested: workload.is_some(),
        };
        let task = event.task();
        let cgroup_id = task.map(|t| t.cgroup_id).filter(|&id| id != 0).or_else(|| {
            let tgid = task?.tgid;
            self.table.get(tgid).map(|e| e.cgroup_id)
        });
        let info = cgroup_id.and_then(|id| self.placements.get(&id));
        let placement = Placement {
            cgroup: cgroup_id.and_then(|id| self.cgroups.as_ref()?.get(id)).map(|p| &**p),
            container_id: info.and_then(|i| i.container_id.as_deref()),
            container_runtime: info.and_then(|i| i.runtime),
            pod_uid: info.and_then(|i| i.pod_uid.as_deref()),
            systemd_unit: info.and_then(|i| i.systemd_unit.as_deref()),
            pod: info.and_then(|i| self.pods.as_ref()?.known(i.container_id.as_deref()?)),
        };
        let process = task.map(|t| {
            let chain = self.table.ancestry(t.tgid);
            let ancestors =
                chain.iter().skip(1).take(8).map(|e| Ancestor { pid: e.tgid, comm: &e.comm, exe: e.exe.as_deref() });
            Process { exe: self.table.get(t.tgid).and_then(|e| e.exe.as_deref()), ancestors: ancestors.collect() }
        });
        let judgement = Judgement {
            event,
            time_unix_ns: self.clock.unix_ns(event.meta().ts_ns),
            identity,
            placement,
            outcome: judged.outcome,
            kernel_verdict: judged.kernel_verdict,
            divergence: judged.divergence,
            policies: judged.policies.as_deref().unwrap_or(&[]),
            process,
            secret_of: judged
                .credential
                .and_then(|i| self.config.inventory.workloads().get(i as usize))
                .map(|w| w.spiffe_id.as_str()),
            peer: judged.peer.and_then(|i| self.config.workload(i)).map(|w| w.spiffe_id.as_str()),
            shadow: judged.shadow.as_ref().map(|(outcome, policies)| (*outcome, &policies[..])),
            sha256: match &event.body {
                Body::Exec { rec, .. } => self
                    .digests
                    .cached(ImageKey::from_kernel(rec.dev, rec.ino, rec.mtime_sec))
                    .map(|d| crate::text::hex(&d)),
                _ => None,
            },
        };
        Line { origin: &self.config.origin, body: LineBody::Event(judgement) }
    }

    /// A stream record as an evidence line.
    pub fn stream_line<'a>(&'a self, stream: &'a Stream, time_unix_ns: i128) -> Line<'a> {
        Line { origin: &self.config.origin, body: LineBody::Stream(stream, time_unix_ns) }
    }

    /// The line of a checkpoint.
    pub fn checkpoint_line<'a>(&'a self, checkpoint: &'a Checkpoint, time_unix_ns: i128) -> Line<'a> {
        Line { origin: &self.config.origin, body: LineBody::Checkpoint(checkpoint, time_unix_ns) }
    }

    /// What a checkpoint says now: records read and lost, and the kernel's
    /// counters as last read.
    pub fn checkpoint(&self) -> Checkpoint {
        let c = &self.counters;
        let kernel = (!c.rings.is_empty()).then(|| KernelCounters {
            cpus: c
                .rings
                .iter()
                .map(|(&cpu, r)| CpuCounters {
                    cpu,
                    produced: r.produced,
                    dropped_full: r.dropped_full,
                    dropped_nested: r.dropped_nested,
                })
                .collect(),
            hooks_dropped: c.hook_dropped.clone(),
            hooks_filtered: c.hook_filtered.clone(),
            kinds: c.kernel_kind_mask.map(crate::config::control::kind_names),
        });
        Checkpoint { records: c.records, lost: self.lost(), kernel }
    }
}

/// What the socket judgement updates: listening ports and recent
/// connects.
struct PeerTables<'a> {
    listeners: &'a mut Listeners,
    connects: &'a mut VecDeque<(IpAddr, u16, u32)>,
    /// Where processes' namespaces are read (None: a replay).
    proc_root: Option<&'a Path>,
}

/// The Cedar resource of a socket event; records listeners and connects,
/// and flags an undeclared peer.
#[allow(clippy::too_many_arguments)]
fn sock<'c>(
    tables: PeerTables<'_>,
    names: &'c [String],
    unattested: u32,
    kind: RecordKind,
    r: &SockRecord,
    identity: u32,
    workload: Option<&Workload>,
    (divergence, peer): (&mut Divergence, &mut Option<u32>),
) -> Option<Resource<'c>> {
    let (addr, port) = match kind {
        RecordKind::SockBind | RecordKind::SockListen => (&r.local, r.local.port),
        _ => (&r.remote, r.remote.port),
    };
    let ip = ip_of(r.family, addr)?;
    let tgid = r.task.tgid;
    if matches!(kind, RecordKind::SockListen | RecordKind::SockBind) && r.verdict == 0 && port != 0 {
        let at = Bound { sock_type: r.sock_type, addr: ip, port };
        tables.listeners.insert(at, identity, tgid, tables.proc_root);
    }
    let client_netns = || tables.proc_root.map_or(0, |root| crate::enrich::peers::netns_of(root, tgid));
    let peer_identity = (kind == RecordKind::SockConnect)
        .then(|| tables.listeners.resolve(r.sock_type, ip, port, client_netns))
        .flatten()
        .filter(|i| *i != unattested);
    *peer = peer_identity;
    // CAST: u32 to usize widens.
    let peer_id = peer_identity.and_then(|i| names.get(i as usize)).map_or("", String::as_str);
    let declared = match workload {
        Some(w) if kind == RecordKind::SockConnect && !w.peers.is_empty() => w.peers.iter().any(|p| match p {
            crate::identity::inventory::Peer::Spiffe(id) => id.as_str() == peer_id,
            net => net.matches_addr(ip, port),
        }),
        _ => true,
    };
    if kind == RecordKind::SockConnect {
        if !declared {
            *divergence = Divergence::UndeclaredPeer;
        }
        if tables.connects.len() >= MAX_CONNECTS {
            tables.connects.pop_front();
        }
        tables.connects.push_back((ip, port, identity));
    }
    Some(Resource::Peer { ip, port, spiffe_id: Cow::Borrowed(peer_id), declared })
}

/// Why a configuration could not be loaded (each names its file and line).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The inventory.
    #[error(transparent)]
    Inventory(#[from] crate::identity::inventory::InventoryError),
    /// The policies.
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),
}

/// Loads an inventory and policies into a [`Config`]; used at start and on
/// SIGHUP. Errors name file and line.
pub fn load_config(
    inventory: Option<&Path>,
    policies: &[PathBuf],
    cache_entries: usize,
) -> Result<Config, ConfigError> {
    let inventory = match inventory {
        Some(p) => Inventory::load(p)?,
        None => Inventory::default(),
    };
    let policies = if policies.is_empty() { None } else { Some(Policies::load(policies)?) };
    if let Some(p) = &policies {
        for warning in unknown_workloads(&inventory, p) {
            tracing::warn!("{warning}");
        }
    }
    Ok(Config::new(inventory, policies, cache_entries))
}

/// Policies that name a `Workload::"..."` no inventory entry declares
/// (a typo, or an entry since removed): such a condition never holds.
pub fn unknown_workloads(inventory: &Inventory, policies: &Policies) -> Vec<String> {
    let declared: std::collections::HashSet<&str> =
        inventory.workloads().iter().map(|w| w.spiffe_id.as_str()).collect();
    policies
        .workload_literals()
        .into_iter()
        .filter(|(_, id)| !declared.contains(id.as_str()))
        .map(|(policy, id)| {
            format!("policy {policy}: Workload::\"{id}\" is in no inventory entry, so it never matches")
        })
        .collect()
}
