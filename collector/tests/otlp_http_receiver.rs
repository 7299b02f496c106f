//! The OTLP exporter over HTTP/protobuf against a receiver that serves
//! `/v1/logs` and `/v1/metrics` as the OTLP/HTTP specification says and
//! decodes the protobuf bodies.

mod otlp_common;

use axum::body::Bytes;
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::logs::v1::{ExportLogsServiceRequest, ExportLogsServiceResponse};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use otlp_common::{export_and_check, Received};
use prost::Message;

fn protobuf(headers: &HeaderMap) -> Result<(), (StatusCode, String)> {
    match headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        Some("application/x-protobuf") => Ok(()),
        other => Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("content type {other:?}"))),
    }
}

#[test]
fn evidence_and_metrics_reach_an_otlp_http_receiver() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let received = Received::default();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let (logs, metrics) = (received.logs.clone(), received.metrics.clone());
    let app = axum::Router::new()
        .route(
            "/v1/logs",
            post(move |headers: HeaderMap, body: Bytes| async move {
                protobuf(&headers)?;
                let request =
                    ExportLogsServiceRequest::decode(body).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
                logs.lock().unwrap().push(request);
                Ok::<_, (StatusCode, String)>((
                    [(header::CONTENT_TYPE, "application/x-protobuf")],
                    ExportLogsServiceResponse { partial_success: None }.encode_to_vec(),
                ))
            }),
        )
        .route(
            "/v1/metrics",
            post(move |headers: HeaderMap, body: Bytes| async move {
                protobuf(&headers)?;
                let request =
                    ExportMetricsServiceRequest::decode(body).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
                metrics.lock().unwrap().push(request);
                Ok::<_, (StatusCode, String)>((
                    [(header::CONTENT_TYPE, "application/x-protobuf")],
                    ExportMetricsServiceResponse { partial_success: None }.encode_to_vec(),
                ))
            }),
        );
    runtime.spawn(async move { axum::serve(listener, app).await.unwrap() });
    export_and_check(&runtime, &format!("http://{addr}"), "http/protobuf", &received);
}
