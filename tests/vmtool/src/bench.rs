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
//!
//! With `--marked`, each round is bracketed by the marker instructions that
//! the QEMU plugin `scripts/icount/witness-icount.c` counts between, so the
//! round's guest instruction count is known exactly. With `--drained`, each
//! round waits first until every ring of `/dev/witness` is empty, so that a
//! collector draining them is asleep when the round starts (otherwise the
//! backlog keeps it awake and the loop never pays for waking it).

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

/// The start marker: `nopl 0x57540001(%rax)`, a NOP nothing else emits.
#[inline(always)]
fn mark_start() {
    // SAFETY: a NOP; it touches no memory, register or flag.
    unsafe {
        core::arch::asm!(".byte 0x0f, 0x1f, 0x80, 0x01, 0x00, 0x54, 0x57", options(nomem, nostack, preserves_flags))
    };
}

/// The stop marker: `nopl 0x57540002(%rax)`.
#[inline(always)]
fn mark_stop() {
    // SAFETY: as for mark_start.
    unsafe {
        core::arch::asm!(".byte 0x0f, 0x1f, 0x80, 0x02, 0x00, 0x54, 0x57", options(nomem, nostack, preserves_flags))
    };
}

/// Waits (up to 30 s) until no ring of the device at `path` holds unread
/// bytes; returns at once when there is no device (module unloaded).
fn wait_drained(device: &str) -> anyhow::Result<()> {
    use std::os::fd::AsRawFd;
    use witness_abi::ioctl::{CpuStats, StatsRequest, WITNESS_IOC_STATS};
    let file = match std::fs::File::open(device) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("opening {device}")),
    };
    let mut cpus = vec![CpuStats::default(); 256];
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut req = StatsRequest {
            cpus: cpus.as_mut_ptr() as u64,
            cpus_cap: u32::try_from(cpus.len()).unwrap_or(u32::MAX),
            ..StatsRequest::default()
        };
        // SAFETY: WITNESS_IOC_STATS fills at most `cpus_cap` entries of
        // `cpus` (and no hook entries: `hooks_cap` is 0) and `req`.
        if unsafe { libc::ioctl(file.as_raw_fd(), WITNESS_IOC_STATS as _, &mut req) } < 0 {
            return Err(io::Error::last_os_error()).with_context(|| format!("WITNESS_IOC_STATS on {device}"));
        }
        let n = (req.cpus_len as usize).min(cpus.len());
        let unread: u64 = cpus[..n].iter().map(|c| c.unread).sum();
        if unread == 0 {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "{unread} bytes still unread in {device} after 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How a round is run: bracketed by markers, after the rings drained.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Rounds {
    pub(crate) marked: bool,
    pub(crate) drained: bool,
}

/// Runs `op` `iterations` times per round, `rounds` rounds; the median ns
/// per operation.
pub(crate) fn run(op: Op, iterations: u32, rounds: u32, how: Rounds, path: &str) -> anyhow::Result<String> {
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
        if how.drained {
            wait_drained("/dev/witness")?;
        }
        let start = Instant::now();
        if how.marked {
            mark_start();
        }
        for _ in 0..iterations {
            once().with_context(|| op.name())?;
        }
        if how.marked {
            mark_stop();
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
