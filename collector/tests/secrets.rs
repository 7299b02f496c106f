//! A secret is its file, not only its path: another path to the same file
//! (`/proc/PID/root/...`, a bind mount, a hard link) is still the secret,
//! and unlinking it, renaming it or renaming a file into a secret path is a
//! divergence too, as opening it is.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use witness::identity::inventory::Inventory;
use witness::pipeline::{Config, Options, Pipeline};
use witness::policy::Divergence;
use witness::sinks::output::Clock;
use witness::sinks::Sinks;
use witness::source::decode::{Body, Event, Meta};
use witness_abi::record::{FileRecord, RecordKind, TaskContext};
use zerocopy::FromZeros;

const OWNER_UID: u32 = 1000;
const OTHER_UID: u32 = 2000;

fn event(kind: RecordKind, uid: u32, path: &str, path2: &str, file: Option<&Path>) -> Event {
    let mut rec = FileRecord::new_zeroed();
    rec.task = TaskContext::new_zeroed();
    (rec.task.pid, rec.task.tgid, rec.task.uid, rec.task.gid) = (4242 + uid, 4242 + uid, uid, uid);
    if let Some(file) = file {
        let m = std::fs::metadata(file).unwrap();
        // The module's dev is new_encode_dev, which is st_dev.
        (rec.dev, rec.ino) = (u32::try_from(m.dev()).unwrap(), m.ino());
    }
    Event {
        meta: Meta { cpu: 0, seq: 0, ts_ns: 1 },
        wire_kind: kind as u16,
        body: Body::File { rec, path: path.as_bytes().to_vec(), path2: path2.as_bytes().to_vec() },
    }
}

#[test]
fn secrets_are_matched_by_file_and_every_file_operation() {
    let dir = std::env::temp_dir().join(format!("witness-secrets-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    let key = dir.join("keys/tls.key");
    std::fs::write(&key, "secret").unwrap();
    std::fs::write(dir.join("notes.txt"), "not secret").unwrap();
    let d = dir.display();
    let inventory = Inventory::parse(
        &format!(
            "[[workload]]\nspiffe_id = \"spiffe://t.test/api\"\nowner = \"a\"\nselectors = [\"unix:uid:{OWNER_UID}\"]\n\
             secrets = [\"{d}/keys/*.key\"]\n\n\
             [[workload]]\nspiffe_id = \"spiffe://t.test/other\"\nowner = \"b\"\nselectors = [\"unix:uid:{OTHER_UID}\"]\n"
        ),
        Path::new("inventory.toml"),
    )
    .unwrap();
    let config = Config::new(inventory, None, 16);
    let mut pipeline = Pipeline::new(config, Options::default(), Clock::identity());
    pipeline.resolve_secrets_if_older(std::time::Duration::ZERO);
    let mut sinks = Sinks::new(None, None);
    let mut divergence = |e: Event| sinks.handle(&mut pipeline, &e).expect("judged").divergence;

    let alias = format!("/proc/777/root{d}/keys/tls.key");
    let key_path = key.display().to_string();
    let cases = [
        ("another path, another workload", event(RecordKind::FileOpen, OTHER_UID, &alias, "", Some(&key)), true),
        ("another path, the owner", event(RecordKind::FileOpen, OWNER_UID, &alias, "", Some(&key)), false),
        ("its path, another workload", event(RecordKind::FileOpen, OTHER_UID, &key_path, "", Some(&key)), true),
        ("unlinked by another", event(RecordKind::FileUnlink, OTHER_UID, &alias, "", Some(&key)), true),
        ("unlinked by the owner", event(RecordKind::FileUnlink, OWNER_UID, &key_path, "", Some(&key)), false),
        (
            "a file renamed into the secret path",
            event(RecordKind::FileRename, OTHER_UID, &format!("{d}/notes.txt"), &format!("{d}/keys/new.key"), None),
            true,
        ),
        (
            "created at the secret path",
            event(RecordKind::FileCreate, OTHER_UID, &format!("{d}/keys/x.key"), "", None),
            true,
        ),
        (
            "an unrelated file",
            event(RecordKind::FileOpen, OTHER_UID, &format!("{d}/notes.txt"), "", Some(&dir.join("notes.txt"))),
            false,
        ),
    ];
    for (what, e, foreign) in cases {
        let want = if foreign { Divergence::ForeignSecret } else { Divergence::None };
        assert_eq!(divergence(e), want, "{what}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
