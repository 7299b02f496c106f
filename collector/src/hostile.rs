//! Properties of the parsers of untrusted input, checked on arbitrary
//! bytes: by the fuzz targets (`make fuzz`, `fuzz/`) and, on the seed
//! inputs and every input the fuzzers ever found a fault with
//! (`fuzz/regressions/`), by `cargo test`. Each function panics when a
//! property does not hold; a parse error is not a failure, as long as it
//! names where.

use std::path::{Path, PathBuf};

use crate::identity::{Inventory, Subject};
use crate::policy::Policies;
use crate::sinks::output::{self, Clock};
use crate::source::capture::CaptureReader;
use crate::source::decode;

/// The record decoder on device bytes: records decode or fail with an
/// error naming the offset, decoding stops at the first error, and the
/// renderers accept whatever decoded.
pub fn decode(data: &[u8]) {
    let clock = Clock::with_offset(0);
    let mut errors = 0;
    for result in decode::records(data) {
        match result {
            Ok(event) => {
                let _ = output::json(&event, &clock);
                let _ = output::Printer::new(Vec::new(), output::Format::Table, clock).print(&event);
            }
            Err(e) => {
                errors += 1;
                assert!(e.to_string().starts_with("record at byte "), "an error without its offset: {e}");
            }
        }
    }
    assert!(errors <= 1, "the decoder went on after an error");
    let _ = decode::decode_one(data, 0);
}

/// The capture reader on a file's bytes: the header is checked, each batch
/// decodes or fails naming the file offset, and the reader ends.
pub fn capture(data: &[u8]) {
    let Ok(mut reader) = CaptureReader::from_reader(data, Path::new("fuzz.cap")) else { return };
    // Each round consumes input or ends; the bound catches a reader that
    // would spin.
    for _ in 0..data.len() / 16 + 4 {
        match reader.next_batch() {
            Ok(batch) if batch.is_empty() && reader.is_done() => return,
            Ok(_) => {}
            Err(e) => {
                assert!(e.to_string().starts_with("fuzz.cap"), "an error without the file: {e}");
                return;
            }
        }
    }
    panic!("the capture reader neither finished nor failed");
}

/// The inventory parser on a file's bytes: an inventory, or an error with
/// file and line; lookups work on what parsed.
pub fn inventory(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Inventory::parse(text, Path::new("inventory.toml")) {
        Ok(inv) => {
            let subject = Subject { uid: Some(1000), gid: Some(1000), exe: Some("/usr/bin/x"), ..Default::default() };
            let _ = inv.attribute(&subject);
            let _ = inv.secret_owner("/etc/secret/key");
            let _ = inv.needs_digest();
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with("inventory.toml:"), "an error without file and line: {msg}");
        }
    }
}

/// The policy loader on a file's bytes: policies valid against the schema,
/// or an error naming the file.
pub fn policy(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Policies::from_texts(vec![(PathBuf::from("fuzz.cedar"), text.to_string())]) {
        Ok(p) => {
            let _ = p.len();
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with("fuzz.cedar"), "an error without the file: {msg}");
        }
    }
}
