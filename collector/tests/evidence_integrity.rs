//! The evidence commands end to end, through the `witness` binary, on the
//! capture the real module made (tests/data/judge_e2e.cap): a replay
//! writes a chained log with signed checkpoints, `witness evidence
//! verify` passes it with the pinned key and names the line an edit, a
//! deletion or a cut touched, and `witness evidence completeness` says
//! "complete" for it, then names exactly the records taken out of a copy
//! of the capture.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use witness::source::capture::{CaptureReader, CaptureWriter, HEADER_LEN};
use witness_abi::record::{RecordHeader, RECORD_HEADER_LEN};
use zerocopy::FromBytes;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("witness-evidence-it-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn witness(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_witness")).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Replays `capture` with the example configuration into `dir/evidence.jsonl`,
/// every event written, checkpoints signed by `dir/evidence.key`.
fn replay(capture: &Path, dir: &Path) -> PathBuf {
    let log = dir.join("evidence.jsonl");
    let root = root();
    let o = witness(&[
        "replay",
        capture.to_str().unwrap(),
        "--quiet",
        "--inventory",
        root.join("examples/inventory.toml").to_str().unwrap(),
        "--policy",
        root.join("examples/policy").to_str().unwrap(),
        "--evidence",
        log.to_str().unwrap(),
        "--evidence-all",
        "--evidence-key",
        dir.join("evidence.key").to_str().unwrap(),
        "--evidence-checkpoint-lines",
        "100",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    log
}

fn pubkey(dir: &Path) -> String {
    let o = witness(&["evidence", "pubkey", "--key", dir.join("evidence.key").to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8(o.stdout).unwrap().trim().to_string()
}

#[test]
fn a_replayed_log_verifies_and_edits_are_named() {
    let dir = temp("verify");
    let log = replay(&root().join("tests/data/judge_e2e.cap"), &dir);
    let key = pubkey(&dir);
    let lines = fs::read_to_string(&log).unwrap();
    let n = lines.lines().count();
    let checkpoints = lines.lines().filter(|l| l.contains("\"record\":\"checkpoint\"")).count();
    assert!(checkpoints >= n / 101, "a checkpoint every 100 lines: {checkpoints} in {n}");
    assert!(lines.lines().last().unwrap().contains("\"signature\""), "the log ends with a signed checkpoint");

    let o = witness(&["evidence", "verify", "--pubkey", &key, log.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("intact"), "{}", text(&o));

    // Another key pinned: refused.
    let other = temp("other-key");
    let other_key = pubkey(&other);
    let o = witness(&["evidence", "verify", "--pubkey", &other_key, log.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));

    let tampered = dir.join("tampered.jsonl");
    let all: Vec<&str> = lines.lines().collect();
    let check = |edited: Vec<String>, expect: &str| {
        fs::write(&tampered, edited.join("\n") + "\n").unwrap();
        let o = witness(&["evidence", "verify", "--pubkey", &key, tampered.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(5), "{expect}: {}", text(&o));
        assert!(text(&o).contains(expect), "expected '{expect}' in: {}", text(&o));
    };
    // An event's outcome changed on line 10.
    let mut edited: Vec<String> = all.iter().map(|l| (*l).to_string()).collect();
    assert!(edited[9].contains("\"outcome\":\""), "{}", edited[9]);
    edited[9] = edited[9].replacen("\"outcome\":\"", "\"outcome\":\"x", 1);
    check(edited, "tampered.jsonl:10: edited");
    // Line 20 removed.
    let mut removed: Vec<String> = all.iter().map(|l| (*l).to_string()).collect();
    removed.remove(19);
    check(removed, "tampered.jsonl:20: removed");
    // The file cut in the middle of its last line.
    let cut = &lines[..lines.len() - 40];
    fs::write(&tampered, cut).unwrap();
    let o = witness(&["evidence", "verify", "--pubkey", &key, tampered.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    assert!(text(&o).contains(&format!("tampered.jsonl:{n}: cut")), "{}", text(&o));
}

/// A copy of the capture without records `first..first+count` of one CPU.
fn without_records(dir: &Path, count: u64) -> (PathBuf, u32, u64) {
    let source = root().join("tests/data/judge_e2e.cap");
    let info = CaptureReader::open(&source).unwrap().info().clone();
    let bytes = fs::read(&source).unwrap();
    let mut records = Vec::new();
    let mut rest = &bytes[HEADER_LEN..];
    while rest.len() >= RECORD_HEADER_LEN {
        let (h, _) = RecordHeader::read_from_prefix(rest).unwrap();
        let len = h.len as usize;
        records.push((h.cpu, h.seq, &rest[..len]));
        rest = &rest[len..];
    }
    let (cpu, first, _) = records[records.len() / 2];
    let out = dir.join("lossy.cap");
    let mut w = CaptureWriter::create(&out, &info).unwrap();
    let mut kept = Vec::new();
    for (c, seq, bytes) in &records {
        if !(*c == cpu && (first..first + count).contains(seq)) {
            kept.extend_from_slice(bytes);
        }
    }
    w.write_batch(&kept).unwrap();
    w.finish().unwrap();
    (out, cpu, first)
}

#[test]
fn completeness_names_exactly_the_records_lost() {
    let dir = temp("complete");
    let log = replay(&root().join("tests/data/judge_e2e.cap"), &dir);
    let o = witness(&["evidence", "completeness", log.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("\ncomplete: no record was lost"), "{}", text(&o));
    assert!(text(&o).contains("the log holds every judged event"), "{}", text(&o));

    let lossy_dir = temp("lossy");
    let (capture, cpu, first) = without_records(&lossy_dir, 3);
    let log = replay(&capture, &lossy_dir);
    let o = witness(&["evidence", "completeness", "--format", "json", log.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    let statement: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(statement["complete"], false);
    let losses = statement["losses"].as_array().unwrap();
    assert_eq!(losses.len(), 1, "{losses:?}");
    let gap = &losses[0];
    assert_eq!(
        (&gap["loss"], &gap["cpu"], &gap["first_seq"], &gap["last_seq"], &gap["records"]),
        (&"gap".into(), &cpu.into(), &first.into(), &(first + 2).into(), &3.into()),
        "{gap}"
    );
    assert!(gap["from_unix_ns"].as_i64() < gap["to_unix_ns"].as_i64(), "{gap}");
    assert!(!gap["identities"].as_array().unwrap().is_empty(), "the identities around the gap are named: {gap}");

    // A window from before the log is not complete; one from the log's
    // first line to just before the gap is.
    let rfc3339 = |ns: i64| jiff::Timestamp::from_nanosecond(i128::from(ns)).unwrap().to_string();
    let before = rfc3339(gap["from_unix_ns"].as_i64().unwrap() - 1);
    let o = witness(&["evidence", "completeness", "--from", "0", "--to", &before, log.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    assert!(text(&o).contains("before the first line"), "the window starts before the log: {}", text(&o));
    let first = rfc3339(statement["from_unix_ns"].as_i64().unwrap());
    let o = witness(&["evidence", "completeness", "--from", &first, "--to", &before, log.to_str().unwrap()]);
    assert!(o.status.success(), "a window before the gap is complete: {}", text(&o));
}

/// Drift and possession on the real capture: the batch workload's
/// undeclared peer, binaries and the db's secret; the db's key held by
/// batch, never by its owner.
#[test]
fn drift_and_possession_name_what_the_capture_shows() {
    let dir = temp("drift");
    let log = replay(&root().join("tests/data/judge_e2e.cap"), &dir);
    let inventory = root().join("examples/inventory.toml");
    let o = witness(&[
        "drift",
        "--all",
        "--inventory",
        inventory.to_str().unwrap(),
        "--format",
        "json",
        log.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["evidence"], "all");
    let of = |id: &str| report["identities"].as_array().unwrap().iter().find(|d| d["identity"] == id).unwrap().clone();
    let batch = of("spiffe://demo.witness.test/data/batch");
    let used: Vec<(String, String)> = batch["used_undeclared"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["what"].as_str().unwrap().to_string(), u["value"].as_str().unwrap().to_string()))
        .collect();
    assert!(used.contains(&("peer".into(), "spiffe://demo.witness.test/payments/db".into())), "{used:?}");
    assert!(used.iter().any(|(w, v)| w == "secret" && v.starts_with("/srv/payments/secrets/db.key")), "{used:?}");
    assert!(used.iter().any(|(w, v)| w == "binary" && v.starts_with("/tmp/suid-tool")), "{used:?}");
    let unused = &batch["declared_unused"];
    assert_eq!(unused, &serde_json::json!([{"what": "peer", "value": "10.20.0.0/16:443"}]), "{batch}");
    // api used its one declared peer: no drift.
    let api = of("spiffe://demo.witness.test/payments/api");
    assert_eq!(api["declared_unused"], serde_json::json!([]), "{api}");
    assert_eq!(api["used_undeclared"], serde_json::json!([]), "{api}");
    let o = witness(&[
        "drift",
        "--all",
        "--inventory",
        inventory.to_str().unwrap(),
        "--format",
        "markdown",
        log.to_str().unwrap(),
    ]);
    assert!(text(&o).contains("## spiffe://demo.witness.test/data/batch"), "{}", text(&o));

    let o =
        witness(&["possession", "--inventory", inventory.to_str().unwrap(), "--format", "json", log.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let key = &report["credentials"][0];
    assert_eq!(key["credential"], "/srv/payments/secrets/db.key", "{report}");
    assert_eq!(key["owner"], "spiffe://demo.witness.test/payments/db");
    assert_eq!((key["divergent"].as_bool(), key["owner_used"].as_bool()), (Some(true), Some(false)));
    assert_eq!(key["holders"][0]["identity"], "spiffe://demo.witness.test/data/batch");
    assert_eq!(report["unused"][0]["owner"], "spiffe://demo.witness.test/payments/db");
}

/// A shadow policy set on the real capture: the candidate forbids the
/// batch workload's connects; the log carries both outcomes where they
/// differ, and `witness shadow report` says what it would change. The
/// active outcomes are untouched.
#[test]
fn a_shadow_set_is_reported_and_never_acted_on() {
    let dir = temp("shadow");
    let candidate = dir.join("candidate");
    fs::create_dir_all(&candidate).unwrap();
    for f in fs::read_dir(root().join("examples/policy")).unwrap() {
        let f = f.unwrap().path();
        fs::copy(&f, candidate.join(f.file_name().unwrap())).unwrap();
    }
    fs::write(
        candidate.join("zz-batch-offline.cedar"),
        "@id(\"batch-offline\")\nforbid(principal == Workload::\"spiffe://demo.witness.test/data/batch\", action == Action::\"sock_connect\", resource);\n",
    )
    .unwrap();
    let log = dir.join("evidence.jsonl");
    let root = root();
    let args = |log: &Path, shadow: Option<&Path>| {
        let mut a: Vec<String> = [
            "replay",
            root.join("tests/data/judge_e2e.cap").to_str().unwrap(),
            "--quiet",
            "--inventory",
            root.join("examples/inventory.toml").to_str().unwrap(),
            "--policy",
            root.join("examples/policy").to_str().unwrap(),
            "--evidence",
            log.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if let Some(s) = shadow {
            a.extend(["--shadow-policy".to_string(), s.to_str().unwrap().to_string()]);
        }
        a
    };
    let run = |a: Vec<String>| {
        let o = Command::new(env!("CARGO_BIN_EXE_witness")).args(&a).output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
    };
    run(args(&log, Some(&candidate)));
    let without = dir.join("without.jsonl");
    run(args(&without, None));
    let lines = fs::read_to_string(&log).unwrap();
    let shadowed: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v.get("shadow").is_some())
        .collect();
    assert!(!shadowed.is_empty(), "no line carries the shadow outcome");
    for v in &shadowed {
        assert_eq!(v["identity"]["spiffe_id"], "spiffe://demo.witness.test/data/batch", "{v}");
        assert_eq!(v["kind"], "sock_connect", "{v}");
        assert_eq!(v["shadow"]["outcome"], "deny", "{v}");
        assert_eq!(v["shadow"]["policies"], serde_json::json!(["batch-offline"]), "{v}");
        assert_ne!(v["outcome"], "deny", "the active outcome is not the shadow's: {v}");
        assert!(v["config"]["shadow"].as_str().unwrap().starts_with("sha256:"), "{v}");
    }
    // The active judgements are those of a run without the shadow set.
    let outcomes = |text: &str| -> Vec<(u64, String)> {
        text.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v["record"] == "event" && v["outcome"] != "allow")
            .map(|v| (v["seq"].as_u64().unwrap(), v["outcome"].as_str().unwrap().to_string()))
            .collect()
    };
    assert_eq!(outcomes(&lines), outcomes(&fs::read_to_string(&without).unwrap()));

    let o = witness(&["shadow", "report", log.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let expect = format!("would deny {} sock_connect of spiffe://demo.witness.test/data/batch", shadowed.len());
    assert!(text(&o).contains(&expect), "expected '{expect}' in: {}", text(&o));
    let o = witness(&["shadow", "report", without.to_str().unwrap()]);
    assert!(text(&o).contains("no shadow policy set was in force"), "{}", text(&o));
}

/// Intent learned from the real capture: `witness policy validate`
/// accepts it, and replaying the window with it leaves no divergence but
/// the one it refuses to learn (another workload's secret). A window with
/// losses is refused, the losses named.
#[test]
fn intent_is_learned_only_from_complete_windows() {
    let dir = temp("intent");
    let capture = root().join("tests/data/judge_e2e.cap");
    let log = replay(&capture, &dir);
    let inventory = root().join("examples/inventory.toml");
    let out = dir.join("suggested");
    let o = witness(&[
        "intent",
        "suggest",
        "--inventory",
        inventory.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("not learned: spiffe://demo.witness.test/data/batch touched /srv/payments/secrets/db.key"),
        "{}",
        text(&o)
    );
    let (inv, pol) = (out.join("inventory.toml"), out.join("policy"));
    let o = witness(&["policy", "validate", "--inventory", inv.to_str().unwrap(), pol.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));

    let again = dir.join("again.jsonl");
    let o = witness(&[
        "replay",
        capture.to_str().unwrap(),
        "--quiet",
        "--inventory",
        inv.to_str().unwrap(),
        "--policy",
        pol.to_str().unwrap(),
        "--evidence",
        again.to_str().unwrap(),
        "--evidence-all",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let divergences: Vec<String> = fs::read_to_string(&again)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter_map(|v| v["divergence"].as_str().map(|d| format!("{d} {}", v["path"])))
        .collect();
    assert_eq!(divergences, ["foreign_secret \"/srv/payments/secrets/db.key\""], "only what was not learned diverges");

    let lossy = temp("intent-lossy");
    let (capture, cpu, first) = without_records(&lossy, 2);
    let log = replay(&capture, &lossy);
    let o = witness(&[
        "intent",
        "suggest",
        "--inventory",
        inventory.to_str().unwrap(),
        "-o",
        lossy.join("suggested").to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    assert!(text(&o).contains(&format!("CPU {cpu}: records {first}..={} (2) lost", first + 1)), "{}", text(&o));
    assert!(!lossy.join("suggested").exists(), "nothing is written from an incomplete window");
}

/// A bundle for one identity: its events whole, everyone else's redacted,
/// the chain still verifying offline with the pinned key; an edited
/// member or line is named; a configuration that is not the one in force
/// is refused.
#[test]
fn a_bundle_verifies_offline_and_discloses_one_identity() {
    let dir = temp("bundle");
    let log = replay(&root().join("tests/data/judge_e2e.cap"), &dir);
    let key = pubkey(&dir);
    let (inventory, policy) = (root().join("examples/inventory.toml"), root().join("examples/policy"));
    let bundle = dir.join("incident.tar");
    const BATCH: &str = "spiffe://demo.witness.test/data/batch";
    let args = |inventory: &Path| {
        vec![
            "evidence".to_string(),
            "bundle".into(),
            "--identity".into(),
            BATCH.into(),
            "--inventory".into(),
            inventory.to_str().unwrap().into(),
            "--policy".into(),
            policy.to_str().unwrap().into(),
            "-o".into(),
            bundle.to_str().unwrap().into(),
            log.to_str().unwrap().into(),
        ]
    };
    let o = Command::new(env!("CARGO_BIN_EXE_witness")).args(args(&inventory)).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let o = witness(&["evidence", "verify", "--pubkey", &key, bundle.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("every member matches the manifest"), "{}", text(&o));

    let mut members = std::collections::BTreeMap::new();
    for entry in tar::Archive::new(fs::File::open(&bundle).unwrap()).entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
        members.insert(name, bytes);
    }
    for m in [
        "manifest.json",
        "evidence.jsonl",
        "completeness.json",
        "drift.json",
        "possession.json",
        "report.html",
        "config/inventory.toml",
    ] {
        assert!(members.contains_key(m), "{m} missing: {:?}", members.keys());
    }
    let evidence = String::from_utf8(members["evidence.jsonl"].clone()).unwrap();
    let (mut whole, mut redacted) = (0, 0);
    for line in evidence.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v.get("redacted").is_some() {
            redacted += 1;
        } else if v["record"] == "event" {
            assert_eq!(v["identity"]["spiffe_id"], BATCH, "another identity's event is disclosed: {line}");
            whole += 1;
        }
    }
    assert!(whole > 0 && redacted > 0, "{whole} whole, {redacted} redacted");
    assert!(!evidence.contains("payments/api\",\"owner"), "the api's events are redacted");

    // An edited member, then an edited line, in a copy of the archive.
    let rewrite = |name: &str, bytes: Vec<u8>, out: &Path| {
        let mut b = tar::Builder::new(fs::File::create(out).unwrap());
        for (n, data) in &members {
            let data = if n == name { &bytes } else { data };
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o600);
            b.append_data(&mut h, n, data.as_slice()).unwrap();
        }
        b.finish().unwrap();
    };
    let forged = dir.join("forged.tar");
    let mut report = members["report.html"].clone();
    report.extend_from_slice(b"<!-- edited -->");
    rewrite("report.html", report, &forged);
    let o = witness(&["evidence", "verify", "--pubkey", &key, forged.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));
    assert!(text(&o).contains("report.html: its digest is not the manifest's"), "{}", text(&o));
    let edited = evidence.replacen("\"outcome\":\"investigate\"", "\"outcome\":\"allow\"", 1);
    assert_ne!(edited, evidence);
    rewrite("evidence.jsonl", edited.into_bytes(), &forged);
    let o = witness(&["evidence", "verify", "--pubkey", &key, forged.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(5), "{}", text(&o));

    // An inventory that is not the one the log names.
    let other = dir.join("other.toml");
    fs::write(&other, fs::read_to_string(&inventory).unwrap() + "\n# changed\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_witness")).args(args(&other)).output().unwrap();
    assert!(!o.status.success());
    assert!(text(&o).contains("is not the inventory in force in the window"), "{}", text(&o));
}
