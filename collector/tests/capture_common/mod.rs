//! What the capture tests share: the capture tests/data/judge_e2e.cap
//! replayed through the pipeline with the example inventory and policies,
//! and a tiny HTTP client for the endpoints it serves.

#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use witness::pipeline::{load_config, Options, Pipeline};
use witness::policy::{Divergence, Outcome};
use witness::sinks::output::Clock;
use witness::sinks::Sinks;
use witness::source::capture::CaptureReader;

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Judged events of the capture: (identity, kind, outcome, divergence, evidence).
pub(crate) type Judgements =
    Vec<(String, String, Outcome, Divergence, Option<serde_json::Map<String, serde_json::Value>>)>;

pub(crate) fn example_config() -> witness::pipeline::Config {
    let root = root();
    load_config(
        Some(&root.join("examples/inventory.toml")),
        &[root.join("examples/policy")],
        witness::policy::DEFAULT_CACHE_ENTRIES,
    )
    .unwrap()
}

pub(crate) fn replay() -> (Judgements, Sinks) {
    replay_reloading(false)
}

/// Replays the capture; with `reload`, the configuration is reloaded (as
/// by SIGHUP, unchanged) before every connect.
pub(crate) fn replay_reloading(reload: bool) -> (Judgements, Sinks) {
    let root = root();
    let config = example_config();
    let mut reader = CaptureReader::open(&root.join("tests/data/judge_e2e.cap")).unwrap();
    let clock = Clock::with_offset(reader.info().boot_to_unix_ns);
    let mut pipeline = Pipeline::new(config, Options { read_host_files: false, ..Options::default() }, clock);
    let mut sinks = Sinks::new(None, None);
    sinks.live_drift = Some(Arc::new(std::sync::Mutex::new(witness::evidence::drift::Live::default())));
    let mut out = Vec::new();
    loop {
        let batch = reader.next_batch().unwrap();
        if batch.is_empty() && reader.is_done() {
            break;
        }
        assert_eq!(pipeline.track(&batch), 0, "the capture has no sequence gaps");
        let mut batch = batch;
        batch.sort_by_key(|e| e.meta().ts_ns);
        for event in &batch {
            if reload && event.kind_name() == "sock_connect" {
                pipeline.reload(example_config());
            }
            if let Some(j) = sinks.handle(&mut pipeline, event) {
                // The evidence line as the log writes it: a key given twice
                // would be a different object once read back.
                let streamed = serde_json::to_string(&pipeline.evidence(event, &j)).unwrap();
                let serde_json::Value::Object(record) = serde_json::from_str(&streamed).unwrap() else {
                    panic!("not an object: {streamed}")
                };
                assert_eq!(serde_json::to_string(&record).unwrap(), streamed, "{}", event.kind_name());
                out.push((
                    pipeline.identity_name(j.identity).to_string(),
                    event.kind_name().to_string(),
                    j.outcome,
                    j.divergence,
                    Some(record),
                ));
            }
        }
    }
    sinks.publish(&mut pipeline, true);
    (out, sinks)
}

pub(crate) fn http_get(url: &str) -> Option<String> {
    http_get_accepting(url, "*/*")
}

pub(crate) fn http_get_accepting(url: &str, accept: &str) -> Option<String> {
    // A tiny HTTP/1.0 client: enough for Prometheus' API and our endpoint.
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut s = std::net::TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\nAccept: {accept}\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    let (head, body) = body.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200")
        .then(|| body.to_string())
        .or_else(|| head.starts_with("HTTP/1.0 200").then(|| body.to_string()))
}
