//! Syscall loops for the in-kernel overhead benchmark (`make bench`), and a
//! rate-limited open storm for the loss-free rate.
//!
//! `witness-vmtool bench OP` runs OP in a tight loop on one pinned CPU and
//! prints `BENCH op=OP ns=NS iterations=N`: the median over `--rounds`
//! rounds of the mean time per operation. The operations:
//!
//! - `getpid`: the cheapest system call, the floor no hook touches;
//! - `open`: open(2) and close(2) of a file (file_open hook);
//! - `connect`: a TCP connect to a listener on 127.0.0.1 and close (socket
//!   connect, accept and TCP state hooks);
//! - `fork-exec`: fork, exec of `/bin/true` and wait (fork, exec, bprm
//!   check and exit hooks).

use std::io;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::sys;

/// One benchmark operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Op {
    /// getpid(2).
    Getpid,
    /// open(2) + close(2).
    Open,
    /// connect(2) to a local listener + close.
    Connect,
    /// fork + exec /bin/true + wait.
    ForkExec,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Getpid => "getpid",
            Op::Open => "open",
            Op::Connect => "connect",
            Op::ForkExec => "fork-exec",
        }
    }
}

/// Runs `op` `iterations` times per round, `rounds` rounds; the median ns
/// per operation.
pub(crate) fn run(op: Op, iterations: u32, rounds: u32, path: &str) -> anyhow::Result<String> {
    sys::pin_to_cpu(0);
    let listener = if op == Op::Connect {
        let l = TcpListener::bind("127.0.0.1:0").context("listening on 127.0.0.1")?;
        // Accept in a thread on the other CPU, dropping each connection.
        let accept = l.try_clone()?;
        std::thread::spawn(move || {
            sys::pin_to_cpu(1);
            for stream in accept.incoming() {
                drop(stream);
            }
        });
        Some(l)
    } else {
        None
    };
    let addr = listener.as_ref().map(TcpListener::local_addr).transpose()?;
    let cpath = std::ffi::CString::new(path).context("path")?;
    let once = || -> io::Result<()> {
        match op {
            Op::Getpid => {
                // SAFETY: getpid has no preconditions.
                std::hint::black_box(unsafe { libc::getpid() });
            }
            Op::Open => {
                // SAFETY: a valid NUL-terminated path; the fd is closed.
                let fd = unsafe { libc::open(cpath.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
                if fd < 0 {
                    return Err(io::Error::last_os_error());
                }
                // SAFETY: fd was just opened by us.
                unsafe { libc::close(fd) };
            }
            Op::Connect => {
                let addr = addr.ok_or_else(|| io::Error::other("no listener"))?;
                drop(TcpStream::connect(addr)?);
            }
            Op::ForkExec => {
                let status = std::process::Command::new("/bin/true").status()?;
                if !status.success() {
                    return Err(io::Error::other(format!("/bin/true: {status}")));
                }
            }
        }
        Ok(())
    };
    // Warm up (page cache, dentries, the listener's backlog).
    for _ in 0..iterations.min(100) {
        once().with_context(|| format!("{} warm-up", op.name()))?;
    }
    let mut per_op = Vec::new();
    for _ in 0..rounds.max(1) {
        let start = Instant::now();
        for _ in 0..iterations {
            once().with_context(|| op.name())?;
        }
        per_op.push(start.elapsed().as_secs_f64() * 1e9 / f64::from(iterations.max(1)));
    }
    per_op.sort_by(f64::total_cmp);
    let median = per_op[per_op.len() / 2];
    Ok(format!("BENCH op={} ns={median:.0} iterations={iterations} rounds={rounds}", op.name()))
}

/// Opens `path` at `rate` opens/s in total, spread over `threads` threads
/// (at least one) pinned round-robin to the CPUs, for `seconds`; rate 0
/// means as fast as possible. Says `N opens in S s (R/s) on T threads`.
pub(crate) fn storm(threads: usize, rate: u64, seconds: f64, path: &str) -> anyhow::Result<String> {
    let duration = Duration::try_from_secs_f64(seconds).context("--seconds")?;
    let threads = threads.max(1);
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    // Each thread opens in bursts of `burst`, paced so that the total is
    // `rate`: a burst every `burst * threads / rate` seconds.
    let burst = 16u64;
    let interval = (rate > 0).then(|| Duration::from_secs_f64(burst as f64 * threads as f64 / rate as f64));
    let start = Instant::now();
    let opens: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                s.spawn(move || {
                    sys::pin_to_cpu(i % cpus);
                    let mut n = 0u64;
                    let mut next = Instant::now();
                    while start.elapsed() < duration {
                        for _ in 0..burst {
                            if std::fs::File::open(path).is_ok() {
                                n += 1;
                            }
                        }
                        if let Some(interval) = interval {
                            next += interval;
                            let now = Instant::now();
                            if next > now {
                                std::thread::sleep(next - now);
                            }
                        }
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    let secs = start.elapsed().as_secs_f64();
    // CAST: display only.
    #[allow(clippy::cast_precision_loss)]
    let achieved = opens as f64 / secs;
    Ok(format!("{opens} opens in {secs:.2} s ({achieved:.0}/s) on {threads} threads"))
}
