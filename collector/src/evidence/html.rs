//! The incident report: one self-contained HTML file rendered from an
//! evidence bundle's report JSON (`witness evidence bundle`), for the
//! security team that opens it offline, attached to a ticket, on screen or
//! on paper.
//!
//! What it shows, top to bottom:
//!
//! - a **header**: title, host, the window, the identity it is about (or
//!   every identity), when it was generated, and the digests of the
//!   inventory and policies in force, in small print;
//! - two **banners** side by side: **Completeness** (green when no record
//!   was lost in the window, red with every loss as one sentence
//!   otherwise, then which events the log holds and which kinds the kernel
//!   did not record) and **Integrity** (green when the chain and its
//!   signed checkpoints verify, red otherwise, with what verify said);
//! - **Verdicts per identity**: a table of outcome counts, each row with a
//!   stacked bar of its allow, review, investigate and deny counts, all
//!   bars on one scale (the largest total is the full width);
//! - **Timeline**: the window's buckets as stacked bars by outcome, with
//!   the bucket start times and the largest bucket's count on the axes;
//! - **Drift** (what each identity declared and did not use, used and did
//!   not declare, and what was not judged allow), **Possession** (who held
//!   which credential; credentials held by someone other than their owner
//!   are highlighted) and **Events** (the events the bundle carries, and
//!   how many it left out).
//!
//! Safety rules. Every string in the input comes, directly or not, from
//! workloads: paths, process names and arguments can be chosen by an
//! attacker (`</td><script>...`). So:
//!
//! - every text and attribute value taken from the input goes through
//!   [`escape`] (`& < > " '`); nothing from the input is ever placed in a
//!   tag name, an attribute name, a URL, a class name, CSS or SVG geometry
//!   (class names and ids are chosen here from fixed lists, numbers are
//!   parsed and formatted again);
//! - the page has no script and needs none: the charts are inline SVG
//!   whose numbers are computed here, the CSS is inline, and there are no
//!   external fonts, images or links to fetch;
//! - its Content-Security-Policy (`default-src 'none'`) forbids scripts
//!   and every network fetch even if something slipped through;
//! - bidirectional-text and control characters are shown as `‹U+202E›`,
//!   so a file name cannot reorder what is displayed around it.
//!
//! Missing sections and fields are shown as "not given"; rendering never
//! fails and never panics, whatever JSON it is given.

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};

use serde_json::Value;

/// The page's Content-Security-Policy: no scripts, no fetches; inline
/// styles and `data:` images only.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// What a missing section or field shows.
const NOT_GIVEN: &str = "<span class=\"ng\">not given</span>";

/// The outcomes in the order bars stack them, with their colours.
const OUTCOMES: [(&str, &str); 4] =
    [("allow", "#86ad92"), ("review", "#e8a800"), ("investigate", "#ef7a1a"), ("deny", "#c62828")];

/// Width of a verdict row's bar, in pixels.
const BAR_WIDTH: f64 = 260.0;

/// Height of a verdict row's bar.
const BAR_HEIGHT: f64 = 16.0;

/// The timeline chart's size and margins.
const CHART_WIDTH: f64 = 1180.0;
const CHART_HEIGHT: f64 = 280.0;
const CHART_LEFT: f64 = 64.0;
const CHART_RIGHT: f64 = 16.0;
const CHART_TOP: f64 = 16.0;
const CHART_BOTTOM: f64 = 60.0;

/// At most this many time labels under the timeline.
const CHART_LABELS: usize = 10;

const STYLE: &str = r#"
:root{--line:#d0d4d9;--muted:#5f6368;--ok:#1e7b34;--okbg:#e7f4ea;--bad:#b71c1c;--badbg:#fdecea}
*{box-sizing:border-box}
html{-webkit-print-color-adjust:exact;print-color-adjust:exact}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans","Liberation Sans",Arial,sans-serif;font-size:14px;line-height:1.45;color:#1a1a1a;background:#fff;margin:0 auto;max-width:1240px;padding:24px}
h1{font-size:24px;margin:0 0 8px}
h2{font-size:18px;margin:28px 0 8px;border-bottom:2px solid var(--line);padding-bottom:4px}
h3{font-size:15px;margin:14px 0 6px}
h4{font-size:13px;margin:10px 0 4px;color:#333}
code{font-family:ui-monospace,"DejaVu Sans Mono","Liberation Mono",Menlo,Consolas,monospace;font-size:12.5px;overflow-wrap:anywhere}
p{margin:4px 0}
.small{font-size:12px;color:var(--muted)}
.ng{color:var(--muted);font-style:italic}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:0}
dl.meta dt{font-weight:600}
dl.meta dd{margin:0;overflow-wrap:anywhere}
.banners{display:grid;grid-template-columns:1fr 1fr;gap:16px;margin-top:20px;align-items:start}
.banner{border:2px solid var(--line);border-left-width:10px;border-radius:6px;padding:12px 16px;background:#f4f5f6}
.banner h2{margin:0 0 6px;border:0;padding:0;font-size:15px;text-transform:uppercase;letter-spacing:.04em;color:#333}
.banner.ok{border-color:var(--ok);background:var(--okbg)}
.banner.bad{border-color:var(--bad);background:var(--badbg)}
.headline{font-size:18px;font-weight:700;margin:0 0 8px}
.ok .headline{color:var(--ok)}
.bad .headline{color:var(--bad)}
.banner ol{margin:4px 0 8px;padding-left:22px}
.banner li{margin:3px 0;overflow-wrap:anywhere}
.pre{white-space:pre-wrap;overflow-wrap:anywhere}
pre{white-space:pre-wrap;overflow-wrap:anywhere;font-size:12px;background:#f4f5f6;border:1px solid var(--line);border-radius:4px;padding:8px}
table{border-collapse:collapse;width:100%;margin:6px 0 10px;font-size:13px}
th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#eef0f3;font-weight:600;white-space:nowrap;overflow-wrap:normal}
td.time,td.tok{white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.bar{width:276px}
.legend{display:flex;gap:16px;flex-wrap:wrap;margin:4px 0 6px;font-size:12px}
.legend span{display:inline-flex;align-items:center;gap:5px}
.cred{border:1px solid var(--line);border-radius:6px;padding:8px 12px;margin:10px 0}
.cred h3{margin:2px 0 4px}
.cred.divergent{border:2px solid var(--bad);border-left-width:8px;background:var(--badbg)}
.tag{display:inline-block;font-size:11px;font-weight:700;padding:1px 6px;border-radius:3px;color:#fff;background:var(--muted);vertical-align:middle}
.tag.bad{background:var(--bad)}
.o-allow{color:#3d6b4a;font-weight:600}
.o-review{color:#8a6500;font-weight:600}
.o-investigate{color:#b2520a;font-weight:600}
.o-deny{color:var(--bad);font-weight:700}
tr.o-row-deny td{background:#fdf0ee}
tr.o-row-investigate td{background:#fff5ea}
svg{display:block}
svg text{font-family:system-ui,"DejaVu Sans",Arial,sans-serif;fill:#333}
.chart{max-width:100%;height:auto}
footer{margin-top:32px;font-size:12px;color:var(--muted);border-top:1px solid var(--line);padding-top:8px}
@media (max-width:820px){.banners{grid-template-columns:1fr}}
@media print{body{max-width:none;padding:0;font-size:11px}h2{break-after:avoid}.banner,.cred,tr,svg{break-inside:avoid}thead{display:table-header-group}a{color:inherit;text-decoration:none}}
"#;

/// Escapes `s` for HTML text and for (quoted) attribute values: `&`, `<`,
/// `>`, `"` and `'` become character references. Control and
/// bidirectional-formatting characters are shown as `‹U+XXXX›` so that
/// they cannot hide or reorder what is displayed (newlines and tabs are
/// kept).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() || is_bidi_control(c) => {
                let _ = write!(out, "\u{2039}U+{:04X}\u{203a}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Renders the report JSON as one self-contained HTML page. Any JSON is
/// accepted: what is missing or of the wrong type shows as "not given".
pub fn render(report: &Value) -> String {
    let mut out = String::with_capacity(64 * 1024);
    // Writing to a String does not fail.
    let _ = page(&mut out, report);
    out
}

fn page(out: &mut String, r: &Value) -> fmt::Result {
    let title = r.get("title").and_then(Value::as_str).unwrap_or("witness incident report");
    let title = escape(title);
    write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n\
         <meta name=\"referrer\" content=\"no-referrer\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
    )?;
    header(out, r, &title)?;
    out.push_str("<div class=\"banners\">\n");
    completeness(out, r.get("completeness"))?;
    integrity(out, r.get("integrity"))?;
    out.push_str("</div>\n");
    if let Some(text) = r.get("completeness_text").and_then(Value::as_str) {
        writeln!(
            out,
            "<details open id=\"completeness-text\"><summary class=\"small\">Completeness as <code>witness evidence completeness</code> states it</summary><pre>{}</pre></details>",
            escape(text)
        )?;
    }
    verdicts(out, r.get("verdicts"))?;
    timeline(out, r.get("timeline"))?;
    let shown = shown_events(r.get("events"));
    drift(out, r.get("drift"), &shown)?;
    possession(out, r.get("possession"))?;
    events(out, r.get("events"), r.get("events_not_shown"))?;
    write!(
        out,
        "<footer>Rendered by witness {}. This file is self-contained: it runs no script and fetches nothing.</footer>\n</body>\n</html>\n",
        escape(env!("CARGO_PKG_VERSION"))
    )
}

/// A field, escaped for display; "not given" when missing or null.
fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => NOT_GIVEN.to_string(),
        Some(Value::String(s)) => escape(s),
        Some(other) => escape(&other.to_string()),
    }
}

/// A field shown as code (identities, paths, digests).
fn code(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => NOT_GIVEN.to_string(),
        v => format!("<code>{}</code>", text(v)),
    }
}

/// A count, when it is one.
fn count(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64)
}

/// A count for display.
fn number(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(n) if n.is_u64() => n.to_string(),
        Some(Value::Null) | None => NOT_GIVEN.to_string(),
        other => text(other),
    }
}

/// A yes/no field for display.
fn yes_no(v: Option<&Value>) -> String {
    match v {
        Some(Value::Bool(true)) => "yes".to_string(),
        Some(Value::Bool(false)) => "no".to_string(),
        other => text(other),
    }
}

/// Unix nanoseconds (a JSON integer, or a string of one) as RFC 3339 UTC.
fn unix_ns(v: Option<&Value>) -> Option<String> {
    let ns: i128 = match v? {
        Value::Number(n) => n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from))?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    jiff::Timestamp::from_nanosecond(ns).ok().map(|t| t.to_string())
}

/// A `*_unix_ns` field for display.
fn time_ns(v: &Value, key: &str) -> String {
    match unix_ns(v.get(key)) {
        Some(t) => t,
        None => match v.get(key) {
            None | Some(Value::Null) => NOT_GIVEN.to_string(),
            other => format!("{} (not a time)", text(other)),
        },
    }
}

/// A list of strings for display, comma-separated; `empty` when there
/// are none.
fn list(v: Option<&Value>, empty: &str) -> String {
    match v.and_then(Value::as_array) {
        Some(a) if a.is_empty() => empty.to_string(),
        Some(a) => a.iter().map(|x| code(Some(x))).collect::<Vec<_>>().join(", "),
        None => text(v),
    }
}

/// An array field: `Ok(items)`, or what to show instead (not given).
fn items(v: Option<&Value>) -> Result<&[Value], String> {
    match v {
        Some(Value::Array(a)) => Ok(a),
        None | Some(Value::Null) => Err(NOT_GIVEN.to_string()),
        Some(other) => Err(format!("{} (not a list)", text(Some(other)))),
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// The class of an outcome's text, for the fixed outcomes only.
fn outcome_class(outcome: Option<&str>) -> &'static str {
    match outcome {
        Some("allow") => "o-allow",
        Some("review") => "o-review",
        Some("investigate") => "o-investigate",
        Some("deny") => "o-deny",
        _ => "",
    }
}

fn header(out: &mut String, r: &Value, title: &str) -> fmt::Result {
    let window = r.get("window");
    let (from, to) = match window {
        Some(w) if w.is_object() => (text(w.get("from")), text(w.get("to"))),
        _ => (NOT_GIVEN.to_string(), NOT_GIVEN.to_string()),
    };
    let identity = match r.get("identity") {
        Some(Value::Null) => "every identity".to_string(),
        v => code(v),
    };
    write!(
        out,
        "<header id=\"header\">\n<h1>{title}</h1>\n<dl class=\"meta\">\n\
         <dt>Host</dt><dd id=\"host\">{}</dd>\n\
         <dt>Window</dt><dd id=\"window\">{from} to {to}</dd>\n\
         <dt>Identity</dt><dd id=\"identity\">{identity}</dd>\n\
         <dt>Generated</dt><dd id=\"generated\">{}</dd>\n</dl>\n",
        code(r.get("host")),
        text(r.get("generated")),
    )?;
    out.push_str("<p class=\"small\" id=\"config\">Configuration in force: ");
    match r.get("config").and_then(Value::as_object) {
        Some(c) if !c.is_empty() => {
            let parts: Vec<String> =
                c.iter().map(|(k, v)| format!("{} <code>{}</code>", escape(k), text(Some(v)))).collect();
            out.push_str(&parts.join("; "));
        }
        Some(_) => out.push_str("no digests"),
        None => out.push_str(NOT_GIVEN),
    }
    out.push_str("</p>\n</header>\n");
    Ok(())
}

/// One loss as a sentence (its fields escaped, its times in RFC 3339).
fn loss_sentence(l: &Value) -> String {
    let from = time_ns(l, "from_unix_ns");
    let to = time_ns(l, "to_unix_ns");
    match l.get("loss").and_then(Value::as_str) {
        Some("gap") => {
            let cpu = number(l, "cpu");
            let around = match l.get("identities").and_then(Value::as_array) {
                Some(ids) if ids.is_empty() => format!("no events in the log on CPU {cpu} around it"),
                Some(_) => format!("around it on CPU {cpu}: {}", list(l.get("identities"), "")),
                None => "identities around it: not given".to_string(),
            };
            format!(
                "CPU {cpu}: records {}..={} ({}) lost between {from} and {to}; {around}",
                number(l, "first_seq"),
                number(l, "last_seq"),
                number(l, "records")
            )
        }
        Some("dropped") => format!(
            "CPU {}: {} records dropped by the kernel between {from} and {to} that no sequence gap names (no collector read them, or no record came after them)",
            number(l, "cpu"),
            number(l, "records")
        ),
        Some("before_ring") => format!(
            "{} events lost before the ring (probe misses) between {from} and {to}; hooks: {}",
            number(l, "events"),
            list(l.get("hooks"), "none named")
        ),
        Some("lines_not_written") => format!(
            "{} evidence lines of events between {from} and {to} were not written: {}",
            number(l, "lines"),
            text(l.get("why"))
        ),
        Some("not_observed") => format!("nothing observed between {from} and {to}: {}", text(l.get("why"))),
        Some(other) => format!("a loss of kind {}: <code>{}</code>", escape(other), escape(&l.to_string())),
        None => format!("a loss of unstated kind: <code>{}</code>", escape(&l.to_string())),
    }
}

fn completeness(out: &mut String, c: Option<&Value>) -> fmt::Result {
    let Some(c) = c.filter(|c| c.is_object()) else {
        return write!(
            out,
            "<section id=\"completeness\" class=\"banner\">\n<h2>Completeness</h2>\n<p class=\"headline\">Completeness: {NOT_GIVEN}</p>\n</section>\n"
        );
    };
    let losses = c.get("losses").and_then(Value::as_array);
    let (class, headline) = match c.get("complete").and_then(Value::as_bool) {
        Some(true) => ("ok", "Complete: no record was lost in the window".to_string()),
        Some(false) => match losses {
            Some(l) => ("bad", format!("Incomplete: {}", plural(l.len(), "loss", "losses"))),
            None => ("bad", format!("Incomplete: losses {NOT_GIVEN}")),
        },
        None => ("", format!("Completeness: {NOT_GIVEN}")),
    };
    write!(
        out,
        "<section id=\"completeness\" class=\"banner {class}\">\n<h2>Completeness</h2>\n<p class=\"headline\" id=\"completeness-headline\">{headline}</p>\n"
    )?;
    if let Some(losses) = losses.filter(|l| !l.is_empty()) {
        out.push_str("<ol class=\"losses\">\n");
        for l in losses {
            writeln!(out, "<li>{}</li>", loss_sentence(l))?;
        }
        out.push_str("</ol>\n");
    }
    let who = match c.get("identity") {
        Some(Value::Null) => "every identity".to_string(),
        v => code(v),
    };
    writeln!(
        out,
        "<p>Window checked: {} to {}, {who}: {} events in the log.</p>",
        time_ns(c, "from_unix_ns"),
        time_ns(c, "to_unix_ns"),
        number(c, "events")
    )?;
    let scope = match c.get("evidence").and_then(Value::as_str) {
        Some("all") => "every judged event is in the log".to_string(),
        Some("not_allow") => {
            "only events not judged allow are in the log (allowed ones are counted in metrics, not written)".to_string()
        }
        Some("mixed") => "mixed: collectors in the window ran differently, some wrote every judged event, some only those not judged allow".to_string(),
        _ => text(c.get("evidence")),
    };
    writeln!(out, "<p id=\"evidence-scope\">Evidence: {scope}.</p>")?;
    writeln!(
        out,
        "<p id=\"kinds-not-recorded\">Kinds not recorded (off in the kernel's configuration): {}.</p>",
        list(c.get("kinds_not_recorded"), "none, every kind was recorded")
    )?;
    if let Some(filtered) = c.get("filtered").and_then(Value::as_object).filter(|f| !f.is_empty()) {
        let by_hook: Vec<String> =
            filtered.iter().map(|(hook, n)| format!("{} {}", escape(hook), n.as_u64().unwrap_or(0))).collect();
        writeln!(
            out,
            "<p id=\"filtered\">Discarded by the kernel's filters (not recorded, by configuration): {}.</p>",
            by_hook.join(", ")
        )?;
    }
    out.push_str("</section>\n");
    Ok(())
}

fn integrity(out: &mut String, i: Option<&Value>) -> fmt::Result {
    let Some(i) = i.filter(|i| i.is_object()) else {
        return write!(
            out,
            "<section id=\"integrity\" class=\"banner\">\n<h2>Integrity</h2>\n<p class=\"headline\">Integrity: {NOT_GIVEN}</p>\n</section>\n"
        );
    };
    let (class, headline) = match i.get("intact").and_then(Value::as_bool) {
        Some(true) => ("ok", "Intact: the log verifies".to_string()),
        Some(false) => ("bad", "Not intact: the log does not verify".to_string()),
        None => ("", format!("Integrity: {NOT_GIVEN}")),
    };
    write!(
        out,
        "<section id=\"integrity\" class=\"banner {class}\">\n<h2>Integrity</h2>\n<p class=\"headline\" id=\"integrity-headline\">{headline}</p>\n<p class=\"pre\" id=\"integrity-text\">{}</p>\n</section>\n",
        text(i.get("text"))
    )
}

/// The four outcome counts of a row (missing ones count 0), in
/// [`OUTCOMES`] order.
fn outcome_counts(v: &Value) -> [u64; 4] {
    OUTCOMES.map(|(name, _)| count(v, name).unwrap_or(0))
}

/// The sum of outcome counts (saturating: counts come from the input).
fn total(counts: &[u64; 4]) -> u64 {
    counts.iter().fold(0, |a, c| a.saturating_add(*c))
}

/// The widths of a bar's segments, on a scale where `max` is `width`.
fn segments(counts: &[u64; 4], max: u64, width: f64) -> [f64; 4] {
    if max == 0 {
        return [0.0; 4];
    }
    // CAST: counts are far below 2^53; the precision of a pixel is enough.
    counts.map(|c| c as f64 * width / max as f64)
}

fn legend(out: &mut String) -> fmt::Result {
    out.push_str("<div class=\"legend\">");
    for (name, colour) in OUTCOMES {
        write!(
            out,
            "<span><svg width=\"12\" height=\"12\" viewBox=\"0 0 12 12\" aria-hidden=\"true\"><rect width=\"12\" height=\"12\" rx=\"2\" fill=\"{colour}\"/></svg>{name}</span>"
        )?;
    }
    out.push_str("</div>\n");
    Ok(())
}

fn bar(out: &mut String, counts: &[u64; 4], max: u64) -> fmt::Result {
    let label: Vec<String> = OUTCOMES.iter().zip(counts).map(|((name, _), c)| format!("{name} {c}")).collect();
    write!(
        out,
        "<svg class=\"bar\" width=\"{BAR_WIDTH}\" height=\"{BAR_HEIGHT}\" viewBox=\"0 0 {BAR_WIDTH} {BAR_HEIGHT}\" role=\"img\" aria-label=\"{}\">",
        label.join(", ")
    )?;
    write!(out, "<rect width=\"{BAR_WIDTH}\" height=\"{BAR_HEIGHT}\" fill=\"#f0f1f3\"/>")?;
    let mut x = 0.0;
    for (((name, colour), c), w) in OUTCOMES.iter().zip(counts).zip(segments(counts, max, BAR_WIDTH)) {
        if *c == 0 {
            continue;
        }
        write!(
            out,
            "<rect class=\"seg\" data-outcome=\"{name}\" x=\"{x:.2}\" y=\"0\" width=\"{w:.2}\" height=\"{BAR_HEIGHT}\" fill=\"{colour}\"><title>{name}: {c}</title></rect>"
        )?;
        x += w;
    }
    out.push_str("</svg>");
    Ok(())
}

fn verdicts(out: &mut String, v: Option<&Value>) -> fmt::Result {
    out.push_str("<section id=\"verdicts\">\n<h2>Verdicts per identity</h2>\n");
    let rows = match items(v) {
        Ok(rows) => rows,
        Err(e) => return writeln!(out, "<p>Verdicts: {e}</p>\n</section>"),
    };
    if rows.is_empty() {
        return out.write_str("<p>No identity had a judged event in the window.</p>\n</section>\n");
    }
    legend(out)?;
    let max = rows.iter().map(|r| total(&outcome_counts(r))).max().unwrap_or(0);
    out.push_str(
        "<table>\n<thead><tr><th>Identity</th><th>Owner</th><th class=\"num\">Allow</th><th class=\"num\">Deny</th><th class=\"num\">Review</th><th class=\"num\">Investigate</th><th class=\"num\">Kernel denied</th><th>Outcomes</th></tr></thead>\n<tbody>\n",
    );
    for r in rows {
        let owner = match r.get("owner") {
            Some(Value::Null) => "<span class=\"ng\">none</span>".to_string(),
            v => text(v),
        };
        write!(
            out,
            "<tr><td>{}</td><td>{owner}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"bar\">",
            code(r.get("identity")),
            number(r, "allow"),
            number(r, "deny"),
            number(r, "review"),
            number(r, "investigate"),
            number(r, "kernel_denied"),
        )?;
        bar(out, &outcome_counts(r), max)?;
        out.push_str("</td></tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
    Ok(())
}

/// A bucket's start as an axis label: the time of day when it parses.
fn time_label(start: Option<&Value>, seconds: Option<u64>) -> String {
    let Some(s) = start.and_then(Value::as_str) else { return "?".to_string() };
    match s.parse::<jiff::Timestamp>() {
        Ok(t) if seconds.is_some_and(|s| s % 60 == 0) => t.strftime("%H:%M").to_string(),
        Ok(t) => t.strftime("%H:%M:%S").to_string(),
        Err(_) => escape(&s.chars().take(16).collect::<String>()),
    }
}

fn timeline(out: &mut String, t: Option<&Value>) -> fmt::Result {
    out.push_str("<section id=\"timeline\">\n<h2>Timeline</h2>\n");
    let Some(t) = t.filter(|t| t.is_object()) else {
        return writeln!(out, "<p>Timeline: {NOT_GIVEN}</p>\n</section>");
    };
    let seconds = count(t, "bucket_seconds");
    let buckets = match items(t.get("buckets")) {
        Ok(b) => b,
        Err(e) => return writeln!(out, "<p>Buckets: {e}</p>\n</section>"),
    };
    if buckets.is_empty() {
        return out.write_str("<p>No buckets: no judged event in the window.</p>\n</section>\n");
    }
    writeln!(
        out,
        "<p class=\"small\">Judged events per bucket of {} s, from {} to the bucket starting {} (UTC).</p>",
        number(t, "bucket_seconds"),
        text(buckets.first().and_then(|b| b.get("start"))),
        text(buckets.last().and_then(|b| b.get("start"))),
    )?;
    legend(out)?;
    let counts: Vec<[u64; 4]> = buckets.iter().map(outcome_counts).collect();
    let max = counts.iter().map(total).max().unwrap_or(0);
    let scale = max.max(1);
    let plot_w = CHART_WIDTH - CHART_LEFT - CHART_RIGHT;
    let plot_h = CHART_HEIGHT - CHART_TOP - CHART_BOTTOM;
    let bottom = CHART_TOP + plot_h;
    // CAST: a bucket count is far below 2^53.
    let slot = plot_w / buckets.len() as f64;
    let bar_w = (slot * 0.8).max(0.5);
    writeln!(
        out,
        "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {CHART_WIDTH} {CHART_HEIGHT}\" width=\"{CHART_WIDTH}\" height=\"{CHART_HEIGHT}\" role=\"img\" aria-label=\"judged events per bucket, stacked by outcome; the largest bucket has {max}\">"
    )?;
    // Axes and the grid lines at the top (max) and half way.
    let right = CHART_LEFT + plot_w;
    let top = CHART_TOP;
    let mid = CHART_TOP + plot_h / 2.0;
    write!(
        out,
        "<line x1=\"{CHART_LEFT}\" y1=\"{top}\" x2=\"{right}\" y2=\"{top}\" stroke=\"#d0d4d9\" stroke-dasharray=\"4 3\"/>\n\
         <line x1=\"{CHART_LEFT}\" y1=\"{mid}\" x2=\"{right}\" y2=\"{mid}\" stroke=\"#e3e6e9\" stroke-dasharray=\"4 3\"/>\n\
         <line x1=\"{CHART_LEFT}\" y1=\"{top}\" x2=\"{CHART_LEFT}\" y2=\"{bottom}\" stroke=\"#555\"/>\n\
         <line x1=\"{CHART_LEFT}\" y1=\"{bottom}\" x2=\"{right}\" y2=\"{bottom}\" stroke=\"#555\"/>\n\
         <text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"end\" class=\"y-max\">{max}</text>\n\
         <text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"end\">0</text>\n\
         <text x=\"14\" y=\"{mid}\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 14 {mid})\">events per bucket</text>\n",
        CHART_LEFT - 6.0,
        top + 4.0,
        CHART_LEFT - 6.0,
        bottom + 4.0,
    )?;
    // CAST: the precision of a pixel is enough.
    let px = |n: u64| n as f64 * plot_h / scale as f64;
    let every = buckets.len().div_ceil(CHART_LABELS).max(1);
    for (i, (b, c)) in buckets.iter().zip(&counts).enumerate() {
        // CAST: as above.
        let x = CHART_LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
        let when = text(b.get("start"));
        let total = total(c);
        write!(out, "<g class=\"bucket\" data-total=\"{total}\">")?;
        let mut y = bottom;
        for ((name, colour), n) in OUTCOMES.iter().zip(c) {
            if *n == 0 {
                continue;
            }
            let h = px(*n);
            y -= h;
            write!(
                out,
                "<rect x=\"{x:.2}\" y=\"{y:.2}\" width=\"{bar_w:.2}\" height=\"{h:.2}\" fill=\"{colour}\"><title>{when}: {name} {n}</title></rect>"
            )?;
        }
        out.push_str("</g>\n");
        if i % every == 0 {
            let cx = x + bar_w / 2.0;
            let ty = bottom + 16.0;
            writeln!(
                out,
                "<line x1=\"{cx:.2}\" y1=\"{bottom}\" x2=\"{cx:.2}\" y2=\"{:.2}\" stroke=\"#555\"/><text x=\"{cx:.2}\" y=\"{ty}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
                bottom + 4.0,
                time_label(b.get("start"), seconds)
            )?;
        }
    }
    writeln!(
        out,
        "<text x=\"{:.2}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\">bucket start (UTC)</text>\n</svg>\n</section>",
        CHART_LEFT + plot_w / 2.0,
        CHART_HEIGHT - 12.0
    )
}

/// The event numbers (`n`) in the events table, for links to them.
fn shown_events(events: Option<&Value>) -> BTreeSet<u64> {
    events.and_then(Value::as_array).map(|e| e.iter().filter_map(|e| count(e, "n")).collect()).unwrap_or_default()
}

/// An event number, linked to its row when the table shows it.
fn event_link(v: &Value, key: &str, shown: &BTreeSet<u64>) -> String {
    match count(v, key) {
        Some(n) if shown.contains(&n) => format!("<a href=\"#event-{n}\">event {n}</a>"),
        Some(n) => format!("event {n}"),
        None => text(v.get(key)),
    }
}

fn drift(out: &mut String, d: Option<&Value>, shown: &BTreeSet<u64>) -> fmt::Result {
    out.push_str("<section id=\"drift\">\n<h2>Drift: declared against used</h2>\n");
    let entries = match items(d) {
        Ok(e) => e,
        Err(e) => return writeln!(out, "<p>Drift: {e}</p>\n</section>"),
    };
    if entries.is_empty() {
        return out.write_str("<p>No identity drifted from what its inventory entry declares.</p>\n</section>\n");
    }
    for e in entries {
        writeln!(out, "<div class=\"drift-entry\">\n<h3>{}</h3>", code(e.get("identity")))?;

        out.push_str("<h4>Declared, not used in the window</h4>\n");
        match items(e.get("declared_unused")) {
            Ok([]) => out.push_str("<p>None: everything declared was used.</p>\n"),
            Ok(rows) => {
                out.push_str("<table><thead><tr><th>What</th><th>Value</th></tr></thead><tbody>\n");
                for r in rows {
                    writeln!(out, "<tr><td>{}</td><td>{}</td></tr>", text(r.get("what")), code(r.get("value")))?;
                }
                out.push_str("</tbody></table>\n");
            }
            Err(e) => writeln!(out, "<p>{e}</p>")?,
        }

        out.push_str("<h4>Used, not declared</h4>\n");
        match items(e.get("used_undeclared")) {
            Ok([]) => out.push_str("<p>None: nothing undeclared was used.</p>\n"),
            Ok(rows) => {
                out.push_str("<table><thead><tr><th>What</th><th>Value</th><th class=\"num\">Count</th><th>First</th><th>Last</th><th>Example</th></tr></thead><tbody>\n");
                for r in rows {
                    writeln!(
                        out,
                        "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"time\">{}</td><td class=\"time\">{}</td><td>{}</td></tr>",
                        text(r.get("what")),
                        code(r.get("value")),
                        number(r, "count"),
                        text(r.get("first")),
                        text(r.get("last")),
                        event_link(r, "example", shown),
                    )?;
                }
                out.push_str("</tbody></table>\n");
            }
            Err(e) => writeln!(out, "<p>{e}</p>")?,
        }

        out.push_str("<h4>Not judged allow</h4>\n");
        match items(e.get("non_allow")) {
            Ok([]) => out.push_str("<p>None: every event was judged allow.</p>\n"),
            Ok(rows) => {
                out.push_str(
                    "<table><thead><tr><th>Kind</th><th>Outcome</th><th class=\"num\">Count</th></tr></thead><tbody>\n",
                );
                for r in rows {
                    let outcome = r.get("outcome");
                    writeln!(
                        out,
                        "<tr><td class=\"tok\">{}</td><td class=\"tok {}\">{}</td><td class=\"num\">{}</td></tr>",
                        text(r.get("kind")),
                        outcome_class(outcome.and_then(Value::as_str)),
                        text(outcome),
                        number(r, "count"),
                    )?;
                }
                out.push_str("</tbody></table>\n");
            }
            Err(e) => writeln!(out, "<p>{e}</p>")?,
        }
        out.push_str("</div>\n");
    }
    out.push_str("</section>\n");
    Ok(())
}

fn possession(out: &mut String, p: Option<&Value>) -> fmt::Result {
    out.push_str("<section id=\"possession\">\n<h2>Credential possession</h2>\n");
    let creds = match items(p) {
        Ok(c) => c,
        Err(e) => return writeln!(out, "<p>Possession: {e}</p>\n</section>"),
    };
    if creds.is_empty() {
        return out.write_str("<p>No credential was opened in the window.</p>\n</section>\n");
    }
    for c in creds {
        let divergent = c.get("divergent").and_then(Value::as_bool) == Some(true);
        let (class, tag) = if divergent {
            (" divergent", " <span class=\"tag bad\">divergent: held by an identity that does not own it</span>")
        } else {
            ("", "")
        };
        write!(
            out,
            "<div class=\"cred{class}\">\n<h3>{}{tag}</h3>\n<p>Kind: {}; owner: {}; divergent: {}; the owner used it: {}.</p>\n",
            code(c.get("credential")),
            text(c.get("kind")),
            match c.get("owner") {
                Some(Value::Null) => "<span class=\"ng\">none</span>".to_string(),
                v => code(v),
            },
            yes_no(c.get("divergent")),
            yes_no(c.get("owner_used")),
        )?;
        match items(c.get("holders")) {
            Ok([]) => out.push_str("<p>No holder.</p>\n"),
            Ok(rows) => {
                out.push_str("<table><thead><tr><th>Holder</th><th>Process</th><th>Opened as</th><th class=\"num\">Opens</th><th class=\"num\">Allowed</th><th class=\"num\">Denied</th><th>First</th><th>Last</th></tr></thead><tbody>\n");
                for h in rows {
                    writeln!(
                        out,
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"time\">{}</td><td class=\"time\">{}</td></tr>",
                        code(h.get("identity")),
                        code(h.get("process")),
                        code(h.get("path")),
                        number(h, "count"),
                        number(h, "allowed"),
                        number(h, "denied"),
                        text(h.get("first")),
                        text(h.get("last")),
                    )?;
                }
                out.push_str("</tbody></table>\n");
            }
            Err(e) => writeln!(out, "<p>Holders: {e}</p>")?,
        }
        out.push_str("</div>\n");
    }
    out.push_str("</section>\n");
    Ok(())
}

fn events(out: &mut String, e: Option<&Value>, not_shown: Option<&Value>) -> fmt::Result {
    out.push_str("<section id=\"events\">\n<h2>Events</h2>\n");
    let rows = match items(e) {
        Ok(rows) => rows,
        Err(e) => {
            writeln!(out, "<p>Events: {e}</p>")?;
            &[]
        }
    };
    if !rows.is_empty() {
        out.push_str("<table>\n<thead><tr><th class=\"num\">#</th><th>Time</th><th>Identity</th><th>Kind</th><th>Outcome</th><th>Divergence</th><th>Summary</th></tr></thead>\n<tbody>\n");
        let mut ids = BTreeSet::new();
        for r in rows {
            let id = match count(r, "n") {
                Some(n) if ids.insert(n) => format!(" id=\"event-{n}\""),
                _ => String::new(),
            };
            let outcome = r.get("outcome");
            let row_class = match outcome.and_then(Value::as_str) {
                Some("deny") => " class=\"o-row-deny\"",
                Some("investigate") => " class=\"o-row-investigate\"",
                _ => "",
            };
            writeln!(
                out,
                "<tr{id}{row_class}><td class=\"num\">{}</td><td class=\"time\">{}</td><td>{}</td><td class=\"tok\">{}</td><td class=\"tok {}\">{}</td><td class=\"tok\">{}</td><td>{}</td></tr>",
                number(r, "n"),
                text(r.get("time")),
                code(r.get("identity")),
                text(r.get("kind")),
                outcome_class(outcome.and_then(Value::as_str)),
                text(outcome),
                match r.get("divergence") {
                    Some(Value::Null) => String::new(),
                    v => text(v),
                },
                code(r.get("summary")),
            )?;
        }
        out.push_str("</tbody>\n</table>\n");
    } else if e.is_some_and(Value::is_array) {
        out.push_str("<p>No event in the bundle.</p>\n");
    }
    let more = match not_shown {
        Some(n) if n.as_u64() == Some(0) => format!("All {} of the bundle's events are shown.", rows.len()),
        Some(n) if n.is_u64() => format!("{n} more not shown (the bundle carries the first {} only).", rows.len()),
        other => format!("Events not shown: {}.", text(other)),
    };
    writeln!(out, "<p id=\"events-not-shown\">{more}</p>\n</section>")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The part of `html` from the element with `id` to the end of its
    /// section.
    fn section<'a>(html: &'a str, id: &str) -> &'a str {
        let start = html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no id {id}"));
        let rest = &html[start..];
        let end = ["</section>", "</dd>"].iter().filter_map(|m| rest.find(m)).min().unwrap_or(rest.len());
        &rest[..end]
    }

    fn full() -> Value {
        json!({
            "title": "witness incident report",
            "generated": "2026-12-02T16:40:00Z",
            "host": "node-7",
            "window": {"from": "2026-12-02T10:00:00Z", "to": "2026-12-02T11:00:00Z"},
            "identity": "spiffe://demo.witness.test/data/batch",
            "config": {"inventory": "sha256:aa", "policies": "sha256:bb"},
            "integrity": {"intact": true, "text": "intact: 12 checkpoints"},
            "completeness": {"complete": false, "from_unix_ns": 1_796_205_600_000_000_000_i64,
                "to_unix_ns": "1796209200000000000", "identity": null, "events": 420, "evidence": "all",
                "kinds_not_recorded": ["ptrace_attach"],
                "losses": [{"loss": "gap", "cpu": 1, "first_seq": 1200, "last_seq": 1236, "records": 37,
                    "from_unix_ns": 1_796_205_780_000_000_000_i64, "to_unix_ns": 1_796_205_780_500_000_000_i64,
                    "identities": ["spiffe://demo.witness.test/data/batch", "unattested"]}]},
            "verdicts": [
                {"identity": "spiffe://demo.witness.test/data/batch", "owner": "team-data", "allow": 120, "deny": 1, "review": 0, "investigate": 3, "kernel_denied": 1},
                {"identity": "unattested", "owner": null, "allow": 40, "deny": 0, "review": 0, "investigate": 0, "kernel_denied": 0}],
            "timeline": {"bucket_seconds": 60, "buckets": [
                {"start": "2026-12-02T10:00:00Z", "allow": 10, "deny": 0, "review": 0, "investigate": 1},
                {"start": "2026-12-02T10:01:00Z", "allow": 30, "deny": 1, "review": 0, "investigate": 2}]},
            "events": [{"time": "2026-12-02T10:03:00.123Z", "identity": "spiffe://demo.witness.test/data/batch", "kind": "file_open",
                "outcome": "investigate", "divergence": "foreign_secret", "summary": "open /srv/payments/secrets/db.key by cat (pid 212)", "n": 1234}],
            "events_not_shown": 3,
            "drift": [{"identity": "spiffe://demo.witness.test/data/batch",
                "declared_unused": [{"what": "peer", "value": "spiffe://demo.witness.test/payments/db"}],
                "used_undeclared": [{"what": "peer", "value": "10.0.0.9:443", "count": 3, "first": "2026-12-02T10:03:00Z", "last": "2026-12-02T10:04:00Z", "example": 1234}],
                "non_allow": [{"kind": "sock_connect", "outcome": "investigate", "count": 3}]}],
            "possession": [{"credential": "/srv/payments/secrets/db.key", "kind": "secret", "owner": "spiffe://demo.witness.test/payments/db",
                "divergent": true, "owner_used": false,
                "holders": [{"identity": "spiffe://demo.witness.test/data/batch", "process": "/bin/cat", "path": "/tmp/link-to-key",
                    "count": 1, "allowed": 1, "denied": 0, "first": "2026-12-02T10:03:00Z", "last": "2026-12-02T10:03:00Z"}]}]
        })
    }

    #[test]
    fn escape_covers_the_five_characters() {
        assert_eq!(
            escape(r#"<a href="x" b='y'>&amp;</a>"#),
            "&lt;a href=&quot;x&quot; b=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;"
        );
        assert_eq!(escape("plain /srv/x\nnext"), "plain /srv/x\nnext");
        assert_eq!(escape("a\u{202e}gpj.exe\u{1b}"), "a\u{2039}U+202E\u{203a}gpj.exe\u{2039}U+001B\u{203a}");
    }

    #[test]
    fn hostile_strings_never_appear_unescaped() {
        let hostile = [
            "<script>alert(1)</script>",
            "\"onmouseover=\"x",
            "X1&amp;Y1",
            "</td><script>document.title='pwned'</script>",
            "<SCRIPT SRC=//x>",
            "'><img src=x onerror=alert(2)>",
        ];
        let mut report = full();
        for (i, h) in hostile.iter().enumerate() {
            let h = format!("{h}#{i}");
            report["title"] = json!(h);
            report["host"] = json!(h);
            report["identity"] = json!(h);
            report["generated"] = json!(h);
            report["window"] = json!({"from": h, "to": h});
            report["config"] = json!({h.clone(): h});
            report["integrity"]["text"] = json!(h);
            report["completeness_text"] = json!(h);
            report["completeness"]["evidence"] = json!(h);
            report["completeness"]["kinds_not_recorded"] = json!([h]);
            report["completeness"]["losses"] = json!([
                {"loss": "gap", "cpu": h, "first_seq": 1, "last_seq": 2, "records": 2, "from_unix_ns": h, "to_unix_ns": 2, "identities": [h]},
                {"loss": "lines_not_written", "lines": 1, "from_unix_ns": 1, "to_unix_ns": 2, "why": h},
                {"loss": "before_ring", "events": 1, "hooks": [h], "from_unix_ns": 1, "to_unix_ns": 2},
                {"loss": h, "x": h},
            ]);
            report["verdicts"][0]["identity"] = json!(h);
            report["verdicts"][0]["owner"] = json!(h);
            report["verdicts"][1]["allow"] = json!(h);
            report["timeline"]["buckets"][0]["start"] = json!(h);
            report["timeline"]["bucket_seconds"] = json!(h);
            report["events"][0]["summary"] = json!(h);
            report["events"][0]["kind"] = json!(h);
            report["events"][0]["outcome"] = json!(h);
            report["events"][0]["n"] = json!(h);
            report["events_not_shown"] = json!(h);
            report["drift"][0]["identity"] = json!(h);
            report["drift"][0]["used_undeclared"][0]["value"] = json!(h);
            report["drift"][0]["used_undeclared"][0]["example"] = json!(h);
            report["drift"][0]["non_allow"][0]["outcome"] = json!(h);
            report["possession"][0]["credential"] = json!(h);
            report["possession"][0]["holders"][0]["process"] = json!(h);
            report["possession"][0]["holders"][0]["path"] = json!(h);
            let html = render(&report);
            assert!(!html.to_ascii_lowercase().contains("<script"), "{h}: a <script in\n{html}");
            assert!(!html.to_ascii_lowercase().contains("<img"), "{h}: an <img in\n{html}");
            assert!(!html.contains(&h), "{h} appears unescaped");
            assert!(html.contains(&escape(&h)), "{h} does not appear escaped");
            assert!(!html.contains("onmouseover=\""), "{h}: an onmouseover attribute");
            assert!(!html.contains("X1&amp;Y1"), "{h}: &amp; not escaped");
        }
    }

    #[test]
    fn missing_sections_show_not_given() {
        let html = render(&json!({}));
        assert!(html.contains("Content-Security-Policy"));
        for id in ["identity", "completeness", "integrity", "verdicts", "timeline", "drift", "possession", "events"] {
            assert!(section(&html, id).contains("not given"), "{id} does not say not given:\n{}", section(&html, id));
        }
        assert!(!html.contains("<script"));

        let only = json!({"completeness": {"complete": true, "losses": [], "evidence": "not_allow", "kinds_not_recorded": []}});
        let html = render(&only);
        assert!(section(&html, "completeness").contains("Complete: no record was lost in the window"));
        assert!(section(&html, "completeness").contains("only events not judged allow are in the log"));
        for id in ["identity", "integrity", "verdicts", "timeline", "drift", "possession", "events"] {
            assert!(section(&html, id).contains("not given"), "{id} does not say not given");
        }

        // Wrong types and other JSON values do not panic either.
        for v in [
            json!(null),
            json!([1, 2]),
            json!("report"),
            json!({"verdicts": "x", "timeline": {"buckets": 5}, "events": {}, "drift": [1, {"declared_unused": 3}],
                "possession": [null, {"holders": [null]}], "completeness": {"complete": false, "losses": [null, 5, {"loss": "gap"}],
                "from_unix_ns": -1, "to_unix_ns": "999999999999999999999999999"}, "integrity": [], "window": 3, "config": []}),
            json!({"timeline": {"bucket_seconds": 0, "buckets": [{}, {"allow": u64::MAX, "deny": u64::MAX}]},
                "verdicts": [{}, {"allow": u64::MAX, "deny": u64::MAX, "review": u64::MAX, "investigate": u64::MAX}]}),
        ] {
            let html = render(&v);
            assert!(html.contains("</html>"));
        }
    }

    #[test]
    fn incomplete_window_lists_each_loss_as_a_sentence() {
        let html = render(&full());
        let c = section(&html, "completeness");
        assert!(c.contains("class=\"banner bad\""), "{c}");
        assert!(c.contains("Incomplete: 1 loss<"), "{c}");
        assert!(
            c.contains("CPU 1: records 1200..=1236 (37) lost between 2026-12-02T10:03:00Z and 2026-12-02T10:03:00.5Z; around it on CPU 1: <code>spiffe://demo.witness.test/data/batch</code>, <code>unattested</code>"),
            "{c}"
        );
        assert!(
            c.contains("Window checked: 2026-12-02T10:00:00Z to 2026-12-02T11:00:00Z, every identity: 420 events"),
            "{c}"
        );
        assert!(c.contains("every judged event is in the log"), "{c}");
        assert!(c.contains("<code>ptrace_attach</code>"), "{c}");
        let i = section(&html, "integrity");
        assert!(i.contains("class=\"banner ok\"") && i.contains("intact: 12 checkpoints"), "{i}");
        assert!(section(&html, "possession").contains("cred divergent"));
        assert!(section(&html, "events").contains("3 more not shown"));
        assert!(section(&html, "drift").contains("<a href=\"#event-1234\">event 1234</a>"));
        assert!(html.contains("id=\"event-1234\""));
    }

    /// The summed segment widths of each verdict row's bar.
    fn bar_lengths(html: &str) -> Vec<f64> {
        section(html, "verdicts")
            .split("<svg class=\"bar\"")
            .skip(1)
            .map(|bar| {
                let bar = &bar[..bar.find("</svg>").unwrap()];
                bar.split("<rect class=\"seg\"")
                    .skip(1)
                    .map(|seg| {
                        let w = &seg[seg.find(" width=\"").unwrap() + 8..];
                        w[..w.find('"').unwrap()].parse::<f64>().unwrap()
                    })
                    .sum()
            })
            .collect()
    }

    #[test]
    fn bars_scale_to_the_largest_count() {
        let report = json!({"verdicts": [
            {"identity": "a", "allow": 5, "deny": 5},
            {"identity": "b", "allow": 60, "review": 20, "investigate": 15, "deny": 5},
            {"identity": "c", "allow": 0, "investigate": 50},
            {"identity": "d"},
        ]});
        let lengths = bar_lengths(&render(&report));
        assert_eq!(lengths.len(), 4);
        let longest = lengths.iter().cloned().fold(f64::MIN, f64::max);
        assert_eq!(lengths.iter().position(|l| *l == longest), Some(1), "{lengths:?}");
        assert!((longest - BAR_WIDTH).abs() < 0.05, "{lengths:?}");
        assert!((lengths[0] - BAR_WIDTH * 0.1).abs() < 0.05, "{lengths:?}");
        assert!((lengths[2] - BAR_WIDTH * 0.5).abs() < 0.05, "{lengths:?}");
        assert_eq!(lengths[3], 0.0);

        let s = segments(&[60, 20, 15, 5], 100, 200.0);
        assert_eq!(s, [120.0, 40.0, 30.0, 10.0]);
        assert_eq!(segments(&[0, 0, 0, 0], 0, 200.0), [0.0; 4]);

        // The timeline's tallest bucket is the one with the most events,
        // and the axis names its count.
        let html = render(&full());
        let t = section(&html, "timeline");
        assert!(
            t.contains("<g class=\"bucket\" data-total=\"11\">")
                && t.contains("<g class=\"bucket\" data-total=\"33\">")
        );
        assert!(t.contains("class=\"y-max\">33</text>"), "{t}");
        assert!(t.contains(">10:00</text>") && t.contains(">10:01</text>"), "{t}");
    }
}
