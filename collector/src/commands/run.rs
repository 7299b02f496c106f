//! `witness run`, the daemon, and the sink plumbing it shares with
//! `witness replay`.
//!
//! Threads: one pipeline thread reads the device (`read` of whole records,
//! woken by `poll`), judges and writes evidence; a Tokio runtime serves
//! `/metrics`, runs the OTLP exporters and handles signals. The pipeline
//! publishes its counters a few times a second; readers never block it.
//!
//! Signals: SIGHUP reloads the inventory and policies, re-reading the
//! `--config` file first when there is one (its `inventory`, `policy` and
//! `cache_entries` apply; other changed keys are logged as needing a
//! restart). A bad reload keeps
//! the running configuration, logs why with file and line, and counts
//! `witness_config_reloads_total{result="rejected"}`); SIGINT and SIGTERM
//! stop after flushing the evidence log and the OTLP exporters.
//!
//! The module may be unloaded and loaded again under a running daemon: it
//! says so, counts `witness_module_unloads_total`, waits for the device and
//! continues; sequence tracking restarts with the new module.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::ops::ControlFlow;

use super::drive::{drive, Batches, Ended, Handler, Next};
use super::service::Service;
use witness::internal;
use witness::pipeline::{load_config, Config, Pipeline};
use witness::sinks::metrics::RingFigures;
use witness::sinks::otlp::Otlp;
use witness::sinks::Sinks;
use witness::source::decode::{self, Event};
use witness::source::device::{Device, DeviceError};
use witness::source::mapped::MappedRings;
use witness_abi::ioctl::Hook;

use super::{init_logging, parse_seconds, JudgeArgs};
use witness::source::device::DEFAULT_DEVICE;
use witness::source::SourceMode;

/// Options of `witness run`.
#[derive(Clone, Debug)]
pub(crate) struct RunOptions {
    /// The device.
    pub(crate) device: PathBuf,
    /// Inventory file.
    pub(crate) inventory: Option<PathBuf>,
    /// Policy files or directories.
    pub(crate) policies: Vec<PathBuf>,
    /// The evidence log and its checkpoints.
    pub(crate) judge: JudgeArgs,
    /// Metrics listen address (None: no endpoint).
    pub(crate) listen: Option<SocketAddr>,
    /// TLS for it, client certificates required.
    pub(crate) listen_tls: Option<witness::sinks::endpoint_tls::ListenTls>,
    /// Export over OTLP.
    pub(crate) otlp: bool,
    /// Pipeline limits.
    pub(crate) options: witness::pipeline::Options,
    /// Decision cache size.
    pub(crate) cache_entries: usize,
    /// Stop after this long (tests and demos).
    pub(crate) duration: Option<Duration>,
    /// How to read the rings.
    pub(crate) source: SourceMode,
    /// The container runtime's CRI socket, for pod metadata.
    pub(crate) cri_endpoint: Option<String>,
    /// The settings file, re-read on SIGHUP (None: no `--config`).
    pub(crate) settings_file: Option<witness::config::settings::SettingsFile>,
}

/// Runs the daemon until SIGINT/SIGTERM (or `duration`).
pub(crate) fn run(opts: RunOptions) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    // Before anything slow: a SIGHUP's default action is to end the
    // process, so one sent while the configuration loads (a reload right
    // after a restart) would kill the daemon. Registered now, it waits for
    // the handler below.
    let signals = {
        use tokio::signal::unix::{signal, SignalKind};
        let _in_runtime = runtime.enter();
        (signal(SignalKind::hangup())?, signal(SignalKind::terminate())?, signal(SignalKind::interrupt())?)
    };
    tracing::info!("loading the configuration");
    let config = opts.judge.config()?;
    let mut sinks = opts.judge.sinks()?;
    let shared = sinks.shared.clone();
    if opts.otlp {
        let protocol = witness::sinks::otlp::Protocol::from_env()?;
        let otlp = runtime.block_on(async { Otlp::new(protocol, &shared) })?;
        tracing::info!("exporting OTLP over {protocol:?}");
        sinks.otlp = Some(Arc::new(otlp));
    }
    if let Some(addr) = opts.listen {
        let tls = opts.listen_tls.as_ref().map(witness::sinks::endpoint_tls::ListenTls::server_config).transpose()?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(addr))
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr} for /metrics: {e}"))?;
        let at = listener.local_addr()?;
        let shared = shared.clone();
        let live = Arc::new(std::sync::Mutex::new(witness::evidence::drift::Live::default()));
        sinks.live_drift = Some(live.clone());
        if tls.is_some() {
            tracing::info!("serving /metrics and /drift on https://{at}/ (client certificates required)");
        } else {
            tracing::info!("serving /metrics on http://{at}/metrics");
            if !at.ip().is_loopback() {
                tracing::warn!(
                    "/drift answers 403 on {at}: it is served on loopback, or over TLS with client certificates"
                );
            }
        }
        runtime.spawn(async move {
            let served = match tls {
                Some(config) => witness::sinks::endpoint::serve_metrics_tls(listener, shared, Some(live), config).await,
                None => witness::sinks::endpoint::serve_metrics(listener, shared, Some(live)).await,
            };
            if let Err(e) = served {
                tracing::error!("metrics endpoint stopped: {e}");
            }
        });
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (reload_tx, reload_rx) = mpsc::channel::<Result<Reloaded, String>>();
    {
        let stop = stop.clone();
        let base = witness::config::settings::JudgeSources {
            inventory: opts.inventory.clone(),
            policy: opts.policies.clone(),
            shadow_policy: opts.judge.shadow_policy.clone(),
            cache_entries: opts.cache_entries,
        };
        let settings_file = opts.settings_file.clone();
        let (mut hup, mut term, mut int) = signals;
        runtime.spawn(async move {
            loop {
                tokio::select! {
                    _ = hup.recv() => {
                        let sources = match &settings_file {
                            None => Ok(base.clone()),
                            Some(file) => file.reread().map_err(anyhow::Error::from).map(|(now, restart)| {
                                if !restart.is_empty() {
                                    tracing::warn!(
                                        "{}: {} changed; that takes effect when witness run restarts",
                                        file.path.display(),
                                        restart.join(", ")
                                    );
                                }
                                now
                            }),
                        };
                        let loaded = sources.and_then(|s| Ok(Reloaded::load(&s)?)).map_err(|e| format!("{e:#}"));
                        if reload_tx.send(loaded).is_err() { return; }
                    }
                    _ = term.recv() => { stop.store(true, Ordering::SeqCst); return; }
                    _ = int.recv() => { stop.store(true, Ordering::SeqCst); return; }
                }
            }
        });
    }
    let mut pipeline = Pipeline::new(config, opts.options.clone(), witness::sinks::output::Clock::now());
    pipeline.resolve_secrets_if_older(Duration::ZERO);
    let reasons = witness::enrich::drop_reasons::DropReasons::from_tracefs();
    if reasons.is_empty() {
        tracing::warn!(
            "cannot read the kernel's packet drop reason names (is tracefs mounted?): drops are labelled by number"
        );
    }
    pipeline.set_drop_reasons(reasons);
    if let Some(uri) = &opts.cri_endpoint {
        pipeline.set_pods(witness::enrich::pods::Pods::start(uri)?);
    }
    let seeded = pipeline.seed_processes();
    let listeners = witness::enrich::sockdiag::owned_listeners();
    let listeners = listeners.into_iter().map(|(at, pid)| pipeline.seed_listener(at, pid)).count();
    tracing::info!("seeded {seeded} processes and {listeners} listening sockets");
    sinks.started(&mut pipeline, "run");
    let mut service = Service::from_env();
    let result = drain(&opts, &mut pipeline, &mut sinks, &mut service, &stop, &reload_rx);
    service.stopping();
    let lost = pipeline.lost();
    sinks.emit(&mut pipeline, internal::Stopped { lost });
    sinks.sync(&mut pipeline);
    sinks.publish(&mut pipeline, true);
    if let Some(otlp) = &sinks.otlp {
        let otlp = otlp.clone();
        runtime.block_on(async move { tokio::task::spawn_blocking(move || otlp.shutdown()).await.ok() });
    }
    // Written whatever became of stderr: eprint! panics when it fails.
    let mut stderr = std::io::stderr();
    let _ = write!(stderr, "{}", sinks.verdict_table());
    let _ = if pipeline.counters.device_opens == 0 {
        // Nothing was read, so nothing can be said about losses.
        writeln!(
            stderr,
            "witness: {} was never read: no records (is the witness module loaded?)",
            opts.device.display()
        )
    } else {
        writeln!(stderr, "witness: {} records lost (sequence gaps)", pipeline.lost())
    };
    runtime.shutdown_timeout(Duration::from_secs(2));
    result
}

/// How often `witness run` resolves the secret globs to files again.
pub(crate) const SECRETS_MAX_AGE: Duration = Duration::from_secs(10);

/// The longest an evidence line waits for `fdatasync` in `witness run`.
pub(crate) const EVIDENCE_MAX_UNSYNCED_AGE: Duration = Duration::from_secs(1);

/// The pipeline thread's loop over the device: opens it (waiting while it
/// is absent), drives its batches through the daemon, and starts again
/// when the module goes away.
fn drain(
    opts: &RunOptions,
    p: &mut Pipeline,
    sinks: &mut Sinks,
    service: &mut Service,
    stop: &AtomicBool,
    reloads: &mpsc::Receiver<Result<Reloaded, String>>,
) -> anyhow::Result<()> {
    let end = opts.duration.map(|d| Instant::now() + d);
    let done = || stop.load(Ordering::SeqCst) || end.is_some_and(|e| Instant::now() >= e);
    let mut said_waiting = false;
    while !done() {
        let mut source = match Source::open(&opts.device, opts.source) {
            Ok(s) => s,
            Err(e) if e.downcast_ref::<DeviceError>().is_some_and(DeviceError::is_absent) => {
                if !said_waiting {
                    said_waiting = true;
                    p.emit(internal::DeviceAbsent { error: e.to_string() });
                    sinks.publish(p, true);
                    service.status(&format!("waiting for {} (is the witness module loaded?)", opts.device.display()));
                }
                service.alive();
                apply_reloads(p, sinks, reloads);
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            Err(e) => return Err(e),
        };
        said_waiting = false;
        let info = source.device().info();
        let opened = internal::DeviceOpened {
            path: &opts.device,
            method: source.name(),
            abi_version: info.abi_version,
            rings: info.nr_rings,
            ring_bytes: u64::from(info.ring_data_size),
        };
        sinks.emit(p, opened);
        service.ready(&format!("reading {} ({}, {} rings)", opts.device.display(), source.name(), info.nr_rings));
        let mut daemon =
            Daemon { p, sinks, service: &mut *service, reloads, last_stats: Instant::now() - Duration::from_secs(10) };
        if let Ended::Gone(e) = drive(&mut source, &mut daemon, &done)? {
            // Unmap and close before anything else: the unload waits for it.
            drop(source);
            p.module_gone(e.to_string());
            sinks.write_stream(p);
            sinks.flush(p);
            sinks.publish(p, true);
        }
    }
    Ok(())
}

/// The daemon's part of each batch: reloads before it, judgement, and
/// after it the kernel's figures (once a second), the evidence flush, the
/// published counters and the evidence sync.
struct Daemon<'a> {
    p: &'a mut Pipeline,
    sinks: &'a mut Sinks,
    service: &'a mut Service,
    reloads: &'a mpsc::Receiver<Result<Reloaded, String>>,
    last_stats: Instant,
}

impl Handler<Source> for Daemon<'_> {
    fn before(&mut self) {
        apply_reloads(self.p, self.sinks, self.reloads);
    }

    fn arrived(&mut self, events: &[Event]) {
        self.p.track(events);
    }

    fn event(&mut self, event: &Event) -> ControlFlow<()> {
        self.sinks.handle(self.p, event);
        ControlFlow::Continue(())
    }

    /// While the evidence log fails, the ring space stays the module's: if
    /// the collector dies before the log takes lines again, the next one
    /// reads those records again, and while it lives the rings fill and
    /// the module's drops show as sequence gaps.
    fn durable(&self) -> bool {
        self.sinks.evidence.as_ref().is_none_or(|log| !log.is_failing())
    }

    fn finished(&mut self, source: &Source) -> ControlFlow<()> {
        let p = &mut *self.p;
        if self.last_stats.elapsed() >= Duration::from_secs(1) {
            p.set_clock(witness::sinks::output::Clock::now());
            p.resolve_secrets_if_older(SECRETS_MAX_AGE);
            if let Ok((cpus, hooks)) = source.device().stats() {
                for c in cpus {
                    let figures = RingFigures {
                        produced: c.produced,
                        dropped_full: c.dropped_full,
                        dropped_nested: c.dropped_nested,
                        used: c.unread,
                        size: c.data_size,
                    };
                    p.counters.rings.insert(c.cpu, figures);
                }
                for h in hooks {
                    // Hooks this collector does not know are left out (a
                    // newer module); the status command shows them.
                    if let Some(hook) = Hook::from_id(h.hook) {
                        p.counters.hook_dropped.insert(hook.name(), h.dropped);
                        p.counters.hook_filtered.insert(hook.name(), h.filtered);
                    }
                }
            }
            // What the module records: a kind turned off is not "lost".
            p.counters.kernel_kind_mask = source.device().config().ok().map(|c| c.kind_mask);
            self.last_stats = Instant::now();
        }
        // The ring space is given back after this (if durable): what was
        // drained has reached the sinks (the evidence log's page cache at
        // least).
        self.sinks.flush(p);
        self.sinks.publish(p, false);
        self.sinks.sync_if_older(p, EVIDENCE_MAX_UNSYNCED_AGE);
        self.service.alive();
        ControlFlow::Continue(())
    }
}

/// A configuration SIGHUP loaded, with its shadow set, or the error that
/// refused the shadow set (the running one is then kept).
struct Reloaded {
    config: Config,
    shadow_refused: Option<String>,
}

impl Reloaded {
    fn load(s: &witness::config::settings::JudgeSources) -> Result<Self, witness::pipeline::ConfigError> {
        let mut config = load_config(s.inventory.as_deref(), &s.policy, s.cache_entries)?;
        let mut shadow_refused = None;
        if !s.shadow_policy.is_empty() {
            match witness::policy::Policies::load(&s.shadow_policy) {
                Ok(shadow) => config.set_shadow(Some(shadow), s.cache_entries),
                Err(e) => shadow_refused = Some(e.to_string()),
            }
        }
        Ok(Self { config, shadow_refused })
    }
}

/// Applies the configurations SIGHUP loaded (or counts their rejection).
/// A shadow set that does not load never disturbs the active one: the new
/// active configuration applies with the running shadow set.
fn apply_reloads(p: &mut Pipeline, sinks: &mut Sinks, reloads: &mpsc::Receiver<Result<Reloaded, String>>) {
    while let Ok(loaded) = reloads.try_recv() {
        match loaded {
            Ok(Reloaded { mut config, shadow_refused }) => {
                if let Some(error) = shadow_refused {
                    p.keep_shadow_in(&mut config);
                    sinks.emit(
                        p,
                        internal::ConfigRejected {
                            error: format!("--shadow-policy (the running shadow set is kept): {error}"),
                        },
                    );
                }
                p.reload(config);
                sinks.write_stream(p);
            }
            Err(error) => sinks.emit(p, internal::ConfigRejected { error }),
        }
    }
}

/// Most bytes taken from one ring per batch, so that one busy CPU cannot
/// make a batch (and the wait for its judgement) arbitrarily long.
const RING_BUDGET: u64 = 1 << 20;

/// The open device and how its records are read.
pub(crate) enum Source {
    Mapped { device: Device, rings: MappedRings, faults: u64 },
    Read { device: Device, buf: Vec<u8> },
}

impl Source {
    fn open(path: &Path, mode: SourceMode) -> anyhow::Result<Self> {
        if mode != SourceMode::Read {
            let mapped = Device::open_for_mapping(path)
                .map_err(anyhow::Error::from)
                .and_then(|device| Ok((MappedRings::map(&device)?, device)));
            match mapped {
                Ok((rings, device)) => return Ok(Self::Mapped { device, rings, faults: 0 }),
                Err(e) if mode == SourceMode::Mmap => return Err(e),
                Err(e) if e.downcast_ref::<DeviceError>().is_some_and(DeviceError::is_absent) => return Err(e),
                Err(e) => tracing::warn!("{e}; reading with read(2) instead"),
            }
        }
        Ok(Self::Read { device: Device::open(path)?, buf: vec![0u8; Device::batch_size()] })
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Mapped { .. } => "mmap",
            Self::Read { .. } => "read(2)",
        }
    }

    fn device(&self) -> &Device {
        match self {
            Self::Mapped { device, .. } | Self::Read { device, .. } => device,
        }
    }

    /// Appends the next records to `out`, waiting until `deadline` for
    /// some. On [`DeviceError::Gone`], `out` holds what was left.
    fn next(&mut self, deadline: Instant, out: &mut Vec<Event>) -> Result<(), DeviceError> {
        match self {
            Self::Mapped { device, rings, faults } => {
                let mut fault = |f: witness::source::mapped::RingFault| {
                    *faults += 1;
                    tracing::error!("{}: {f}", device.path().display());
                };
                rings.drain(RING_BUDGET, out, &mut fault);
                if !out.is_empty() {
                    return Ok(());
                }
                let waited = device.wait_readable(Some(deadline));
                // Records that arrived while waiting, or that were left
                // when the module started to unload.
                rings.drain(RING_BUDGET, out, &mut fault);
                waited.map(|_| ())
            }
            Self::Read { device, buf } => {
                let n = device.read_batch(buf, Some(deadline))?;
                for record in decode::records(&buf[..n]) {
                    match record {
                        Ok(e) => out.push(e),
                        Err(e) => {
                            tracing::error!(
                                "malformed batch from {}: {e}; skipping the rest of it",
                                device.path().display()
                            );
                            break;
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

/// Arguments of `witness run`.
#[derive(clap::Args)]
pub(crate) struct RunArgs {
    /// Read settings from this TOML file (keys are the long flags with `_`
    /// for `-`; flags given here win; see examples/witness.toml).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// The witness device.
    #[arg(long, default_value = DEFAULT_DEVICE)]
    pub(crate) device: PathBuf,
    // Flattened: its fields carry the help.
    #[allow(missing_docs)]
    #[command(flatten)]
    pub(crate) judge: JudgeArgs,
    /// Serve /metrics here (loopback by default; another address must be
    /// given explicitly).
    #[arg(long, default_value = "127.0.0.1:9750", value_parser = witness::config::settings::parse_listen)]
    pub(crate) listen: std::net::SocketAddr,
    /// Do not serve /metrics.
    #[arg(long)]
    pub(crate) no_metrics: bool,
    /// Serve /metrics (and /drift) over TLS with this certificate chain
    /// (PEM), requiring client certificates (with --listen-tls-key and
    /// --listen-client-ca).
    #[arg(long, value_name = "FILE")]
    pub(crate) listen_tls_cert: Option<PathBuf>,
    /// The TLS certificate's private key (PEM).
    #[arg(long, value_name = "FILE")]
    pub(crate) listen_tls_key: Option<PathBuf>,
    /// The CA (PEM) scrapers' client certificates must be signed by.
    #[arg(long, value_name = "FILE")]
    pub(crate) listen_client_ca: Option<PathBuf>,
    /// Export logs and metrics over OTLP (also on when an
    /// OTEL_EXPORTER_OTLP_*ENDPOINT variable is set).
    #[arg(long)]
    pub(crate) otlp: bool,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub(crate) duration: Option<Duration>,
    /// How to read the rings: mmap (zero-copy), read (read(2)), or auto
    /// (mmap, falling back to read when mapping fails).
    #[arg(long, value_enum, default_value_t = SourceMode::Auto)]
    pub(crate) source: SourceMode,
    /// Ask the container runtime's CRI socket (containerd, CRI-O) for each
    /// container's pod: name, namespace, labels (`k8s:ns`, `k8s:pod-label`,
    /// `k8s:sa` selectors; `k8s.*` fields of the evidence).
    #[arg(long, value_name = "URI")]
    pub(crate) cri_endpoint: Option<String>,
}

/// Runs `witness run` with `args`, read over by the settings file of
/// `--config` where `explicit` (the flags given on the command line) does
/// not say otherwise.
pub(crate) fn command(mut args: RunArgs, explicit: &[String]) -> anyhow::Result<()> {
    init_logging();
    let mut settings_file = None;
    if let Some(path) = &args.config {
        let settings = witness::config::settings::Settings::load(path)?;
        settings_file = Some(witness::config::settings::SettingsFile {
            path: path.clone(),
            explicit: explicit.to_vec(),
            base: witness::config::settings::JudgeSources {
                inventory: args.judge.inventory.clone(),
                policy: args.judge.policy.clone(),
                shadow_policy: args.judge.shadow_policy.clone(),
                cache_entries: args.judge.cache_entries,
            },
            at_start: settings.clone(),
        });
        merge_settings(&mut args, settings, explicit);
    }
    crate::commands::run::run(crate::commands::run::RunOptions {
        device: args.device,
        inventory: args.judge.inventory.clone(),
        policies: args.judge.policy.clone(),
        judge: args.judge.clone(),
        listen: (!args.no_metrics).then_some(args.listen),
        listen_tls: witness::sinks::endpoint_tls::ListenTls::from_flags(
            args.listen_tls_cert.clone(),
            args.listen_tls_key.clone(),
            args.listen_client_ca.clone(),
        )
        .map_err(anyhow::Error::msg)?,
        otlp: args.otlp || witness::sinks::otlp::configured(),
        options: args.judge.options(),
        cache_entries: args.judge.cache_entries,
        duration: args.duration,
        source: args.source,
        cri_endpoint: args.cri_endpoint,
        settings_file,
    })
}

/// Which `run` flags were given on the command line (they win over the
/// settings file).
pub(crate) fn explicit_run_flags(matches: &clap::ArgMatches) -> Vec<String> {
    matches
        .subcommand_matches("run")
        .map(|m| {
            m.ids()
                .filter(|id| m.value_source(id.as_str()) == Some(clap::parser::ValueSource::CommandLine))
                .map(|id| id.as_str().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Fills `args` from the settings file where the command line said nothing
/// (`explicit` holds the ids of flags given on the command line).
pub(crate) fn merge_settings(args: &mut RunArgs, s: witness::config::settings::Settings, explicit: &[String]) {
    fn take<T>(explicit: &[String], id: &str, from_file: Option<T>, into: &mut T) {
        if let Some(v) = from_file {
            if !explicit.iter().any(|e| e == id) {
                *into = v;
            }
        }
    }
    let j = &mut args.judge;
    take(explicit, "device", s.device, &mut args.device);
    take(explicit, "inventory", s.inventory.map(Some), &mut j.inventory);
    take(explicit, "policy", s.policy, &mut j.policy);
    take(explicit, "shadow_policy", s.shadow_policy, &mut j.shadow_policy);
    take(explicit, "evidence", s.evidence.map(Some), &mut j.evidence);
    take(explicit, "evidence_all", s.evidence_all, &mut j.evidence_all);
    take(explicit, "evidence_max_bytes", s.evidence_max_bytes, &mut j.evidence_max_bytes);
    take(explicit, "evidence_keep", s.evidence_keep, &mut j.evidence_keep);
    take(explicit, "evidence_sync_every", s.evidence_sync_every, &mut j.evidence_sync_every);
    take(explicit, "evidence_key", s.evidence_key.map(Some), &mut j.evidence_key);
    take(explicit, "evidence_checkpoint_lines", s.evidence_checkpoint_lines, &mut j.evidence_checkpoint_lines);
    take(explicit, "evidence_checkpoint_seconds", s.evidence_checkpoint_seconds, &mut j.evidence_checkpoint_seconds);
    take(explicit, "series_budget", s.series_budget, &mut j.series_budget);
    take(explicit, "cache_entries", s.cache_entries, &mut j.cache_entries);
    take(explicit, "listen", s.listen, &mut args.listen);
    take(explicit, "listen_tls_cert", s.listen_tls_cert.map(Some), &mut args.listen_tls_cert);
    take(explicit, "listen_tls_key", s.listen_tls_key.map(Some), &mut args.listen_tls_key);
    take(explicit, "listen_client_ca", s.listen_client_ca.map(Some), &mut args.listen_client_ca);
    take(explicit, "no_metrics", s.metrics.map(|m| !m), &mut args.no_metrics);
    take(explicit, "otlp", s.otlp, &mut args.otlp);
    take(explicit, "source", s.source, &mut args.source);
    take(explicit, "cri_endpoint", s.cri_endpoint.map(Some), &mut args.cri_endpoint);
}

/// How long one batch may wait for records, so that reloads, figures and
/// the stop flag are seen at least this often.
const POLL_PERIOD: Duration = Duration::from_millis(200);

impl Batches for Source {
    fn next(&mut self, out: &mut Vec<Event>) -> anyhow::Result<Next> {
        match Source::next(self, Instant::now() + POLL_PERIOD, out) {
            Ok(()) => Ok(Next::More),
            Err(e @ DeviceError::Gone { .. }) => Ok(Next::Gone(e)),
            Err(e) => Err(e.into()),
        }
    }

    /// Gives back the ring space of what `next` returned (mmap; read(2)
    /// consumed it already).
    fn commit(&mut self) {
        if let Self::Mapped { rings, .. } = self {
            rings.commit();
        }
    }
}
