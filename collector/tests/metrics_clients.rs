//! The /metrics endpoint under hostile and heavy clients: many concurrent
//! scrapes all get whole answers, connections that never send a request
//! (or send half of one) do not hold up real scrapers, a malformed request
//! gets an HTTP error, and the endpoint keeps serving afterwards.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use witness::policy::Outcome;
use witness::sinks::metrics::{Counters, Snapshot};

async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_idle_and_malformed_clients_do_not_stop_scrapes() {
    let mut counters = Counters::new(100);
    counters.device_reading = true;
    counters.event(0, witness_abi::record::RecordKind::FileOpen as u16, Outcome::Allow);
    let shared = Arc::new(Mutex::new(Snapshot::new(counters, Arc::new(vec!["spiffe://t.test/a".into()]))));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(witness::sinks::endpoint::serve_metrics(listener, shared, None));

    // Connections that say nothing, and one that stops mid-request.
    let mut idle = Vec::new();
    for _ in 0..64 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();

    // 200 scrapes at once, each complete.
    let start = Instant::now();
    let scrapes: Vec<_> = (0..200).map(|_| tokio::spawn(get(addr, "/metrics"))).collect();
    for s in scrapes {
        let answer = tokio::time::timeout(Duration::from_secs(20), s).await.expect("a scrape hung").unwrap();
        assert!(answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("witness_events_total{identity=\"spiffe://t.test/a\""), "{answer}");
        assert!(answer.trim_end().ends_with("# EOF") || answer.contains("witness_build_info"), "cut: {answer}");
    }
    eprintln!("200 concurrent scrapes with 65 stalled connections open: {:?}", start.elapsed());

    // Garbage gets an HTTP error, not a hang or a crash.
    let mut bad = TcpStream::connect(addr).await.unwrap();
    bad.write_all(b"\x00\x01garbage\r\n\r\n").await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), bad.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    assert!(text.is_empty() || text.starts_with("HTTP/1.1 400"), "{text}");

    // Unknown paths are 404; the endpoint still answers.
    assert!(get(addr, "/nope").await.contains(" 404 "));
    assert!(get(addr, "/healthz").await.ends_with("ok\n"));
    drop(idle);
    drop(half);
}

/// `/healthz` is healthy only while the device is read: a collector waiting
/// for the module (or after an unload) says so with a 503.
#[tokio::test]
async fn healthz_says_whether_the_device_is_read() {
    let shared = Arc::new(Mutex::new(Snapshot::new(Counters::new(100), Arc::new(vec![]))));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(witness::sinks::endpoint::serve_metrics(listener, shared.clone(), None));
    let waiting = get(addr, "/healthz").await;
    assert!(waiting.contains(" 503 ") && waiting.ends_with("not reading the witness device\n"), "{waiting}");
    shared.lock().unwrap().counters.device_reading = true;
    let reading = get(addr, "/healthz").await;
    assert!(reading.contains(" 200 ") && reading.ends_with("ok\n"), "{reading}");
}
