//! Collector pipeline benchmark: `witness replay` of a large capture on one
//! core, with the evidence log and the metrics file on (every sink but
//! network export), reporting events per second per core and peak RSS.
//!
//! The capture is built from `tests/data/judge_e2e.cap`, which the real
//! module recorded in the VM: its records are the templates, so every kind,
//! field and string is one the module really wrote. The generator gives
//! them new lives: `--processes` processes (fork, exec, a run of events of
//! the template mix, exit) spread over `--identities` declared workloads
//! (uid selectors; a few processes are unattested), with contiguous per-CPU
//! sequence numbers and rising timestamps, so the collector's process
//! table, attribution cache, policy cache and series budget all work as on
//! a busy node. The inventory (one workload per identity, with peers,
//! binaries and secrets) and the example policies are written beside it.
//!
//! Each run is `taskset -c 0 witness replay CAPTURE CAPTURE --quiet
//! --inventory ... --policy examples/policy --evidence ... --evidence-key
//! ... --metrics ...` (every evidence line hash-chained, a signed checkpoint
//! every 10,000 lines, and the log verified after the run):
//! the same capture twice through one pipeline. `witness replay` reports
//! each file's records and the CPU time its thread spent on them; the first
//! pass fills the policy cache (cold), the second runs with it warm, which
//! is the collector's steady state on a node whose workloads keep doing
//! what they do. Peak RSS comes from `wait4`. Medians of the runs.
//!
//! `WITNESS_BENCH_QUICK=1` makes a small capture and runs twice (a smoke
//! test); `WITNESS_BENCH_OUT=FILE` appends the figures as JSON lines (the
//! format `scripts/bench.sh` tabulates).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use witness::source::capture::{CaptureInfo, CaptureWriter, HEADER_LEN};
use witness_abi::record::{
    RecordHeader, RecordKind, TaskContext, EXIT_GROUP_DEAD, RECORD_HEADER_LEN, TASK_CONTEXT_LEN,
};
use zerocopy::{FromBytes, IntoBytes};

/// What to generate.
#[derive(Clone, Copy)]
struct Shape {
    records: usize,
    processes: usize,
    identities: usize,
}

/// A tiny deterministic PRNG (xorshift64*): the capture must be the same
/// every time.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        // CAST: n is small; the modulo bias is irrelevant here.
        (self.next() % n as u64) as usize
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("collector has a parent").to_path_buf()
}

/// The template records of the real capture, by kind.
fn templates() -> BTreeMap<u16, Vec<Vec<u8>>> {
    let bytes = std::fs::read(root().join("tests/data/judge_e2e.cap")).expect("tests/data/judge_e2e.cap");
    let mut by_kind: BTreeMap<u16, Vec<Vec<u8>>> = BTreeMap::new();
    let mut rest = &bytes[HEADER_LEN..];
    while rest.len() >= RECORD_HEADER_LEN {
        let (header, _) = RecordHeader::read_from_prefix(rest).expect("a header");
        // CAST: record lengths are at most RECORD_MAX_LEN.
        let len = header.len as usize;
        by_kind.entry(header.kind).or_default().push(rest[..len].to_vec());
        rest = &rest[len..];
    }
    by_kind
}

fn has_task(kind: u16) -> bool {
    !matches!(RecordKind::from_wire(kind), Some(RecordKind::TcpState | RecordKind::PacketDrops) | None)
}

/// One simulated process.
struct Proc {
    tgid: u32,
    ppid: u32,
    uid: u32,
    left: usize,
    cgroup_id: u64,
}

/// Writes the capture, the inventory and returns their paths.
fn generate(shape: Shape, dir: &Path) -> (PathBuf, PathBuf) {
    let tag = format!("{}r-{}p-{}i", shape.records, shape.processes, shape.identities);
    let capture = dir.join(format!("pipeline-{tag}.cap"));
    let inventory = dir.join(format!("pipeline-{tag}.toml"));
    write_inventory(shape, &inventory);
    if capture.exists() {
        return (capture, inventory);
    }
    let templates = templates();
    let fork = &templates[&(RecordKind::Fork as u16)];
    let exec = &templates[&(RecordKind::Exec as u16)];
    let exit = &templates[&(RecordKind::Exit as u16)];
    // The middle of a process's life: every other kind, in the capture's
    // proportions.
    let middle: Vec<&Vec<u8>> = templates
        .iter()
        .filter(|(k, _)| ![RecordKind::Fork as u16, RecordKind::Exec as u16, RecordKind::Exit as u16].contains(k))
        .flat_map(|(_, v)| v)
        .collect();
    let per_process = shape.records / shape.processes;
    let mut rng = Rng(0x0005_eed0_f001_7e55);
    let info = CaptureInfo {
        abi_version: witness_abi::ABI_VERSION,
        boot_to_unix_ns: 1_790_000_000_000_000_000,
        kernel: "6.12.117 (generated from tests/data/judge_e2e.cap)".into(),
        host: "bench".into(),
    };
    let tmp = capture.with_extension("cap.tmp");
    let mut w = CaptureWriter::create(&tmp, &info).expect("create the capture");
    // Written in batches of about 1 MiB of whole records, so this process
    // stays small: a child's peak RSS can include its parent's at spawn.
    let mut out = Vec::with_capacity(1 << 21);
    let mut seq = [0u64; 2];
    let mut ts = 1_000_000_000u64;
    let mut live: Vec<Proc> = Vec::new();
    let mut started = 0usize;
    let mut written = 0usize;
    let window = 512;
    let mut next_tgid = 1000u32;
    let mut emit = |template: &[u8], p: &Proc, child: Option<u32>, rng: &mut Rng, out: &mut Vec<u8>| {
        let mut rec = template.to_vec();
        let cpu = rng.below(2);
        let (header, _) = RecordHeader::mut_from_prefix(&mut rec).expect("a header");
        // CAST: cpu is 0 or 1.
        header.cpu = cpu as u32;
        header.seq = seq[cpu];
        seq[cpu] += 1;
        ts += 300 + rng.next() % 700;
        header.ts_ns = ts;
        if has_task(header.kind) {
            let body = &mut rec[RECORD_HEADER_LEN..];
            let (task, rest) = TaskContext::mut_from_prefix(body).expect("a task context");
            task.pid = p.tgid;
            task.tgid = p.tgid;
            task.ppid = p.ppid;
            task.uid = p.uid;
            task.euid = p.uid;
            task.gid = p.uid;
            task.egid = p.uid;
            task.cgroup_id = p.cgroup_id;
            if let Some(child) = child {
                rest[..4].copy_from_slice(child.as_bytes());
                rest[4..8].copy_from_slice(child.as_bytes());
            }
        }
        out.extend_from_slice(&rec);
    };
    debug_assert_eq!(TASK_CONTEXT_LEN, size_of::<TaskContext>());
    while written < shape.records {
        if out.len() >= 1 << 20 {
            w.write_batch(&out).expect("write the capture");
            out.clear();
        }
        // Keep a window of live processes; start new ones until all were.
        while live.len() < window && started < shape.processes {
            let parent = if live.is_empty() { 1 } else { live[rng.below(live.len())].tgid };
            let i = started % shape.identities;
            // One process in 20 matches no workload.
            let uid = if started % 20 == 19 { 65_534 } else { 10_000 + u32::try_from(i).unwrap_or(0) };
            let p = Proc { tgid: next_tgid, ppid: parent, uid, left: per_process, cgroup_id: 1 + (i % 64) as u64 };
            next_tgid += 1;
            let parent_proc = Proc { tgid: parent, ppid: 1, uid, left: 0, cgroup_id: p.cgroup_id };
            emit(&fork[rng.below(fork.len())], &parent_proc, Some(p.tgid), &mut rng, &mut out);
            emit(&exec[rng.below(exec.len())], &p, None, &mut rng, &mut out);
            written += 2;
            live.push(p);
            started += 1;
        }
        if live.is_empty() {
            // Every process has lived; start the cycle again with new pids.
            started = 0;
            continue;
        }
        let at = rng.below(live.len());
        let p = &mut live[at];
        if p.left <= 3 {
            let p = live.swap_remove(at);
            let mut rec = exit[rng.below(exit.len())].clone();
            let body = &mut rec[RECORD_HEADER_LEN + TASK_CONTEXT_LEN..];
            body[4..8].copy_from_slice(EXIT_GROUP_DEAD.as_bytes());
            emit(&rec, &p, None, &mut rng, &mut out);
            written += 1;
            continue;
        }
        p.left -= 1;
        let p = &live[at];
        emit(middle[rng.below(middle.len())], p, None, &mut rng, &mut out);
        written += 1;
    }
    w.write_batch(&out).expect("write the capture");
    w.finish().expect("finish the capture");
    std::fs::rename(&tmp, &capture).expect("rename the capture");
    (capture, inventory)
}

fn write_inventory(shape: Shape, path: &Path) {
    let mut s = String::from("# Generated by collector/benches/pipeline.rs: one workload per identity.\n");
    for i in 0..shape.identities {
        let team = i / 50;
        let _ = write!(
            s,
            "\n[[workload]]\nspiffe_id = \"spiffe://bench.witness.test/team-{team}/svc-{i}\"\nowner = \"team-{team}\"\n\
             selectors = [\"unix:uid:{}\"]\npeers = [\"spiffe://bench.witness.test/team-{team}/svc-{}\", \"10.{}.0.0/16:443\"]\n\
             binaries = [\"/usr/bin/witness-vmtool\", \"/bin/busybox\"]\nsecrets = [\"/srv/svc-{i}/secrets/*\"]\n",
            10_000 + i,
            (i + 1) % shape.identities,
            i % 250,
        );
    }
    std::fs::write(path, s).expect("write the inventory");
}

/// One run's figures.
struct Run {
    wall_s: f64,
    /// Events/s of CPU, first pass (cold cache) and second (warm).
    cold: f64,
    warm: f64,
    max_rss_kib: i64,
}

/// Events/s from `witness replay`'s "replayed FILE: N records in S s of
/// CPU" lines, in order.
fn rates(stderr: &str) -> Vec<f64> {
    stderr
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("witness: replayed ")?;
            let (_, rest) = rest.rsplit_once(": ")?;
            let mut words = rest.split_whitespace();
            let records: f64 = words.next()?.parse().ok()?;
            let secs: f64 = words.nth(2)?.parse().ok()?;
            Some(records / secs)
        })
        .collect()
}

fn run_once(capture: &Path, inventory: &Path, dir: &Path) -> Run {
    let evidence = dir.join("pipeline-evidence.jsonl");
    let _ = std::fs::remove_file(&evidence);
    let metrics = dir.join("pipeline-metrics.txt");
    let start = Instant::now();
    let mut child = Command::new("taskset")
        .args(["-c", "0", env!("CARGO_BIN_EXE_witness"), "replay", "--quiet"])
        .arg(capture)
        .arg(capture)
        .arg("--inventory")
        .arg(inventory)
        .arg("--policy")
        .arg(root().join("examples/policy"))
        .arg("--evidence")
        .arg(&evidence)
        .arg("--evidence-key")
        .arg(dir.join("pipeline-evidence.key"))
        .arg("--metrics")
        .arg(&metrics)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("taskset (util-linux) and the witness binary");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("piped stderr"), &mut stderr)
        .expect("read witness's stderr");
    // CAST: pids fit in pid_t.
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, writing into live locals.
    let r = unsafe { libc::wait4(pid, &raw mut status, 0, &raw mut usage) };
    let wall_s = start.elapsed().as_secs_f64();
    assert!(r == pid && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "witness replay failed: {status}");
    std::mem::forget(child);
    let r = rates(&stderr);
    assert_eq!(r.len(), 2, "witness replay did not report both passes:\n{stderr}");
    let verified = Command::new(env!("CARGO_BIN_EXE_witness"))
        .args(["evidence", "verify"])
        .arg(&evidence)
        .output()
        .expect("witness evidence verify");
    assert!(verified.status.success(), "the bench's evidence log does not verify: {verified:?}");
    Run { wall_s, cold: r[0], warm: r[1], max_rss_kib: usage.ru_maxrss }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let quick = std::env::var_os("WITNESS_BENCH_QUICK").is_some();
    let shape = if quick {
        Shape { records: 100_000, processes: 10_000, identities: 1_000 }
    } else {
        Shape { records: 2_000_000, processes: 20_000, identities: 1_000 }
    };
    let dir = root().join("target/bench");
    std::fs::create_dir_all(&dir).expect("target/bench");
    let t = Instant::now();
    let (capture, inventory) = generate(shape, &dir);
    let size = std::fs::metadata(&capture).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "capture: {} ({:.1} MiB, {:.1} s to make or find)",
        capture.display(),
        size as f64 / 1048576.0,
        t.elapsed().as_secs_f64()
    );
    let runs: Vec<Run> = (0..if quick { 2 } else { 5 }).map(|_| run_once(&capture, &inventory, &dir)).collect();
    let warm = median(runs.iter().map(|r| r.warm).collect());
    let cold = median(runs.iter().map(|r| r.cold).collect());
    #[allow(clippy::cast_precision_loss)]
    let rss_mib = runs.iter().map(|r| r.max_rss_kib).max().unwrap_or(0) as f64 / 1024.0;
    let metrics = std::fs::read_to_string(dir.join("pipeline-metrics.txt")).unwrap_or_default();
    let hit_ratio = metrics
        .lines()
        .find_map(|l| l.strip_prefix("witness_policy_cache_hit_ratio "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    let evidence_lines = metrics
        .lines()
        .find_map(|l| l.strip_prefix("witness_evidence_lines_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0);

    println!(
        "collector pipeline (witness replay --quiet of the capture twice, on CPU 0; {} records, {} processes, {} identities; evidence log (hash-chained, Ed25519-signed checkpoints) and metrics on)",
        shape.records, shape.processes, shape.identities
    );
    println!("{:<40} {:>12}  target", "figure", "value");
    let target = |met: bool, t: &str| format!("{t}: {}", if met { "met" } else { "NOT met" });
    println!("{:<40} {:>12.0}  {}", "events/s per core, policy cache warm", warm, target(warm >= 5e6, ">= 5 M"));
    println!("{:<40} {:>12.0}  {}", "events/s per core, first pass (cold)", cold, target(cold >= 2.5e6, ">= 2.5 M"));
    println!("{:<40} {:>12.1}  {}", "peak RSS (MiB)", rss_mib, target(rss_mib <= 64.0, "<= 64 MiB"));
    println!("{:<40} {:>12.3}", "policy cache hit ratio (both passes)", hit_ratio);
    println!("{:<40} {:>12.0}", "evidence lines written (both passes)", evidence_lines);
    for (i, r) in runs.iter().enumerate() {
        println!(
            "  run {i}: wall {:.3} s, cold {:.0}/s, warm {:.0}/s, max RSS {} KiB",
            r.wall_s, r.cold, r.warm, r.max_rss_kib
        );
    }

    if let Some(path) = std::env::var_os("WITNESS_BENCH_OUT") {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("WITNESS_BENCH_OUT");
        let line = |name: &str, value: f64, unit: &str, target: Option<(&str, bool)>| {
            let (t, m) =
                target.map_or(("null".to_string(), "null".to_string()), |(t, m)| (format!("\"{t}\""), m.to_string()));
            format!(
                "{{\"group\":\"pipeline\",\"name\":\"{name}\",\"value\":{value},\"unit\":\"{unit}\",\"target\":{t},\"met\":{m}}}\n"
            )
        };
        let mut out = String::new();
        out += &line("events/s per core, cache warm", warm, "events/s", Some((">= 5000000", warm >= 5e6)));
        out +=
            &line("events/s per core, first pass (cold cache)", cold, "events/s", Some((">= 2500000", cold >= 2.5e6)));
        out += &line("peak RSS", rss_mib, "MiB", Some(("<= 64", rss_mib <= 64.0)));
        out += &line("policy cache hit ratio", hit_ratio, "ratio", None);
        f.write_all(out.as_bytes()).expect("write WITNESS_BENCH_OUT");
    }
}
