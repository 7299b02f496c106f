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

/// A `witness run` under test: killed when dropped, its stderr lines
/// read as they come.
struct Daemon {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
}

impl Daemon {
    fn start(command: &mut Command) -> Self {
        let mut child = command.stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// Waits (a minute at most) until a line contains `what`; the lines up
    /// to it.
    fn wait_for(&self, what: &str) -> Vec<String> {
        let mut seen = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(60)) {
            let found = line.contains(what);
            seen.push(line);
            if found {
                return seen;
            }
        }
        panic!("witness run never said '{what}'; it said: {seen:#?}");
    }

    fn signal(&self, signal: i32) {
        // SAFETY: sends a signal to our own child.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

#[test]
fn sighup_while_the_configuration_loads_does_not_kill_the_daemon() {
    let dir = std::env::temp_dir().join(format!("witness-run-signals-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let inventory = dir.join("inventory.toml");
    std::fs::write(&inventory, big_inventory(20_000)).unwrap();
    let policy = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/policy");
    let mut daemon = Daemon::start(
        Command::new(env!("CARGO_BIN_EXE_witness"))
            .args(["run", "--device"])
            .arg(dir.join("no-such-device"))
            .arg("--inventory")
            .arg(&inventory)
            .arg("--policy")
            .arg(&policy)
            .args(["--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info"),
    );
    // The daemon says it is loading, and is still at it when the signal comes.
    daemon.wait_for("loading the configuration");
    daemon.signal(libc::SIGHUP);
    let said = daemon.wait_for("configuration reloaded");
    assert!(daemon.child.try_wait().unwrap().is_none(), "witness run exited: {said:#?}");
    daemon.signal(libc::SIGTERM);
    let status = daemon.child.wait().unwrap();
    assert!(status.success(), "witness run ended with {status} after SIGTERM");
    // Without a device it read nothing, and says so rather than "0 records
    // lost".
    let last: Vec<String> = daemon.lines.iter().collect();
    assert!(last.iter().any(|l| l.contains("was never read: no records")), "{last:#?}");
    assert!(!last.iter().any(|l| l.contains("records lost")), "{last:#?}");
    std::fs::remove_dir_all(&dir).ok();
}

/// SIGHUP with a shadow policy set that no longer loads: the new active
/// configuration applies, the running shadow set stays, and the log says
/// so; a good shadow set then replaces it.
#[test]
fn a_bad_shadow_set_never_disturbs_the_active_one() {
    let dir = std::env::temp_dir().join(format!("witness-run-shadow-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let shadow = dir.join("shadow");
    std::fs::create_dir_all(&shadow).unwrap();
    let good = "@id(\"candidate\")\npermit(principal, action, resource);\n";
    std::fs::write(shadow.join("candidate.cedar"), good).unwrap();
    let policy = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/policy");
    let log = dir.join("evidence.jsonl");
    let mut daemon = Daemon::start(
        Command::new(env!("CARGO_BIN_EXE_witness"))
            .args(["run", "--no-metrics", "--device"])
            .arg(dir.join("no-such-device"))
            .arg("--policy")
            .arg(&policy)
            .arg("--shadow-policy")
            .arg(&shadow)
            .arg("--evidence")
            .arg(&log),
    );
    daemon.wait_for("waiting for it");
    std::fs::write(shadow.join("candidate.cedar"), "permit(principal, action, resource) when { nonsense };\n").unwrap();
    daemon.signal(libc::SIGHUP);
    daemon.wait_for("--shadow-policy (the running shadow set is kept)");
    daemon.wait_for("configuration reloaded");
    std::fs::write(
        shadow.join("candidate.cedar"),
        "@id(\"candidate-2\")\nforbid(principal, action, resource);\npermit(principal, action, resource);\n",
    )
    .unwrap();
    daemon.signal(libc::SIGHUP);
    daemon.wait_for("configuration reloaded");
    daemon.signal(libc::SIGTERM);
    assert!(daemon.child.wait().unwrap().success());
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let shadow_of = |l: &serde_json::Value| l["config"]["shadow"].as_str().unwrap().to_string();
    let started = &lines[0];
    assert_eq!(started["stream"], "started");
    let rejected = lines.iter().position(|l| l["stream"] == "config_rejected").expect("a config_rejected line");
    assert!(lines[rejected]["error"].as_str().unwrap().contains("--shadow-policy"), "{}", lines[rejected]);
    let changed: Vec<&serde_json::Value> = lines.iter().filter(|l| l["stream"] == "config_changed").collect();
    assert_eq!(changed.len(), 2, "{lines:#?}");
    assert_eq!(shadow_of(changed[0]), shadow_of(started), "the refused shadow set kept the running one");
    assert_ne!(shadow_of(changed[1]), shadow_of(started), "a good shadow set replaces it");
    assert_eq!(changed[0]["config"]["policies"], started["config"]["policies"]);
    std::fs::remove_dir_all(&dir).ok();
}

/// A daemon whose stderr fails (a full disk, a closed pipe) goes on and
/// stops cleanly: the log subscriber used to report its own write errors
/// with eprintln!, which panicked (exit 101) at the first log line.
#[test]
fn a_failing_stderr_does_not_kill_the_daemon() {
    if !std::path::Path::new("/dev/full").exists() {
        return;
    }
    let status = Command::new(env!("CARGO_BIN_EXE_witness"))
        .args(["run", "--device", "/nonexistent/witness", "--no-metrics", "--duration", "1"])
        .stderr(std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap())
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "witness run ended with {status} when stderr failed");
}

/// Under systemd (`Type=notify`, `WatchdogSec=`), a daemon waiting for the
/// module says so in `STATUS=`, is not `READY=1` (that comes once the
/// device is read: the VM's systemd host test shows it), pings the
/// watchdog from the pipeline thread while it waits, and says
/// `STOPPING=1` at the end.
#[test]
fn systemd_hears_status_watchdog_and_stopping_but_no_ready_without_a_device() {
    use std::os::unix::net::UnixDatagram;
    let dir = std::env::temp_dir().join(format!("witness-notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket_path = dir.join("notify");
    std::fs::remove_file(&socket_path).ok();
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    // WATCHDOG_USEC 400 ms: a ping every 200 ms; WATCHDOG_PID is left out
    // (the child's pid is not known before it runs), which means "you".
    let mut child = Command::new(env!("CARGO_BIN_EXE_witness"))
        .args(["run", "--device", "/nonexistent/witness", "--no-metrics", "--duration", "2"])
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "400000")
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut messages = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = socket.recv(&mut buf) {
        let message = String::from_utf8_lossy(&buf[..n]).into_owned();
        let last = message.contains("STOPPING=1");
        messages.push(message);
        if last {
            break;
        }
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "witness run ended with {status}");
    let all = messages.concat();
    assert!(all.contains("STATUS=waiting for /nonexistent/witness"), "{messages:#?}");
    let pings = messages.iter().filter(|m| m.contains("WATCHDOG=1")).count();
    assert!(pings >= 4, "{pings} watchdog pings in 2 s at 200 ms: {messages:#?}");
    assert!(!all.contains("READY=1"), "ready without a device: {messages:#?}");
    assert!(messages.last().unwrap().contains("STOPPING=1"), "{messages:#?}");
    std::fs::remove_dir_all(&dir).ok();
}
