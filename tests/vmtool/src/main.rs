//! `witness-vmtool`: what the VM scenarios run, inside the guest, to trigger
//! kernel hooks that busybox cannot: Landlock-denied opens and connects,
//! ptrace attaches, BPF program loads, keyring calls, plain TCP/UDP traffic,
//! a file-open storm on every CPU, and device users racing module reloads.
//!
//! Each command prints what it did and its outcome. `--expect ok` or
//! `--expect errno:NAME` turns the outcome into the exit status (0 when it
//! matches), so a scenario can assert that the kernel allowed or denied.

use std::ffi::CString;
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};

mod bench;
mod churn;
mod cri;
mod errno;
mod hostile;
mod mmap;
mod sys;

#[derive(Parser)]
#[command(name = "witness-vmtool", about = "Trigger kernel hooks for the witness VM tests")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// What the action must end in: "ok" or "errno:NAME" (e.g. errno:EACCES).
    #[arg(long, global = true, value_parser = errno::parse_expectation)]
    expect: Option<Expect>,
}

/// An expected outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expect {
    /// Success.
    Ok,
    /// Failure with this errno.
    Errno(i32),
}

#[derive(Subcommand)]
enum Command {
    /// Open PATH for reading after a Landlock ruleset that denies all file reads.
    LandlockOpen { path: String },
    /// Create the regular file PATH after a Landlock ruleset that denies
    /// making regular files (denied at `security_path_mknod`).
    LandlockCreate { path: String },
    /// TCP-connect to ADDR:PORT after a Landlock ruleset that denies TCP connects (Landlock ABI >= 4).
    LandlockConnect { addr: SocketAddr },
    /// TCP-connect to ADDR:PORT.
    Connect {
        addr: SocketAddr,
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
    },
    /// Listen on ADDR:PORT and accept N connections.
    Listen {
        addr: SocketAddr,
        #[arg(long, default_value_t = 1)]
        accept: u32,
    },
    /// Send COUNT UDP datagrams to ADDR:PORT.
    UdpSend {
        addr: SocketAddr,
        #[arg(long, default_value_t = 1)]
        count: u32,
    },
    /// PTRACE_ATTACH to PID, wait for it to stop, detach. With --landlock,
    /// first enter a Landlock domain, which may not trace processes outside it.
    PtraceAttach {
        pid: i32,
        #[arg(long)]
        landlock: bool,
    },
    /// Load a two-instruction socket-filter BPF program named "witness_test".
    BpfLoad {
        /// Leave out the exit instruction, so that the verifier refuses it.
        #[arg(long)]
        invalid: bool,
    },
    /// Load the module file PATH with finit_module(2) (or init_module(2)).
    ModuleLoad {
        path: String,
        /// Pass the image with init_module(2) instead of the file.
        #[arg(long)]
        from_memory: bool,
    },
    /// add_key(2) TYPE DESC PAYLOAD into the process keyring.
    AddKey { key_type: String, description: String, payload: String },
    /// request_key(2) TYPE DESC (without upcall).
    RequestKey { key_type: String, description: String },
    /// Hammer the device with bad ioctl, read, poll, write and seek arguments.
    HostileDevice {
        #[arg(long, default_value = "/dev/witness")]
        device: String,
        #[arg(long, default_value_t = 50)]
        rounds: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Then this many threads at once, for --seconds: open, close,
        /// poll, read, ioctl and mmap with random arguments, on their own
        /// descriptors and on one they share.
        #[arg(long, default_value_t = 0)]
        threads: usize,
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
    /// Consume one CPU's ring through mmap and check the mapping protections.
    MmapCheck {
        #[arg(long, default_value = "/dev/witness")]
        device: String,
        #[arg(long, default_value_t = 0)]
        cpu: usize,
        /// Keep the mapping this many seconds before unmapping (to unload
        /// the module under a live mapping).
        #[arg(long, default_value_t = 0.0)]
        hold: f64,
    },
    /// THREADS threads open, map, poll, read and let go of the device for
    /// SECONDS, expecting it to vanish and come back (module reloads).
    Churn {
        #[arg(long, default_value = "/dev/witness")]
        device: String,
        #[arg(long, default_value_t = 3)]
        threads: usize,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
    },
    /// Run a pod of one container on a CRI socket, as the kubelet would
    /// (node network, no CNI); prints the sandbox and container ids.
    Pod {
        #[arg(long, default_value = "unix:///run/containerd/containerd.sock")]
        endpoint: String,
        #[arg(long)]
        image: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "default")]
        namespace: String,
        #[arg(long)]
        uid: String,
        /// A pod label, KEY=VALUE (repeatable).
        #[arg(long = "label")]
        labels: Vec<String>,
        #[arg(long, default_value = "")]
        cgroup_parent: String,
        #[arg(long, default_value = "main")]
        container: String,
        /// What the container runs.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// THREADS threads (pinned round-robin to CPUs) open and close PATH for SECONDS.
    Storm {
        #[arg(long, default_value_t = 2)]
        threads: usize,
        #[arg(long, default_value_t = 1.0)]
        seconds: f64,
        #[arg(long, default_value = "/etc/passwd")]
        path: String,
        /// Total opens per second (0: as fast as possible).
        #[arg(long, default_value_t = 0)]
        rate: u64,
    },
    /// Time a system call loop on CPU 0 (the overhead benchmark).
    Bench {
        #[arg(value_enum)]
        op: bench::Op,
        #[arg(long, default_value_t = 2000)]
        iterations: u32,
        #[arg(long, default_value_t = 5)]
        rounds: u32,
        /// The file `open` opens.
        #[arg(long, default_value = "/etc/passwd")]
        path: String,
        /// Bracket each round with the instruction counter's markers.
        #[arg(long)]
        marked: bool,
        /// Before each round, wait until /dev/witness's rings are empty.
        #[arg(long)]
        drained: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match run(&cli.command) {
        Ok(outcome) => outcome,
        Err(e) => {
            eprintln!("witness-vmtool: error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let (label, code) = match &outcome {
        Ok(what) => (format!("ok ({what})"), None),
        Err(e) => (format!("error {}", errno::describe(e)), e.raw_os_error()),
    };
    println!("{}: {label}", cli.command.name());
    match (cli.expect, code) {
        (None, _) | (Some(Expect::Ok), None) => ExitCode::SUCCESS,
        (Some(Expect::Errno(want)), Some(got)) if want == got => ExitCode::SUCCESS,
        (Some(want), _) => {
            eprintln!("witness-vmtool: expected {want:?}, got {label}");
            ExitCode::FAILURE
        }
    }
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::LandlockOpen { .. } => "landlock-open",
            Command::LandlockCreate { .. } => "landlock-create",
            Command::LandlockConnect { .. } => "landlock-connect",
            Command::Connect { .. } => "connect",
            Command::Listen { .. } => "listen",
            Command::UdpSend { .. } => "udp-send",
            Command::PtraceAttach { .. } => "ptrace-attach",
            Command::BpfLoad { .. } => "bpf-load",
            Command::ModuleLoad { .. } => "module-load",
            Command::AddKey { .. } => "add-key",
            Command::RequestKey { .. } => "request-key",
            Command::HostileDevice { .. } => "hostile-device",
            Command::MmapCheck { .. } => "mmap-check",
            Command::Churn { .. } => "churn",
            Command::Pod { .. } => "pod",
            Command::Storm { .. } => "storm",
            Command::Bench { .. } => "bench",
        }
    }
}

/// Runs a command: Err(setup problem), Ok(Err(the action's OS error)) or
/// Ok(Ok(a description of what happened)).
fn run(command: &Command) -> anyhow::Result<io::Result<String>> {
    Ok(match command {
        Command::LandlockOpen { path } => {
            sys::landlock_restrict(sys::LANDLOCK_ACCESS_FS_READ_FILE, 0)?;
            std::fs::File::open(path).map(|_| format!("opened {path}"))
        }
        Command::LandlockCreate { path } => {
            sys::landlock_restrict(sys::LANDLOCK_ACCESS_FS_MAKE_REG, 0)?;
            std::fs::File::create_new(path).map(|_| format!("created {path}"))
        }
        Command::LandlockConnect { addr } => {
            if sys::landlock_abi()? < 4 {
                bail!("this kernel's Landlock ABI is below 4: it cannot restrict TCP connects");
            }
            sys::landlock_restrict(0, sys::LANDLOCK_ACCESS_NET_CONNECT_TCP)?;
            TcpStream::connect(addr).map(|_| format!("connected to {addr}"))
        }
        Command::Connect { addr, timeout_ms } => TcpStream::connect_timeout(addr, Duration::from_millis(*timeout_ms))
            .map(|s| format!("connected to {addr} from {}", s.local_addr().map_or("?".into(), |a| a.to_string()))),
        Command::Listen { addr, accept } => listen(*addr, *accept),
        Command::UdpSend { addr, count } => udp_send(*addr, *count),
        Command::PtraceAttach { pid, landlock } => {
            if *landlock {
                sys::landlock_restrict(sys::LANDLOCK_ACCESS_FS_READ_FILE, 0)?;
            }
            sys::ptrace_attach(*pid).map(|()| format!("attached to and detached from {pid}"))
        }
        Command::BpfLoad { invalid } => {
            sys::bpf_load_socket_filter("witness_test", *invalid).map(|fd| format!("program fd {fd}"))
        }
        Command::ModuleLoad { path, from_memory } => {
            sys::load_module(path, *from_memory).map(|_| format!("loaded {path}"))
        }
        Command::AddKey { key_type, description, payload } => {
            sys::add_key(&cstr(key_type)?, &cstr(description)?, payload.as_bytes()).map(|id| format!("key {id}"))
        }
        Command::RequestKey { key_type, description } => {
            sys::request_key(&cstr(key_type)?, &cstr(description)?).map(|id| format!("key {id}"))
        }
        Command::HostileDevice { device, rounds, seed, threads, seconds } => hostile::run(device, *rounds, *seed)
            .and_then(|mut summary| {
                if *threads > 0 {
                    summary.push_str(" | concurrent: ");
                    summary.push_str(&hostile::concurrent(device, *threads, *seconds, *seed)?);
                }
                Ok(summary)
            }),
        Command::MmapCheck { device, cpu, hold } => return mmap::run(device, *cpu, *hold),
        Command::Churn { device, threads, seconds } => churn::run(device, *threads, *seconds),
        Command::Pod { endpoint, image, name, namespace, uid, labels, cgroup_parent, container, command } => {
            Ok(cri::run(&cri::PodSpec {
                endpoint,
                image,
                name,
                namespace,
                uid,
                labels,
                cgroup_parent,
                container,
                command,
            })?)
        }
        Command::Storm { threads, seconds, path, rate } => Ok(bench::storm(*threads, *rate, *seconds, path)?),
        Command::Bench { op, iterations, rounds, path, marked, drained } => {
            let how = bench::Rounds { marked: *marked, drained: *drained };
            Ok(bench::run(*op, *iterations, *rounds, how, path)?)
        }
    })
}

fn cstr(s: &str) -> anyhow::Result<CString> {
    CString::new(s).with_context(|| format!("'{s}' contains a NUL byte"))
}

fn listen(addr: SocketAddr, accept: u32) -> io::Result<String> {
    let listener = TcpListener::bind(addr)?;
    let mut peers = Vec::new();
    for _ in 0..accept {
        let (_, peer) = listener.accept()?;
        peers.push(peer.to_string());
    }
    Ok(format!("accepted {}", peers.join(", ")))
}

fn udp_send(addr: SocketAddr, count: u32) -> io::Result<String> {
    let bind: SocketAddr = if addr.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().expect("literal address");
    let socket = UdpSocket::bind(bind)?;
    for _ in 0..count {
        // To a closed port the kernel drops the datagram (and says so with
        // ICMP, which surfaces as ECONNREFUSED on a later send: ignore it).
        match socket.send_to(b"witness", addr) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(format!("sent {count} datagrams to {addr}"))
}
