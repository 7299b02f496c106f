//! `witness run` takes a SIGHUP at any moment after it starts: one that
//! arrives while the configuration is still loading (a reload right after a
//! restart) is answered once the daemon is up, not by the signal's default
//! action, which ends the process. No kernel module is needed: without a
//! device the daemon waits for one.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// An inventory large enough that loading it takes a while.
fn big_inventory(workloads: usize) -> String {
    let mut s = String::new();
    for i in 0..workloads {
        writeln!(
            s,
            "[[workload]]\nspiffe_id = \"spiffe://test.witness/w{i}\"\nowner = \"team-{i}\"\nselectors = [\"unix:uid:{}\"]\npeers = [\"10.{}.0.0/16:443\"]\n",
            10_000 + i,
            i % 250
        )
        .unwrap();
    }
    s
}

#[test]
fn sighup_while_the_configuration_loads_does_not_kill_the_daemon() {
    let dir = std::env::temp_dir().join(format!("witness-run-signals-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let inventory = dir.join("inventory.toml");
    std::fs::write(&inventory, big_inventory(20_000)).unwrap();
    let policy = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/policy");
    let mut child = Command::new(env!("CARGO_BIN_EXE_witness"))
        .args(["run", "--device"])
        .arg(dir.join("no-such-device"))
        .arg("--inventory")
        .arg(&inventory)
        .arg("--policy")
        .arg(&policy)
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Whatever happens below, the daemon does not outlive the test.
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            self.0.kill().ok();
            self.0.wait().ok();
        }
    }
    let stderr = child.stderr.take().unwrap();
    let id = child.id() as i32;
    let mut child = Reap(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |what: &str, rx: &mpsc::Receiver<String>| -> Vec<String> {
        let mut seen = Vec::new();
        while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
            let found = line.contains(what);
            seen.push(line);
            if found {
                return seen;
            }
        }
        panic!("witness run never said '{what}'; it said: {seen:#?}");
    };
    // The daemon says it is loading, and is still at it when the signal comes.
    wait_for("loading the configuration", &rx);
    // SAFETY: sends a signal to our own child.
    assert_eq!(unsafe { libc::kill(id, libc::SIGHUP) }, 0);
    let said = wait_for("configuration reloaded", &rx);
    assert!(child.0.try_wait().unwrap().is_none(), "witness run exited: {said:#?}");
    // SAFETY: as above.
    unsafe { libc::kill(id, libc::SIGTERM) };
    let status = child.0.wait().unwrap();
    assert!(status.success(), "witness run ended with {status} after SIGTERM");
    // Without a device it read nothing, and says so rather than "0 records
    // lost".
    let last: Vec<String> = rx.iter().collect();
    assert!(last.iter().any(|l| l.contains("was never read: no records")), "{last:#?}");
    assert!(!last.iter().any(|l| l.contains("records lost")), "{last:#?}");
    std::fs::remove_dir_all(&dir).ok();
}
