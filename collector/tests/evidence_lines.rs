//! The evidence line is one type: the JSONL log and OTLP carry the same
//! fields (OTLP under semantic-convention names where they exist), each
//! line names its schema, host, collector and configuration, and the log
//! also says what happened to the stream (sequence gaps, reloads).

mod otlp_common;

use std::collections::BTreeSet;
use std::path::Path;

use opentelemetry::logs::AnyValue;
use serde_json::Value;
use witness::evidence::SCHEMA;
use witness::identity::inventory::Inventory;
use witness::pipeline::{Config, Options, Pipeline};
use witness::sinks::evidence::{EvidenceLog, Policy};
use witness::sinks::otlp::attributes;
use witness::sinks::output::Clock;
use witness::sinks::Sinks;
use witness::source::decode::{Body, Event, Meta};
use witness_abi::record::{ForkRecord, RecordKind};
use zerocopy::FromZeros;

/// Dotted paths of the fields with a value.
fn leaves(prefix: &str, v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Null => {}
        Value::Object(m) => {
            for (k, v) in m {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                leaves(&path, v, out);
            }
        }
        _ => {
            out.insert(prefix.to_string());
        }
    }
}

#[test]
fn otlp_attributes_are_the_evidence_fields() {
    let (json, attrs) = otlp_common::with_sample_line(|line| {
        let json = serde_json::to_value(line).unwrap();
        let attrs = attributes(&json);
        (json, attrs)
    });
    // Every field with a value is an attribute (the time is the record's
    // timestamp), and every attribute comes from a field.
    let mut fields = BTreeSet::new();
    leaves("", &json, &mut fields);
    fields.remove("time");
    fields.remove("time_unix_ns");
    let from: BTreeSet<String> = attrs.iter().map(|a| a.from.clone()).collect();
    assert_eq!(fields, from, "fields without attributes, or attributes without fields");
    let get = |name: &str| {
        let a = attrs.iter().find(|a| a.name == name).unwrap_or_else(|| panic!("no attribute {name}: {attrs:#?}"));
        match &a.value {
            AnyValue::String(s) => s.to_string(),
            AnyValue::Int(i) => i.to_string(),
            AnyValue::Boolean(b) => b.to_string(),
            other => format!("{other:?}"),
        }
    };
    for (name, value) in [
        ("process.pid", "4242"),
        ("thread.id", "4243"),
        ("process.parent_pid", "1"),
        ("process.user.id", "2000"),
        ("process.real_user.id", "2000"),
        ("container.id", otlp_common::CONTAINER_ID),
        ("container.runtime.name", "containerd"),
        ("k8s.pod.uid", otlp_common::POD_UID),
        ("server.address", "10.1.2.3"),
        ("server.port", "5432"),
        ("network.peer.address", "10.1.2.3"),
        ("network.type", "ipv4"),
        ("network.transport", "tcp"),
        ("witness.identity.spiffe_id", "spiffe://demo.witness.test/data/batch"),
        ("witness.identity.attested", "true"),
        ("witness.outcome", "investigate"),
        ("witness.divergence", "undeclared_peer"),
        ("witness.schema", SCHEMA),
        ("witness.kind", "sock_connect"),
    ] {
        assert_eq!(get(name), value, "{name}");
    }
    let host = rustix::system::uname().nodename().to_string_lossy().into_owned();
    assert_eq!(get("host.name"), host);
    assert!(attrs.iter().all(|a| a.name.contains('.')), "every attribute is namespaced");
}

/// What a JSON reader needs to trust a line without the rest of the log.
#[test]
fn each_line_stands_on_its_own() {
    let json = otlp_common::with_sample_line(|line| serde_json::to_value(line).unwrap());
    assert_eq!(json["schema"], SCHEMA);
    assert_eq!(json["record"], "event");
    assert_eq!(json["collector"], env!("CARGO_PKG_VERSION"));
    assert!(json["host"].as_str().is_some_and(|h| !h.is_empty()));
    // The capture's clock: 1_700_000_000 s after the epoch at boot.
    assert_eq!(json["time_unix_ns"], "1700000000000000000");
    assert_eq!(json["time"], "2023-11-14T22:13:20.000000000Z");
    assert_eq!(json["ts_boot_ns"], "0");
    let inventory = json["config"]["inventory"].as_str().unwrap();
    assert!(inventory.starts_with("sha256:") && inventory.len() == 71, "{inventory}");
    assert_eq!(json["config"]["policies"], Value::Null, "no policies loaded");
    assert_eq!(json["container"]["id"], otlp_common::CONTAINER_ID);
    assert_eq!(json["k8s"]["pod"]["uid"], otlp_common::POD_UID);
    assert!(json["cgroup"].as_str().unwrap().ends_with(".scope"));
}

/// A fresh directory for an evidence log; its log's path.
fn log_path(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("witness-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("evidence.jsonl")
}

fn fork(cpu: u32, seq: u64) -> Event {
    let mut r = ForkRecord::new_zeroed();
    (r.task.pid, r.task.tgid, r.task.uid) = (10, 10, 7);
    Event { meta: Meta { cpu, seq, ts_ns: seq }, wire_kind: RecordKind::Fork as u16, body: Body::Fork(r) }
}

/// The log says what happened to the stream, in order with the events: a
/// CPU that skipped sequence numbers, a reload and its new digests, start
/// and stop.
#[test]
fn the_log_records_gaps_and_reloads() {
    let path = log_path("stream");
    let inventory = |owner: &str| {
        let text = format!(
            "[[workload]]\nspiffe_id = \"spiffe://t.test/a\"\nowner = \"{owner}\"\nselectors = [\"unix:uid:7\"]\n"
        );
        Config::new(Inventory::parse(&text, Path::new("inventory.toml")).unwrap(), None, 16)
    };
    let options = Options { read_host_files: false, evidence_all: true, ..Options::default() };
    let mut p = Pipeline::new(inventory("one"), options, Clock::identity());
    let mut sinks = Sinks::new(Some(EvidenceLog::open(&path, Policy::default()).unwrap()), None);
    sinks.emit(&mut p, witness::internal::Started { command: "test", evidence_all: true });
    let batch = [fork(1, 0), fork(1, 5)];
    assert_eq!(p.track(&batch), 4);
    for e in &batch {
        sinks.handle(&mut p, e);
    }
    p.reload(inventory("two"));
    sinks.write_stream(&mut p);
    sinks.handle(&mut p, &fork(1, 6));
    sinks.emit(&mut p, witness::internal::Stopped { lost: 4 });
    sinks.sync(&mut p);
    let lines: Vec<Value> =
        std::fs::read_to_string(&path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let shape: Vec<String> = lines
        .iter()
        .map(|l| match l["record"].as_str().unwrap() {
            "stream" => l["stream"].as_str().unwrap().to_string(),
            "checkpoint" => "checkpoint".to_string(),
            _ => format!("{}#{}", l["kind"].as_str().unwrap(), l["seq"]),
        })
        .collect();
    assert_eq!(shape, ["started", "gap", "fork#0", "fork#5", "config_changed", "fork#6", "stopped", "checkpoint"]);
    let gap = &lines[1];
    assert_eq!((gap["cpu"].as_u64(), gap["first_seq"].as_u64(), gap["last_seq"].as_u64()), (Some(1), Some(1), Some(4)));
    assert_eq!(gap["missing"], 4);
    // The gap is placed at the time of the record after it, and says when
    // the record before it was.
    assert_eq!(gap["time_unix_ns"], "5");
    assert_eq!(gap["previous_time_unix_ns"], "0");
    // The closing checkpoint counts what the collector read.
    assert_eq!((lines[7]["records"].as_u64(), lines[7]["lost"].as_u64()), (Some(2), Some(4)));
    assert_eq!(lines[0]["evidence"], "all");
    let digest = |l: &Value| l["config"]["inventory"].as_str().unwrap().to_string();
    assert_eq!(digest(&lines[3]), digest(&lines[0]));
    assert_ne!(digest(&lines[4]), digest(&lines[3]), "config_changed carries the new inventory's digest");
    assert_eq!(digest(&lines[5]), digest(&lines[4]));
    std::fs::remove_dir_all(path.parent().unwrap()).ok();
}

/// A line cut by a crash is removed when the log is opened again, and the
/// log says so: its event is not in the log.
#[test]
fn a_cut_line_is_removed_and_recorded() {
    let path = log_path("trim");
    std::fs::write(&path, "{\"record\":\"event\"}\n{\"record\":\"ev").unwrap();
    let options = Options { read_host_files: false, ..Options::default() };
    let mut p = Pipeline::new(Config::new(Inventory::default(), None, 16), options, Clock::identity());
    let mut sinks = Sinks::new(Some(EvidenceLog::open(&path, Policy::default()).unwrap()), None);
    sinks.started(&mut p, "test");
    sinks.sync(&mut p);
    let lines: Vec<Value> =
        std::fs::read_to_string(&path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let streams: Vec<&str> = lines.iter().filter_map(|l| l["stream"].as_str()).collect();
    assert_eq!(streams, ["started", "evidence_trimmed"]);
    assert_eq!(lines[2]["bytes"], "{\"record\":\"ev".len());
    std::fs::remove_dir_all(path.parent().unwrap()).ok();
}
