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
