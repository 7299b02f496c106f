//! Host tests on a capture the real module produced in the VM
//! (tests/data/judge_e2e.cap, written by the judge_e2e scenario; refresh
//! with scripts/refresh-capture.sh): the whole pipeline with the example
//! inventory and policies, then a real Prometheus server scraping the
//! result and `promtool check metrics` on it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use witness::pipeline::{Options, Pipeline};
use witness::policy::{Divergence, Outcome};
use witness::sinks::output::Clock;
use witness::sinks::Sinks;
use witness::source::capture::CaptureReader;

mod capture_common;
use capture_common::{example_config, http_get, http_get_accepting, replay, replay_reloading, root, Judgements};

const API: &str = "spiffe://demo.witness.test/payments/api";
const BATCH: &str = "spiffe://demo.witness.test/data/batch";

/// A SIGHUP that changes nothing changes no judgement: in particular the
/// listeners seen before it still name their workloads, so a connect to a
/// declared peer stays declared.
#[test]
fn a_reload_changes_no_judgement() {
    let strip = |j: Judgements| j.into_iter().map(|(id, kind, o, d, _)| (id, kind, o, d)).collect::<Vec<_>>();
    let (plain, _) = replay();
    let (reloading, _) = replay_reloading(true);
    let (plain, reloading) = (strip(plain), strip(reloading));
    assert!(plain.iter().any(|j| j.1 == "sock_connect" && j.0 == API), "the capture has the api's connects");
    for (a, b) in plain.iter().zip(&reloading) {
        assert_eq!(a, b, "judged differently after a reload");
    }
    assert_eq!(plain.len(), reloading.len());
}

#[test]
fn the_capture_is_judged_by_identity() {
    let (judged, sinks) = replay();
    type Judged = (String, String, Outcome, Divergence, Option<serde_json::Map<String, serde_json::Value>>);
    let find = |id: &str, kind: &str, pred: &dyn Fn(&Judged) -> bool| {
        judged.iter().any(|j| j.0 == id && j.1 == kind && pred(j))
    };
    // The declared workload: its connection to the db is declared by SPIFFE ID.
    assert!(find(API, "sock_connect", &|j| j.2 == Outcome::Allow && j.3 == Divergence::None), "api connect");
    assert!(!find(API, "sock_connect", &|j| j.2 != Outcome::Allow), "api connect judged non-allow");
    // Nothing of the declared workload is evidence: not even the kernel's
    // routine refusals of su's CAP_SETUID/CAP_SETGID probes.
    assert!(find(API, "cap_denied", &|j| j.2 == Outcome::Allow), "api's su probes are in the capture");
    let api: Vec<_> = judged.iter().filter(|j| j.0 == API && j.2 != Outcome::Allow).map(|j| (&j.1, j.2)).collect();
    assert!(api.is_empty(), "api judged non-allow: {api:?}");
    // The misbehaving one.
    assert!(find(BATCH, "sock_connect", &|j| j.2 == Outcome::Investigate && j.3 == Divergence::UndeclaredPeer));
    assert!(find(BATCH, "file_open", &|j| j.3 == Divergence::ForeignSecret
        && j.4.as_ref().is_some_and(|r| r["path"] == "/srv/payments/secrets/db.key")));
    assert!(find(BATCH, "exec", &|j| j.3 == Divergence::UnexpectedBinary));
    assert!(find(BATCH, "cred_change", &|j| j.2 == Outcome::Deny
        && j.4.as_ref().is_some_and(|r| r["policies"][0] == "privilege-escalation" && r["kernel"]["denied"] == false)));
    let table = sinks.verdict_table();
    assert!(table.contains(BATCH) && table.contains(API), "{table}");
    // Each row counts that identity's judged events by outcome.
    for id in [API, BATCH] {
        let row: Vec<u64> = table
            .lines()
            .find(|l| l.starts_with(&format!("{id} ")))
            .unwrap_or_else(|| panic!("no row for {id}: {table}"))
            .split_whitespace()
            .skip(1)
            .map(|n| n.parse().unwrap())
            .collect();
        for (column, outcome) in Outcome::ALL.iter().enumerate() {
            let want = judged.iter().filter(|j| j.0 == id && j.2 == *outcome).count() as u64;
            assert_eq!(row[column], want, "{id} {outcome:?}: {table}");
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `/drift` on a loopback listener: what each workload did against its
/// declaration, live; on any other address it is refused, since it serves
/// evidence details.
#[test]
fn the_drift_endpoint_serves_loopback_only() {
    let (_, sinks) = replay();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let live = sinks.live_drift.clone();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let target = listener.local_addr().unwrap();
    runtime.spawn(witness::sinks::endpoint::serve_metrics(listener, Arc::clone(&sinks.shared), live.clone()));
    let json = http_get(&format!("http://{target}/drift")).expect("/drift answers on loopback");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let batch = report["identities"].as_array().unwrap().iter().find(|d| d["identity"] == BATCH).unwrap();
    let used: Vec<&str> =
        batch["used_undeclared"].as_array().unwrap().iter().map(|u| u["value"].as_str().unwrap()).collect();
    assert!(used.contains(&"spiffe://demo.witness.test/payments/db"), "{batch}");
    assert!(used.contains(&"/tmp/suid-tool"), "{batch}");
    assert!(used.iter().any(|u| u.starts_with("/srv/payments/secrets/db.key")), "{batch}");
    assert_eq!(batch["declared_unused"], serde_json::json!([{"what": "peer", "value": "10.20.0.0/16:443"}]));
    assert!(
        batch["non_allow"].as_array().unwrap().iter().any(|n| n["kind"] == "cred_change" && n["outcome"] == "deny"),
        "{batch}"
    );
    let api = report["identities"].as_array().unwrap().iter().find(|d| d["identity"] == API).unwrap();
    assert_eq!(api["used_undeclared"], serde_json::json!([]), "{api}");
    let md = http_get(&format!("http://{target}/drift?format=markdown&identity={BATCH}")).unwrap();
    assert!(md.contains(&format!("## {BATCH}")) && !md.contains(API), "{md}");

    let listener = runtime.block_on(tokio::net::TcpListener::bind("0.0.0.0:0")).unwrap();
    let port = listener.local_addr().unwrap().port();
    runtime.spawn(witness::sinks::endpoint::serve_metrics(listener, Arc::clone(&sinks.shared), live));
    let head = {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(s, "GET /drift HTTP/1.0\r\n\r\n").unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        answer
    };
    assert!(head.starts_with("HTTP/1.0 403") || head.starts_with("HTTP/1.1 403"), "{head}");
    assert!(head.contains("served on a loopback listener, or over TLS with client certificates"), "{head}");
    assert!(http_get(&format!("http://127.0.0.1:{port}/metrics")).is_some(), "/metrics still answers");
}

#[test]
fn a_real_prometheus_scrapes_the_collector() {
    let (_, sinks) = replay();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let target = listener.local_addr().unwrap();
    runtime.spawn(witness::sinks::endpoint::serve_metrics(listener, Arc::clone(&sinks.shared), None));

    // What a scraper asking for OpenMetrics gets.
    let openmetrics =
        http_get_accepting(&format!("http://{target}/metrics"), "application/openmetrics-text;version=1.0.0")
            .expect("our endpoint answers");
    assert!(openmetrics.ends_with("# EOF\n"), "{openmetrics}");
    // promtool's linter on what everyone else gets (the classic text format).
    let text = http_get(&format!("http://{target}/metrics")).expect("our endpoint answers");
    assert!(text.contains("# TYPE witness_events_total counter"), "{text}");
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus) is installed");
    std::io::Write::write_all(promtool.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
    let out = promtool.wait_with_output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && report.trim().is_empty(), "promtool check metrics: {report}");

    // A real Prometheus server scraping it.
    let dir = std::env::temp_dir().join(format!("witness-prom-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: witness\n    static_configs:\n      - targets: ['{target}']\n"),
    )
    .unwrap();
    let port = free_port();
    let mut prom = Command::new("prometheus")
        .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
        .spawn()
        .expect("prometheus (Debian package) is installed");
    let query = |q: &str| {
        let encoded: String = q
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"_.-".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        http_get(&format!("http://127.0.0.1:{port}/api/v1/query?query={encoded}"))
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut results: BTreeMap<&str, String> = BTreeMap::new();
    let wanted = [
        ("batch_deny", format!("witness_events_total{{identity=\"{BATCH}\",kind=\"cred_change\",outcome=\"deny\"}}")),
        ("api_allow", format!("sum(witness_events_total{{identity=\"{API}\",outcome=\"allow\"}})")),
        ("divergences", format!("sum by (divergence) (witness_divergences_total{{identity=\"{BATCH}\"}})")),
        ("up", "up{job=\"witness\"}".to_string()),
    ];
    while Instant::now() < deadline && results.len() < wanted.len() {
        for (name, q) in &wanted {
            if let Some(body) = query(q) {
                if body.contains("\"result\":[{") {
                    results.insert(name, body);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let _ = prom.kill();
    let _ = prom.wait();
    let log = std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default();
    assert_eq!(
        results.len(),
        wanted.len(),
        "queries answered: {results:?}\nprometheus log tail: {}",
        &log[log.len().saturating_sub(2000)..]
    );
    assert!(results["up"].contains("\"1\"]"), "{}", results["up"]);
    assert!(
        results["batch_deny"].contains("\"1\"]") || results["batch_deny"].contains("\"2\"]"),
        "{}",
        results["batch_deny"]
    );
    for d in ["undeclared_peer", "foreign_secret", "unexpected_binary"] {
        assert!(results["divergences"].contains(d), "{d}: {}", results["divergences"]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A capture cut short (a collector killed mid-write, a full disk) is
/// replayed up to the damage: the events before it are judged, the summary
/// and the evidence log are still written, the damage is named by file
/// offset, and the exit status says the replay was incomplete.
#[test]
fn a_truncated_capture_is_replayed_up_to_the_damage() {
    let root = root();
    let dir = std::env::temp_dir().join(format!("witness-truncated-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let whole = std::fs::read(root.join("tests/data/judge_e2e.cap")).unwrap();
    let cut = dir.join("cut.cap");
    // Mid-record: 13 bytes short of the end.
    std::fs::write(&cut, &whole[..whole.len() - 13]).unwrap();
    let evidence = dir.join("evidence.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_witness"))
        .args(["replay", "--quiet", "--summary", "--evidence-all", "--inventory"])
        .arg(root.join("examples/inventory.toml"))
        .arg("--policy")
        .arg(root.join("examples/policy"))
        .arg("--evidence")
        .arg(&evidence)
        .arg(&cut)
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "a damaged capture exits non-zero: {stderr}");
    assert!(stdout.contains("IDENTITY") && stdout.contains(API), "the summary is printed: {stdout}");
    assert!(stderr.contains("cut.cap") && stderr.contains("offset"), "the damage is named: {stderr}");
    assert!(stderr.contains("damaged capture"), "{stderr}");
    let lines = std::fs::read_to_string(&evidence).unwrap().lines().count();
    assert!(lines > 10, "the evidence before the damage is written: {lines} lines");
    std::fs::remove_dir_all(&dir).ok();
}

/// Every record of a capture is replayed, however many reads it takes
/// (the replay once stopped at the first read that ended on a record
/// boundary: here the first, an 88-byte record and 64-byte ones filling
/// the reader's first 8 KiB after the 168-byte header).
#[test]
fn a_capture_is_replayed_to_its_end() {
    use witness::source::capture::{CaptureInfo, CaptureWriter};
    use witness_abi::record::{DropCount, PacketDropsRecord, RecordHeader, RecordKind, TcpStateRecord};
    use zerocopy::{FromZeros, IntoBytes};
    let dir = std::env::temp_dir().join(format!("witness-long-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("drops.cap");
    let info =
        CaptureInfo { abi_version: witness_abi::ABI_VERSION, boot_to_unix_ns: 0, kernel: "k".into(), host: "h".into() };
    let mut w = CaptureWriter::create(&path, &info).unwrap();
    let records = 10_001u64;
    let mut h = RecordHeader::new_zeroed();
    (h.len, h.kind, h.ts_ns) = (88, RecordKind::TcpState as u16, 1);
    let mut bytes = h.as_bytes().to_vec();
    bytes.extend_from_slice(TcpStateRecord::new_zeroed().as_bytes());
    for seq in 1..records {
        let mut h = RecordHeader::new_zeroed();
        (h.len, h.kind, h.seq, h.ts_ns) = (64, RecordKind::PacketDrops as u16, seq, seq + 1);
        let mut d = PacketDropsRecord::new_zeroed();
        (d.interval_ns, d.total, d.nr_entries) = (1, 1, 1);
        let mut e = DropCount::new_zeroed();
        (e.reason, e.count) = (2, 1);
        bytes.extend_from_slice(h.as_bytes());
        bytes.extend_from_slice(d.as_bytes());
        bytes.extend_from_slice(e.as_bytes());
    }
    assert_eq!(bytes.len() as u64, 88 + (records - 1) * 64);
    w.write_batch(&bytes).unwrap();
    w.finish().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_witness")).args(["replay", "--quiet"]).arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains(&format!(": {records} records in ")), "not every record was replayed: {stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Unix times follow the clock the pipeline was last given (`witness run`
/// measures the offset again every second, so a clock step moves them).
#[test]
fn evidence_times_follow_a_new_clock_offset() {
    let mut reader = CaptureReader::open(&root().join("tests/data/judge_e2e.cap")).unwrap();
    let batch = reader.next_batch().unwrap();
    let event = batch.iter().find(|e| e.task().is_some()).expect("a task event");
    let mut pipeline =
        Pipeline::new(example_config(), Options { read_host_files: false, ..Options::default() }, Clock::identity());
    let mut sinks = Sinks::new(None, None);
    let judged = sinks.handle(&mut pipeline, event).expect("judged");
    let time = |p: &Pipeline| {
        let v = serde_json::to_value(p.evidence(event, &judged)).unwrap();
        v["time_unix_ns"].as_str().unwrap().parse::<i64>().unwrap()
    };
    let before = time(&pipeline);
    assert_eq!(before, i64::try_from(event.meta().ts_ns).unwrap());
    pipeline.set_clock(Clock::with_offset(5_000_000_000));
    assert_eq!(time(&pipeline), before + 5_000_000_000);
}

/// A policy that names a workload no inventory entry declares is reported
/// (by `witness policy validate --inventory` and at load), naming both.
#[test]
fn policies_naming_undeclared_workloads_are_reported() {
    let root = root();
    let inventory = witness::identity::inventory::Inventory::load(&root.join("examples/inventory.toml")).unwrap();
    let policies = witness::policy::Policies::from_texts(vec![(
        PathBuf::from("typo.cedar"),
        "@id(\"typo\")\nforbid(principal == Workload::\"spiffe://demo.witness.test/payments/apii\", action, resource);\n\
         permit(principal == Workload::\"spiffe://demo.witness.test/payments/api\", action, resource);\n"
            .to_string(),
    )])
    .unwrap();
    let warnings = witness::pipeline::unknown_workloads(&inventory, &policies);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("policy typo") && warnings[0].contains("payments/apii"), "{warnings:?}");
    assert!(witness::pipeline::unknown_workloads(&inventory, &example_policies()).is_empty());
}

fn example_policies() -> witness::policy::Policies {
    witness::policy::Policies::load(&[root().join("examples/policy")]).unwrap()
}
