//! The `/metrics`, `/healthz` and `/drift` endpoint of `witness run`, and
//! the metrics file of `witness replay --metrics`.
//!
//! `/drift` serves evidence details (peers, paths, secrets), so it is
//! served only on a loopback listener: on any other address it answers 403
//! and says why (TLS with client certificates for it is not built yet).

use std::io::Write as _;
use std::path::Path;

use std::sync::{Arc, Mutex};

use crate::evidence::drift::{Live, NonAllow};
use crate::policy::Outcome;
use crate::sinks::metrics::{kind_name, openmetrics_to_prometheus, render, Shared};

/// The query of `/drift`.
#[derive(Debug, serde::Deserialize)]
struct DriftQuery {
    identity: Option<String>,
    format: Option<String>,
}

/// `/drift`: the live drift report (JSON; `?format=markdown` or `text`;
/// `?identity=ID`).
fn drift_page(
    live: &Mutex<Live>,
    shared: &Shared,
    q: &DriftQuery,
) -> (axum::http::StatusCode, [(axum::http::HeaderName, &'static str); 1], String) {
    use axum::http::{header::CONTENT_TYPE, StatusCode};
    let events = match shared.lock() {
        Ok(s) => s.counters.events.clone(),
        Err(poisoned) => poisoned.into_inner().counters.events.clone(),
    };
    let non_allow = |i: usize| -> Vec<NonAllow> {
        events
            .iter()
            .filter(|((id, _, outcome), _)| *id as usize == i && *outcome != Outcome::Allow)
            .map(|((_, kind, outcome), &count)| NonAllow {
                kind: kind_name(*kind).to_string(),
                outcome: outcome.name().to_string(),
                count,
            })
            .collect()
    };
    let report = match live.lock() {
        Ok(l) => l.report(q.identity.as_deref(), non_allow),
        Err(poisoned) => poisoned.into_inner().report(q.identity.as_deref(), non_allow),
    };
    match q.format.as_deref() {
        None | Some("json") => (
            StatusCode::OK,
            [(CONTENT_TYPE, "application/json")],
            serde_json::to_string_pretty(&report).unwrap_or_default() + "\n",
        ),
        Some("markdown") => (StatusCode::OK, [(CONTENT_TYPE, "text/markdown; charset=utf-8")], report.markdown()),
        Some("text") => (StatusCode::OK, [(CONTENT_TYPE, "text/plain; charset=utf-8")], report.to_string()),
        Some(other) => (
            StatusCode::BAD_REQUEST,
            [(CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("format={other}: give json, markdown or text\n"),
        ),
    }
}

/// Serves `/metrics` (OpenMetrics text), `/healthz` and, with a live
/// drift tally, `/drift` (on a loopback listener only), until the process
/// ends.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    shared: Shared,
    drift: Option<Arc<Mutex<Live>>>,
) -> std::io::Result<()> {
    let loopback = listener.local_addr()?.ip().is_loopback();
    axum::serve(listener, router(shared, drift, loopback)).await
}

/// As [`serve_metrics`], over TLS with client certificates required
/// ([`crate::sinks::endpoint_tls`]): `/drift` is then served on any
/// address, to authenticated clients only.
pub async fn serve_metrics_tls(
    listener: tokio::net::TcpListener,
    shared: Shared,
    drift: Option<Arc<Mutex<Live>>>,
    config: Arc<rustls::ServerConfig>,
) -> std::io::Result<()> {
    crate::sinks::endpoint_tls::serve(listener, config, router(shared, drift, true)).await
}

/// The routes; `/drift` answers only if `serve_drift` (a loopback listener,
/// or clients authenticated by TLS).
fn router(shared: Shared, drift: Option<Arc<Mutex<Live>>>, serve_drift: bool) -> axum::Router {
    use axum::http::header::CONTENT_TYPE;
    use axum::routing::get;
    let health = shared.clone();
    let for_drift = shared.clone();
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
    match drift {
        Some(live) => app.route(
            "/drift",
            get(move |axum::extract::Query(q): axum::extract::Query<DriftQuery>| {
                let page = if serve_drift {
                    drift_page(&live, &for_drift, &q)
                } else {
                    (
                        axum::http::StatusCode::FORBIDDEN,
                        [(CONTENT_TYPE, "text/plain; charset=utf-8")],
                        "/drift serves evidence details (paths, peers, secrets): it is served on a loopback listener, or over TLS with client certificates (--listen-tls-cert, --listen-tls-key, --listen-client-ca)\n"
                            .to_string(),
                    )
                };
                async move { page }
            }),
        ),
        None => app,
    }
}

/// Writes the published metrics to `path` in the classic text format:
/// what node_exporter's textfile collector and promtool read.
pub fn write_metrics(shared: &Shared, path: &Path) -> std::io::Result<()> {
    let named = |e: std::io::Error| std::io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    let mut f = std::fs::File::create(path).map_err(named)?;
    f.write_all(openmetrics_to_prometheus(&render(shared)).as_bytes()).map_err(named)
}
