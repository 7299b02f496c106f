//! The `/metrics` and `/healthz` endpoint of `witness run`, and the
//! metrics file of `witness replay --metrics`.

use std::io::Write as _;
use std::path::Path;

use crate::sinks::metrics::{openmetrics_to_prometheus, render, Shared};

/// Serves `/metrics` (OpenMetrics text) until the process ends.
pub async fn serve_metrics(listener: tokio::net::TcpListener, shared: Shared) -> std::io::Result<()> {
    use axum::http::header::CONTENT_TYPE;
    use axum::routing::get;
    let health = shared.clone();
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move |headers: axum::http::HeaderMap| {
                let shared = shared.clone();
                async move {
                    // OpenMetrics for scrapers that ask for it (Prometheus
                    // does); the classic text format for everyone else.
                    let wants_openmetrics = headers
                        .get_all(axum::http::header::ACCEPT)
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .any(|v| v.contains("application/openmetrics-text"));
                    let text = crate::sinks::metrics::render(&shared);
                    if wants_openmetrics {
                        ([(CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
                    } else {
                        (
                            [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                            crate::sinks::metrics::openmetrics_to_prometheus(&text),
                        )
                    }
                }
            }),
        )
        .route(
            "/healthz",
            get(move || {
                let reading = match health.lock() {
                    Ok(s) => s.counters.device_reading,
                    Err(poisoned) => poisoned.into_inner().counters.device_reading,
                };
                async move {
                    if reading {
                        (axum::http::StatusCode::OK, "ok\n")
                    } else {
                        (axum::http::StatusCode::SERVICE_UNAVAILABLE, "not reading the witness device\n")
                    }
                }
            }),
        );
    axum::serve(listener, app).await
}

/// Writes the published metrics to `path` in the classic text format:
/// what node_exporter's textfile collector and promtool read.
pub fn write_metrics(shared: &Shared, path: &Path) -> std::io::Result<()> {
    let named = |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    let mut f = std::fs::File::create(path).map_err(named)?;
    f.write_all(openmetrics_to_prometheus(&render(shared)).as_bytes()).map_err(named)
}
