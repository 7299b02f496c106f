//! The parsers of untrusted input on the fuzzers' seeds and on every input
//! a fuzzer ever found a fault with (`fuzz/regressions/<target>/`), with
//! the properties the fuzz targets check (`witness::hostile`). A file added
//! to `fuzz/regressions/` is tested here from then on.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Files under `dir` (none if it does not exist), skipping dotfiles.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    out.retain(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')));
    out.sort();
    out
}

fn check(target: &str, seeds: &[PathBuf], property: fn(&[u8])) {
    let mut inputs = seeds.to_vec();
    inputs.extend(files(&root().join("fuzz/regressions").join(target)));
    for input in inputs {
        let data = std::fs::read(&input).unwrap_or_else(|e| panic!("{}: {e}", input.display()));
        if let Err(panic) = std::panic::catch_unwind(|| property(&data)) {
            std::panic::resume_unwind(Box::new(format!("{target} on {}: {panic:?}", input.display())));
        }
    }
}

#[test]
fn capture_reader() {
    let cap = root().join("tests/data/judge_e2e.cap");
    check("capture", std::slice::from_ref(&cap), witness::hostile::capture);
    // Every cut of a real capture is a clean error or a clean end.
    let data = std::fs::read(&cap).unwrap();
    for cut in (0..data.len()).step_by(97) {
        witness::hostile::capture(&data[..cut]);
    }
}

#[test]
fn record_decoder() {
    let cap = std::fs::read(root().join("tests/data/judge_e2e.cap")).unwrap();
    let records = &cap[witness::source::capture::HEADER_LEN..];
    witness::hostile::decode(records);
    // Flip each byte of the first records in turn: errors name the
    // offset, nothing panics.
    let mut copy = records[..records.len().min(4096)].to_vec();
    for i in 0..copy.len() {
        copy[i] ^= 0xff;
        witness::hostile::decode(&copy);
        copy[i] ^= 0xff;
    }
    check("decode", &[], witness::hostile::decode);
}

#[test]
fn inventory_parser() {
    check("inventory", &[root().join("examples/inventory.toml")], witness::hostile::inventory);
}

#[test]
fn policy_loader() {
    let mut seeds = files(&root().join("examples/policy"));
    seeds.retain(|p| p.extension().is_some_and(|x| x == "cedar"));
    check("policy", &seeds, witness::hostile::policy);
}
