//! The OTLP exporter over HTTP/protobuf against a receiver that serves
//! `/v1/logs` and `/v1/metrics` as the OTLP/HTTP specification says and
//! decodes the protobuf bodies.

mod otlp_common;

use otlp_common::{export_and_check, http_receiver, Received};

#[test]
fn evidence_and_metrics_reach_an_otlp_http_receiver() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let received = Received::default();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let app = http_receiver(&received);
    runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
    export_and_check(&runtime, &format!("http://{addr}"), "http/protobuf", &[], &received);
}
