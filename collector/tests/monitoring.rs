//! The monitoring assets in deploy/monitoring, tested against the real
//! thing: tests/data/judge_e2e.cap (a capture the real module produced in
//! the VM) replayed through the pipeline with the example inventory and
//! policies, its /metrics scraped from `serve_metrics`, and
//!
//! - the alerting rules (deploy/monitoring/prometheus/witness-alerts.yml)
//!   run by `promtool test rules` on input series made from that scrape:
//!   the alerts that fire are the ones its samples call for;
//! - the Grafana dashboard (deploy/monitoring/grafana/witness.json): every
//!   query names only metrics the scrape has and parses as PromQL
//!   (`promtool check rules` on them as recording rules).
//!
//! Needs promtool (Debian package prometheus).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serde_json::{json, Value};

mod capture_common;
use capture_common::{http_get, replay, root};

const BATCH: &str = "spiffe://demo.witness.test/data/batch";
/// The identity label of processes no inventory entry attests
/// (`Principal::unattested`).
const UNATTESTED: &str = "unattested";
/// The labels Prometheus gives every series it scrapes from the collector.
const JOB: &str = "witness";
const INSTANCE: &str = "x";

fn alerts_file() -> PathBuf {
    root().join("deploy/monitoring/prometheus/witness-alerts.yml")
}

/// Replays the capture (as replay_capture.rs does), then serves its metrics
/// and returns what a scraper gets from /metrics (the classic text format).
fn scrape() -> String {
    let (_, sinks) = replay();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let target = listener.local_addr().unwrap();
    runtime.spawn(witness::sinks::endpoint::serve_metrics(listener, Arc::clone(&sinks.shared), None));
    let text = http_get(&format!("http://{target}/metrics")).expect("our endpoint answers");
    assert!(text.contains("# TYPE witness_events_total counter"), "{text}");
    text
}

/// One sample line of the text format: `name{labels} value`.
#[derive(Clone, Debug, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

impl Sample {
    fn label(&self, name: &str) -> &str {
        self.labels.get(name).map_or("", String::as_str)
    }

    /// The series as PromQL writes it, with the scrape's target labels.
    fn series(&self) -> String {
        let mut labels = self.labels.clone();
        labels.insert("job".into(), JOB.into());
        labels.insert("instance".into(), INSTANCE.into());
        selector(&self.name, &labels)
    }
}

fn selector(name: &str, labels: &BTreeMap<String, String>) -> String {
    let escape = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", escape(v))).collect();
    format!("{name}{{{}}}", labels.join(","))
}

/// Parses one sample line; None if it is not one.
fn parse_sample(line: &str) -> Option<Sample> {
    let end = line.find(['{', ' '])?;
    let name = &line[..end];
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        return None;
    }
    let mut rest = &line[end..];
    let mut labels = BTreeMap::new();
    if let Some(mut r) = rest.strip_prefix('{') {
        loop {
            if let Some(after) = r.strip_prefix('}') {
                r = after;
                break;
            }
            let (key, after) = r.split_once("=\"")?;
            let mut value = String::new();
            let mut chars = after.char_indices();
            let close = loop {
                let (i, c) = chars.next()?;
                match c {
                    '\\' => value.push(match chars.next()?.1 {
                        'n' => '\n',
                        other => other,
                    }),
                    '"' => break i,
                    c => value.push(c),
                }
            };
            labels.insert(key.trim().to_string(), value);
            r = &after[close + 1..];
            r = r.strip_prefix(',').unwrap_or(r);
        }
        rest = r;
    }
    let mut fields = rest.split_whitespace();
    let value = fields.next()?.parse().ok()?;
    // An optional timestamp, then nothing.
    if fields.nth(1).is_some() {
        return None;
    }
    Some(Sample { name: name.to_string(), labels, value })
}

/// Every sample of a scrape; panics on a line it cannot read.
fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| parse_sample(l).unwrap_or_else(|| panic!("not a sample line: {l:?}")))
        .collect()
}

/// The metric names a scrape has: those of its samples, and those of the
/// families it declares (`# TYPE`), with a histogram's `_bucket`, `_sum`
/// and `_count` (a family with no series yet, such as the ring figures of
/// a replay, still exists).
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = samples(text).into_iter().map(|s| s.name).collect();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else { continue };
        let mut words = rest.split_whitespace();
        let (Some(name), kind) = (words.next(), words.next()) else { continue };
        names.insert(name.to_string());
        if kind == Some("histogram") {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        }
    }
    names
}

/// Runs promtool; its success and everything it printed.
fn promtool(args: &[&str], file: &Path) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .arg(file)
        .output()
        .expect("promtool (Debian package prometheus) is installed");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), report)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("witness-monitoring-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Input series of a promtool test: a sample's series at 0 for the first
/// 6 minutes, at its value from the 6th on (as a counter the collector
/// already had goes from 0 to what the capture made it).
fn growing(value: f64) -> String {
    format!("0+0x5 {value}+0x30")
}

/// The same, but absent until minute 6: the collector creates most series
/// at their first event.
fn appearing(value: f64) -> String {
    format!("_ _ _ _ _ _ {value}+0x30")
}

/// What an alert of the rules file fires with: its labels (the rule's
/// severity added) and annotations, as the rules' templates render them.
fn alert(name: &str, labels: &[(&str, &str)]) -> Value {
    let mut all: BTreeMap<&str, &str> = labels.iter().copied().collect();
    all.insert("job", JOB);
    all.insert("instance", INSTANCE);
    let l = |k: &str| all.get(k).copied().unwrap_or("");
    let (severity, summary, description) = match name {
        "WitnessDivergence" => (
            "critical",
            format!("{}: {}", l("identity"), l("divergence")),
            format!(
                "{} departed from its declared intent ({}) on {} in the last 10 minutes. GET /drift on the \
                 collector (loopback) or read the evidence log for the events.",
                l("identity"),
                l("divergence"),
                l("instance")
            ),
        ),
        "WitnessUnattestedNetwork" => (
            "warning",
            format!("Unattested processes on {}: {}", l("instance"), l("kind")),
            format!(
                "Processes that match no inventory entry ({}) did {} on {} in the last 10 minutes. Attest them in \
                 the inventory (`witness identity explain <pid>` says why they match no entry) or find out what \
                 they are.",
                l("identity"),
                l("kind"),
                l("instance")
            ),
        ),
        "WitnessKernelDenials" => (
            "warning",
            format!("The kernel refuses {} of {}", l("kind"), l("identity")),
            format!(
                "The kernel has been refusing {} operations of {} on {} for at least 2 minutes \
                 (witness_kernel_denials_total).",
                l("kind"),
                l("identity"),
                l("instance")
            ),
        ),
        "WitnessRecordsLost" => (
            "critical",
            format!("witness on {} lost records ({})", l("instance"), l("loss")),
            format!(
                "The collector on {} lost {} records in the last 5 minutes ({}): the evidence of this host is \
                 incomplete for that time. See witness_sequence_gaps_total, witness_ring_dropped_total, \
                 witness_hook_dropped_total and witness_evidence_errors_total, and the record_loss lines of the \
                 evidence log.",
                l("instance"),
                l("value"),
                l("loss")
            ),
        ),
        "WitnessCollectorDown" => (
            "critical",
            format!("witness collector {} is down", l("instance")),
            format!(
                "Prometheus has failed to scrape the witness collector {} for 2 minutes: nothing on that host is \
                 being witnessed, and its losses are not reported.",
                l("instance")
            ),
        ),
        other => panic!("no expectation for {other}"),
    };
    all.remove("value");
    all.insert("severity", severity);
    json!({"exp_labels": all, "exp_annotations": {"summary": summary, "description": description}})
}

fn check(eval_time: &str, alertname: &str, exp_alerts: Vec<Value>) -> Value {
    json!({"eval_time": eval_time, "alertname": alertname, "exp_alerts": exp_alerts})
}

/// The alerts file is valid, each rule has what an on-call needs, and its
/// hand-written unit tests (witness-alerts.test.yml) pass.
#[test]
fn the_alert_rules_are_valid_and_their_own_tests_pass() {
    let (ok, report) = promtool(&["check", "rules"], &alerts_file());
    assert!(ok, "promtool check rules: {report}");
    assert!(report.contains("SUCCESS: 6 rules found"), "{report}");

    let rules = std::fs::read_to_string(alerts_file()).unwrap();
    let blocks: Vec<&str> = rules.split("- alert: ").skip(1).collect();
    let names: Vec<&str> = blocks.iter().map(|b| b.lines().next().unwrap().trim()).collect();
    assert_eq!(
        names,
        [
            "WitnessRecordsLost",
            "WitnessDivergence",
            "WitnessUnattestedNetwork",
            "WitnessKernelDenials",
            "WitnessRingFilling",
            "WitnessCollectorDown"
        ]
    );
    for (name, block) in names.iter().zip(&blocks) {
        for key in ["expr:", "for:", "labels:", "severity:", "annotations:", "summary:", "description:"] {
            assert!(block.contains(key), "{name} has no {key}");
        }
    }
    assert!(rules.contains(&format!("identity=\"{UNATTESTED}\"")), "the unattested label value");

    let (ok, report) =
        promtool(&["test", "rules"], &root().join("deploy/monitoring/prometheus/witness-alerts.test.yml"));
    assert!(ok && report.contains("SUCCESS"), "promtool test rules witness-alerts.test.yml:\n{report}");
}

/// The alerts on what the collector really exports after the capture:
/// the divergences, unattested network events and kernel denials it has
/// fire, by identity; there is no loss, so no loss alert, until a sequence
/// gap is added; a collector that stops answering scrapes is down.
#[test]
fn the_alerts_fire_on_a_real_scrape() {
    let text = scrape();
    let samples = samples(&text);
    let of = |name: &'static str| samples.iter().filter(move |s| s.name == name);

    // What the capture calls for.
    let divergences: BTreeSet<(String, String)> = of("witness_divergences_total")
        .filter(|s| s.value > 0.0)
        .map(|s| (s.label("identity").to_string(), s.label("divergence").to_string()))
        .collect();
    for d in ["undeclared_peer", "foreign_secret", "unexpected_binary"] {
        assert!(divergences.contains(&(BATCH.to_string(), d.to_string())), "{d}: {divergences:?}\n{text}");
    }
    let unattested_network: BTreeSet<String> = of("witness_events_total")
        .filter(|s| s.label("identity") == UNATTESTED && s.label("kind").starts_with("sock_") && s.value > 0.0)
        .map(|s| s.label("kind").to_string())
        .collect();
    let denials: BTreeSet<(String, String)> = of("witness_kernel_denials_total")
        .filter(|s| s.value > 0.0)
        .map(|s| (s.label("identity").to_string(), s.label("kind").to_string()))
        .collect();
    let loss = [
        "witness_sequence_gaps_total",
        "witness_ring_dropped_total",
        "witness_hook_dropped_total",
        "witness_evidence_errors_total",
    ]
    .into_iter()
    .flat_map(of)
    .filter(|s| s.value > 0.0)
    .count();
    assert_eq!(loss, 0, "the capture has no loss:\n{text}");
    assert!(of("witness_sequence_gaps_total").any(|s| s.label("cpu") == "0"), "gaps are counted on cpu 0:\n{text}");
    let full_rings = of("witness_ring_fill_ratio").filter(|s| s.value > 0.8).count();
    assert_eq!(full_rings, 0, "a replay has no ring figures:\n{text}");

    let divergence_alerts: Vec<Value> = divergences
        .iter()
        .map(|(identity, divergence)| alert("WitnessDivergence", &[("identity", identity), ("divergence", divergence)]))
        .collect();
    let unattested_alerts: Vec<Value> = unattested_network
        .iter()
        .map(|kind| alert("WitnessUnattestedNetwork", &[("identity", UNATTESTED), ("kind", kind)]))
        .collect();
    let denial_alerts: Vec<Value> = denials
        .iter()
        .map(|(identity, kind)| alert("WitnessKernelDenials", &[("identity", identity), ("kind", kind)]))
        .collect();

    let series = |values: &dyn Fn(f64) -> String, overrides: &BTreeMap<String, String>| {
        let mut all: BTreeMap<String, String> =
            samples.iter().filter(|s| s.value.is_finite()).map(|s| (s.series(), values(s.value))).collect();
        all.extend(overrides.clone());
        all.into_iter().map(|(series, values)| json!({"series": series, "values": values})).collect::<Vec<_>>()
    };
    let up = |values: &str| {
        let labels: BTreeMap<String, String> =
            [("job".to_string(), JOB.to_string()), ("instance".to_string(), INSTANCE.to_string())].into();
        BTreeMap::from([(selector("up", &labels), values.to_string())])
    };
    let gap = Sample {
        name: "witness_sequence_gaps_total".into(),
        labels: [("cpu".to_string(), "0".to_string())].into(),
        value: 3.0,
    };
    let mut lossy = up("1+0x35");
    lossy.insert(gap.series(), growing(gap.value));

    let tests = json!([
        {
            "name": "the capture as scraped",
            "interval": "1m",
            "input_series": series(&growing, &up("1+0x35")),
            "alert_rule_test": [
                check("10m", "WitnessDivergence", divergence_alerts.clone()),
                check("10m", "WitnessUnattestedNetwork", unattested_alerts.clone()),
                check("10m", "WitnessKernelDenials", denial_alerts),
                check("10m", "WitnessRecordsLost", vec![]),
                check("12m", "WitnessRingFilling", vec![]),
                check("10m", "WitnessCollectorDown", vec![]),
                // Ten minutes after the capture's events, nothing.
                check("25m", "WitnessDivergence", vec![]),
                check("25m", "WitnessUnattestedNetwork", vec![]),
                check("25m", "WitnessKernelDenials", vec![]),
            ],
        },
        {
            // As a fresh collector exports them: most series appear with
            // their first event, which increase() alone cannot see.
            "name": "the capture as a fresh collector exports it",
            "interval": "1m",
            "input_series": series(&appearing, &up("1+0x35")),
            "alert_rule_test": [
                check("10m", "WitnessDivergence", divergence_alerts),
                check("10m", "WitnessUnattestedNetwork", unattested_alerts),
                check("10m", "WitnessRecordsLost", vec![]),
            ],
        },
        {
            "name": "the capture with a sequence gap",
            "interval": "1m",
            "input_series": series(&growing, &lossy),
            "alert_rule_test": [
                check("5m", "WitnessRecordsLost", vec![]),
                check("10m", "WitnessRecordsLost", vec![
                    alert("WitnessRecordsLost", &[("loss", "sequence_gaps"), ("value", "3")]),
                ]),
                check("15m", "WitnessRecordsLost", vec![]),
            ],
        },
        {
            "name": "the collector stops answering scrapes",
            "interval": "1m",
            "input_series": series(&growing, &up("1+0x5 0+0x30")),
            "alert_rule_test": [
                check("7m", "WitnessCollectorDown", vec![]),
                check("10m", "WitnessCollectorDown", vec![alert("WitnessCollectorDown", &[])]),
            ],
        },
    ]);
    let file = json!({
        "rule_files": [alerts_file()],
        "evaluation_interval": "1m",
        "tests": tests,
    });
    let dir = temp_dir("alerts");
    // JSON is YAML: promtool reads it as it is.
    let path = dir.join("witness-alerts.scrape.test.yml");
    std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap()).unwrap();
    let (ok, report) = promtool(&["test", "rules"], &path);
    assert!(ok && report.contains("SUCCESS"), "promtool test rules {}:\n{report}", path.display());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The metric names in a PromQL expression: identifiers that are `up` or
/// start with `witness_`, outside strings and not Grafana variables
/// (`$identity`).
fn metrics_in(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut chars = expr.chars().peekable();
    let mut previous = ' ';
    while let Some(c) = chars.next() {
        if c == '"' || c == '\'' || c == '`' {
            // A string: to its unescaped end.
            while let Some(s) = chars.next() {
                if s == '\\' && c != '`' {
                    chars.next();
                } else if s == c {
                    break;
                }
            }
            previous = c;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let mut ident = c.to_string();
            while let Some(&n) = chars.peek() {
                if !(n.is_ascii_alphanumeric() || n == '_' || n == ':') {
                    break;
                }
                ident.push(n);
                chars.next();
            }
            if previous != '$' && (ident == "up" || ident.starts_with("witness_")) {
                names.insert(ident);
            }
            previous = 'a';
            continue;
        }
        previous = c;
    }
    names
}

/// Every panel, rows' nested panels included.
fn panels(panels: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in panels.as_array().into_iter().flatten() {
        out.push(p);
        out.extend(self::panels(&p["panels"]));
    }
    out
}

#[test]
fn the_metric_name_tokenizer_skips_strings_and_variables() {
    let expr = r#"sum by (le) (rate(witness_x_bucket{identity=~"$identity",k="witness_not"}[$__rate_interval])) / up"#;
    assert_eq!(metrics_in(expr), BTreeSet::from(["up".to_string(), "witness_x_bucket".to_string()]));
    assert_eq!(metrics_in("upper(witness_a) or $witness_b"), BTreeSet::from(["witness_a".to_string()]));
}

/// The dashboard queries only what the collector exports, in valid PromQL.
#[test]
fn the_dashboard_queries_the_real_metrics_in_valid_promql() {
    let root = root();
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("deploy/monitoring/grafana/witness.json")).unwrap())
            .unwrap();
    assert_eq!(dashboard["schemaVersion"], 39);
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    let variable = |name: &str| variables.iter().find(|v| v["name"] == name).unwrap_or_else(|| panic!("no ${name}"));
    assert_eq!(variable("DS_PROMETHEUS")["type"], "datasource");
    assert_eq!(variable("DS_PROMETHEUS")["query"], "prometheus");
    assert_eq!(variable("identity")["definition"], "label_values(witness_events_total, identity)");

    let exported = metric_names(&scrape());
    let mut exprs =
        vec![("the identity variable".to_string(), variable("identity")["definition"].as_str().unwrap().to_string())];
    let mut titles = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for panel in panels(&dashboard["panels"]) {
        let title = panel["title"].as_str().unwrap();
        assert!(ids.insert(panel["id"].as_u64().unwrap()), "panel id of {title} used twice");
        titles.insert(title);
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
        let targets = panel["targets"].as_array().unwrap_or_else(|| panic!("{title} has no targets"));
        assert!(!targets.is_empty(), "{title} has no targets");
        for t in targets {
            let expr = t["expr"].as_str().unwrap_or_else(|| panic!("{title}: a target with no expr"));
            exprs.push((format!("{title} {}", t["refId"].as_str().unwrap()), expr.to_string()));
        }
    }
    for want in [
        "Events per identity by outcome",
        "Divergences per identity",
        "Kernel denials",
        "Records lost",
        "Ring fill ratio per CPU",
        "TCP handshake latency",
        "Policy evaluation latency",
        "Collector up",
        "Build information",
    ] {
        assert!(titles.contains(want), "no panel {want:?}: {titles:?}");
    }

    let mut used = BTreeSet::new();
    for (what, expr) in &exprs {
        let names = metrics_in(expr);
        assert!(!names.is_empty(), "{what}: no metric in {expr}");
        for name in names {
            assert!(name == "up" || exported.contains(&name), "{what}: {name} is not in the scrape: {expr}");
            used.insert(name);
        }
    }
    for name in
        ["witness_tcp_handshake_seconds_bucket", "witness_policy_evaluation_seconds_bucket", "witness_build_info"]
    {
        assert!(used.contains(name), "the dashboard does not show {name}");
    }

    // Every query as a recording rule, for promtool's PromQL parser.
    let rules: Vec<Value> = exprs
        .iter()
        .skip(1)
        .enumerate()
        .map(|(i, (what, expr))| {
            let expr = expr.replace("$identity", ".*").replace("$__rate_interval", "5m").replace("$__range", "1h");
            assert!(!expr.contains('$'), "{what}: a variable left in {expr}");
            json!({"record": format!("witness_dashboard:query_{i}"), "expr": expr})
        })
        .collect();
    let dir = temp_dir("dashboard");
    let path = dir.join("dashboard-queries.yml");
    let file = json!({"groups": [{"name": "witness-dashboard", "rules": rules}]});
    std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap()).unwrap();
    let (ok, report) = promtool(&["check", "rules"], &path);
    assert!(
        ok,
        "promtool check rules on the dashboard's queries:\n{report}\n{}",
        std::fs::read_to_string(&path).unwrap()
    );
    assert!(report.contains(&format!("SUCCESS: {} rules found", exprs.len() - 1)), "{report}");
    let _ = std::fs::remove_dir_all(&dir);

    // The provisioning files point at each other's paths.
    let provider =
        std::fs::read_to_string(root.join("deploy/monitoring/grafana/provisioning/dashboards/witness.yml")).unwrap();
    assert!(provider.contains("path: /var/lib/grafana/dashboards/witness\n"), "{provider}");
    let datasource =
        std::fs::read_to_string(root.join("deploy/monitoring/grafana/provisioning/datasources/prometheus.yml"))
            .unwrap();
    assert!(datasource.contains("type: prometheus"), "{datasource}");
}
