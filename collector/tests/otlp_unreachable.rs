//! OTLP export to an endpoint that accepts connections and never answers:
//! handing evidence to the exporter never blocks the pipeline (it is queued
//! in a bounded buffer and dropped when that is full), memory stays
//! bounded, and shutdown ends within the exporter's timeouts.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod otlp_common;

use witness::sinks::metrics::{Counters, Snapshot};
use witness::sinks::otlp::{Otlp, Protocol};

/// Resident set size of this process, KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")?.split_whitespace().next()?.parse().ok()).unwrap()
}

#[test]
fn a_silent_endpoint_neither_blocks_nor_grows() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    // Accepts, reads nothing, answers nothing.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let held = Arc::new(Mutex::new(Vec::new()));
    {
        let held = held.clone();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                held.lock().unwrap().push(s);
            }
        });
    }
    // SAFETY: this test binary holds one test, and no thread it started
    // reads the environment yet.
    unsafe {
        std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}"));
        std::env::set_var("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc");
        std::env::set_var("OTEL_EXPORTER_OTLP_TIMEOUT", "2000");
    }
    let shared = Arc::new(Mutex::new(Snapshot::new(Counters::new(100), Arc::new(vec!["spiffe://t.test/a".into()]))));
    let otlp = runtime.block_on(async { Otlp::new(Protocol::from_env().unwrap(), &shared) }).unwrap();
    let before = rss_kib();
    let start = Instant::now();
    // Enough records to fill the exporter's bounded queue many times over
    // (an unbounded one would grow by more than the bound below).
    let n = 200_000;
    let mut longest = Duration::ZERO;
    otlp_common::with_sample_line(|line| {
        for _ in 0..n {
            let t = Instant::now();
            otlp.emit(line);
            longest = longest.max(t.elapsed());
        }
    });
    let emit = start.elapsed();
    let grown_mib = rss_kib().saturating_sub(before) / 1024;
    eprintln!(
        "{n} records handed over in {emit:?} ({:.0} ns each, the longest {longest:?}); RSS grew {grown_mib} MiB",
        emit.as_nanos() as f64 / n as f64
    );
    // A hand-over that waited for the endpoint would wait out the export
    // timeout (2 s); how long the records take in all depends on the
    // machine (a debug build converts each one), so it is not the test.
    assert!(longest < Duration::from_secs(1), "emitting blocked: one hand-over took {longest:?}");
    assert!(grown_mib < 256, "the export queue grew without bound: +{grown_mib} MiB");

    let start = Instant::now();
    let otlp = Arc::new(otlp);
    let o = otlp.clone();
    runtime.block_on(async move {
        tokio::time::timeout(Duration::from_secs(60), tokio::task::spawn_blocking(move || o.shutdown()))
            .await
            .expect("shutdown hung on a silent endpoint")
            .unwrap();
    });
    eprintln!("shutdown with a silent endpoint took {:?}", start.elapsed());
    assert!(!held.lock().unwrap().is_empty(), "the exporter never reached the endpoint: nothing was tested");
}
