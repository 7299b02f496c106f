//! Ring protocol benchmark: the real `witness_abi::ring` code driven in user
//! space by one producer thread and one consumer thread on different cores.
//!
//! Method. A ring with a 4 MiB data area (plus its two control pages) is
//! allocated page-aligned and zeroed, and every page is touched before the
//! run so page faults are not measured. The producer thread, pinned to the
//! first CPU the process may use (CPU 0 normally), calls [`Ring::produce`]
//! as fast as it can for a fixed time, with records whose total size (the
//! 32-byte header plus body) is 64 bytes, then in a second case 256 bytes.
//! Its `fill` copies a body template and stamps the first and last body words
//! with the attempt number. When the ring is full `produce` drops the record
//! and counts it; the producer counts it too and carries on (a producer that
//! outruns its consumer is expected, and the drops are reported, not an
//! error). The consumer thread, pinned to the second CPU (CPU 1 normally),
//! loops `read_begin` / `read_next` / `read_advance` / `read_commit` (one
//! commit per batch, a batch being at most [`COMMIT_BUDGET`] bytes, as the
//! collector's mmap drain does; when a batch is empty it commits nothing and
//! pauses for [`EMPTY_POLL_PAUSE`] spin hints before polling again, because
//! a consumer that re-polls an empty ring at once slows the producer down
//! by stealing its cache lines), reads every byte of every record, and checks
//! it: length, kind, CPU, that the sequence number only rises (a gap is a
//! drop), that the timestamp and both body stamps match the sequence
//! number, and that the sum of the rest of the body matches the template.
//! Any mismatch panics. At the end the consumer's count must equal the
//! ring's `produced` counter and the sum of sequence gaps (plus the drops
//! after the last record) its `dropped_full` counter.
//!
//! Records/s is records consumed divided by the consumer's wall time (from
//! the common start until the ring is drained after the producer stopped);
//! GB/s is that times the record size (1 GB = 10^9 bytes). For comparison
//! the same process measures single-thread memcpy bandwidth on the
//! producer's CPU: `ptr::copy_nonoverlapping` of 64-byte (256-byte) chunks
//! from a source buffer into consecutive slots of a 4 MiB destination,
//! round and round, for the same time. The ratio is ring GB/s over memcpy
//! GB/s for the same chunk size. Runs of the ring and memcpy cases are
//! interleaved; each case runs 5 times for 1.5 s and the run with the
//! median records/s (median GB/s for memcpy) is reported. Target: at least
//! 50 M records/s for 64-byte records.
//!
//! Noise. Every ring figure depends on how fast a cache line moves between
//! the two cores, so the bench measures that (a ping-pong round trip) at the
//! start and before each ring run: the per-run lines on stderr show it,
//! with how much of the run each measuring thread was actually on its CPU,
//! and the table ends with the range seen (and a note when another process
//! shared the CPUs). On a 2-vCPU VM the round trip moves several-fold from
//! minute to minute as the host moves the virtual CPUs, and the ring moves
//! with it: on one such EPYC VM, 64-byte records ran at about 200 M/s with
//! a 45 ns round trip, 30-35 M/s at 375 ns and 10-25 M/s above 1 us, the
//! last being what a bare stream of cache lines between the same two CPUs
//! reached too. Compare runs only at similar round trips.
//!
//! Run: `cargo bench -p witness-abi --bench ring`.
//! `WITNESS_BENCH_QUICK=1` makes it 2 runs of 0.5 s (a smoke test);
//! `WITNESS_BENCH_OUT=FILE` appends the figures to FILE as JSON lines, one
//! object per figure (`group`, `name`, `value`, `unit`, `target`, `met`).

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::hint::black_box;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use witness_abi::record::{RecordKind, RECORD_ALIGN, RECORD_HEADER_LEN};
use witness_abi::ring::{ring_area_len, DropReason, Produced, Ring, RING_PAGE_SIZE};

/// Bytes in the ring's data area.
const DATA_SIZE: usize = 4 << 20;
/// Total record sizes (header included) of the two cases.
const RECORD_SIZES: [usize; 2] = [64, 256];
/// The 64-byte case must reach this many records per second.
const TARGET_64: f64 = 50e6;
/// The consumer commits at least once per this many bytes read.
const COMMIT_BUDGET: u64 = 64 << 10;
/// When a batch is empty the consumer spins this many `spin_loop` hints
/// (a few microseconds; the ring takes hundreds of microseconds to fill)
/// before it loads `head` again. A consumer that re-polls at once keeps
/// pulling the producer's control cache line (and, if it also commits, the
/// consumer line the producer reads on every record) across cores once per
/// record; on a machine with slow cross-core transfers that locks the pair
/// into a caught-up state at a small fraction of the ring's throughput.
/// The collector's real consumer is woken by `poll` and never spins.
const EMPTY_POLL_PAUSE: u32 = 256;
/// The producer looks at the stop flag once per this many attempts.
const STOP_CHECK_EVERY: u64 = 64;
/// Mixed into the first body word, so that a zero word is never valid.
const MAGIC: u64 = 0x5749_544e_4553_5321;
/// The `cpu` field the producer writes.
const PRODUCER_CPU_FIELD: u32 = 7;

/// A page-aligned, zeroed allocation, freed on drop.
struct Area {
    ptr: *mut u8,
    layout: Layout,
}

impl Area {
    fn new(len: usize) -> Self {
        let layout = Layout::from_size_align(len, RING_PAGE_SIZE).expect("area layout");
        // SAFETY: the layout has a nonzero size.
        let ptr = unsafe { alloc_zeroed(layout) };
        assert!(!ptr.is_null(), "out of memory allocating {len} bytes");
        // Fault every page in now, so that the first pass is not slower.
        for off in (0..len).step_by(RING_PAGE_SIZE) {
            // SAFETY: `off < len`, inside the allocation; the store keeps
            // the memory zeroed.
            unsafe { ptr.add(off).write_volatile(0) };
        }
        Self { ptr, layout }
    }
}

impl Drop for Area {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.ptr, self.layout) }
    }
}

/// The few OS calls the bench needs.
#[cfg(target_os = "linux")]
mod os {
    /// The CPUs this thread may run on, in order.
    pub(crate) fn allowed_cpus() -> Vec<usize> {
        // SAFETY: an all-zero cpu_set_t is a valid (empty) set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: `set` is a writable cpu_set_t of the size passed; pid 0
        // is the calling thread.
        let rc = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &raw mut set) };
        if rc != 0 {
            return Vec::new();
        }
        // SAFETY: CPU_ISSET reads the set within its size.
        (0..libc::CPU_SETSIZE as usize).filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) }).collect()
    }

    /// Pins the calling thread to `cpu`; false if the kernel refused.
    pub(crate) fn pin(cpu: usize) -> bool {
        // SAFETY: an all-zero cpu_set_t is a valid (empty) set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: CPU_SET writes within the set (cpu < CPU_SETSIZE is
        // checked by the macro's implementation).
        unsafe { libc::CPU_SET(cpu, &mut set) };
        // SAFETY: `set` is a readable cpu_set_t of the size passed; pid 0
        // is the calling thread.
        unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &raw const set) == 0 }
    }

    /// CPU time the calling thread has used, in seconds.
    pub(crate) fn thread_cpu_secs() -> Option<f64> {
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `ts` is a writable timespec.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut ts) };
        // CAST: seconds and nanoseconds of a thread's CPU time fit an f64.
        #[allow(clippy::cast_precision_loss)]
        (rc == 0).then(|| ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9)
    }
}

/// Elsewhere: no pinning, no CPU-time figures.
#[cfg(not(target_os = "linux"))]
mod os {
    pub(crate) fn allowed_cpus() -> Vec<usize> {
        Vec::new()
    }

    pub(crate) fn pin(_cpu: usize) -> bool {
        false
    }

    pub(crate) fn thread_cpu_secs() -> Option<f64> {
        None
    }
}

/// Where the two threads run.
#[derive(Clone, Copy)]
struct Placement {
    producer: Option<usize>,
    consumer: Option<usize>,
}

impl Placement {
    fn choose() -> (Self, String) {
        let cpus = os::allowed_cpus();
        match cpus.as_slice() {
            [] => {
                (Self { producer: None, consumer: None }, "threads not pinned (CPU affinity unavailable)".to_string())
            }
            [only] => (
                Self { producer: Some(*only), consumer: Some(*only) },
                format!("only one CPU available: producer and consumer both pinned to CPU {only} (they share it)"),
            ),
            [p, c, ..] => (
                Self { producer: Some(*p), consumer: Some(*c) },
                format!("producer pinned to CPU {p}, consumer pinned to CPU {c}"),
            ),
        }
    }
}

/// Wall and CPU time of the calling thread since `start`.
struct Stopwatch {
    wall: Instant,
    cpu: Option<f64>,
}

impl Stopwatch {
    fn start() -> Self {
        Self { wall: Instant::now(), cpu: os::thread_cpu_secs() }
    }

    /// (wall seconds, share of them this thread was on a CPU).
    fn stop(&self) -> (f64, Option<f64>) {
        let wall = self.wall.elapsed().as_secs_f64();
        let cpu = os::thread_cpu_secs().zip(self.cpu).map(|(end, start)| ((end - start) / wall).min(1.0));
        (wall, cpu)
    }
}

fn pin(cpu: Option<usize>) {
    if let Some(cpu) = cpu {
        if !os::pin(cpu) {
            eprintln!("warning: could not pin a thread to CPU {cpu}");
        }
    }
}

/// A tiny deterministic PRNG (xorshift64*) for the body template.
fn template(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            // CAST: keeping the top byte is the point.
            (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

fn word(bytes: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// Wrapping sum of the 8-byte words of `bytes`.
fn word_sum(bytes: &[u8]) -> u64 {
    bytes.chunks_exact(8).fold(0u64, |acc, w| acc.wrapping_add(u64::from_ne_bytes(w.try_into().expect("8 bytes"))))
}

/// What one ring run measured.
#[derive(Clone, Copy)]
struct RingRun {
    records: u64,
    attempts: u64,
    drops: u64,
    secs: f64,
    /// Share of the run the producer thread was on its CPU.
    producer_cpu: Option<f64>,
    /// Share of the run the consumer thread was on its CPU.
    consumer_cpu: Option<f64>,
}

impl RingRun {
    fn records_per_sec(&self) -> f64 {
        // CAST: counts far below 2^53.
        self.records as f64 / self.secs
    }
}

/// The producer: `produce` until `stop`, returning (attempts, drops, CPU
/// share).
fn produce_loop(ring: &Ring, body: &[u8], stop: &AtomicBool) -> (u64, u64, Option<f64>) {
    let clock = Stopwatch::start();
    let body_len = body.len();
    let mut attempt = 0u64;
    let mut drops = 0u64;
    loop {
        if attempt.is_multiple_of(STOP_CHECK_EVERY) && stop.load(Ordering::Relaxed) {
            return (attempt, drops, clock.stop().1);
        }
        let r = ring.produce(RecordKind::Exec, body_len, PRODUCER_CPU_FIELD, attempt, |b| {
            b.copy_from_slice(body);
            b[..8].copy_from_slice(&(attempt ^ MAGIC).to_ne_bytes());
            b[body_len - 8..].copy_from_slice(&(!attempt).to_ne_bytes());
            Some(body_len)
        });
        match r {
            Produced::Written(seq) => {
                assert_eq!(seq, attempt, "producer: sequence number is not the attempt number");
            }
            Produced::Dropped(DropReason::Full) => drops += 1,
            other => panic!("producer: unexpected result {other:?}"),
        }
        attempt += 1;
    }
}

/// What the consumer saw.
struct Consumed {
    records: u64,
    /// Sum of sequence gaps between consecutive records.
    gaps: u64,
    /// Sequence number of the last record, if any.
    last_seq: Option<u64>,
    secs: f64,
    cpu: Option<f64>,
}

/// The consumer: reads and checks every record until the producer is done
/// and the ring is empty.
fn consume_loop(ring: &Ring, total: usize, middle_sum: u64, done: &AtomicBool, start: &Barrier) -> Consumed {
    let mut records = 0u64;
    let mut gaps = 0u64;
    let mut next_seq = 0u64;
    let mut last_seq = None;
    let mut touched = 0u64;
    start.wait();
    let clock = Stopwatch::start();
    loop {
        // Read before the batch: if the producer had finished by then, a
        // batch that reaches the head it saw drains everything.
        let finished = done.load(Ordering::Acquire);
        let mut cursor = ring.read_begin();
        let batch_start = cursor.position();
        loop {
            let rec = match ring.read_next(&cursor) {
                Ok(Some(rec)) => rec,
                Ok(None) => break,
                Err(e) => panic!("consumer: {e}"),
            };
            let b = rec.bytes;
            if b.len() != total {
                panic!("consumer: corrupt record: length {} instead of {total} after seq {last_seq:?}", b.len());
            }
            let kind = u16::from_ne_bytes([b[4], b[5]]);
            let cpu = u32::from_ne_bytes([b[8], b[9], b[10], b[11]]);
            let seq = word(b, 16);
            let ts = word(b, 24);
            let first = word(b, RECORD_HEADER_LEN);
            let last = word(b, total - 8);
            let middle = word_sum(&b[RECORD_HEADER_LEN + 8..total - 8]);
            if kind != RecordKind::Exec as u16
                || cpu != PRODUCER_CPU_FIELD
                || seq < next_seq
                || ts != seq
                || first != seq ^ MAGIC
                || last != !seq
                || middle != middle_sum
            {
                panic!(
                    "consumer: corrupt record at ring position {}: kind {kind}, cpu {cpu}, seq {seq} \
                     (expected >= {next_seq}), ts {ts}, first word {first:#x} (expected {:#x}), \
                     last word {last:#x} (expected {:#x}), body sum {middle:#x} (expected {middle_sum:#x})",
                    rec.end - total as u64,
                    seq ^ MAGIC,
                    !seq,
                );
            }
            gaps += seq - next_seq;
            next_seq = seq + 1;
            last_seq = Some(seq);
            records += 1;
            touched = touched.wrapping_add(middle).wrapping_add(ts);
            ring.read_advance(&mut cursor, &rec);
            if cursor.position().wrapping_sub(batch_start) >= COMMIT_BUDGET {
                break;
            }
        }
        if cursor.position() != batch_start {
            ring.read_commit(&cursor);
        } else {
            // Caught up: wait a little before looking at `head` again (see
            // EMPTY_POLL_PAUSE). Nothing was read, so nothing is committed.
            for _ in 0..EMPTY_POLL_PAUSE {
                std::hint::spin_loop();
            }
        }
        if finished && cursor.is_done() {
            break;
        }
    }
    let (secs, cpu) = clock.stop();
    black_box(touched);
    Consumed { records, gaps, last_seq, secs, cpu }
}

/// Cross-core cache-line round trip in nanoseconds: the two threads take
/// turns incrementing a counter, each waiting for the other's increment.
/// None when both threads share one CPU (each turn would be a time slice).
fn round_trip_ns(placement: Placement, rounds: u64) -> Option<f64> {
    let one_cpu = std::thread::available_parallelism().map_or(true, |n| n.get() < 2);
    if one_cpu || (placement.producer.is_some() && placement.producer == placement.consumer) {
        return None;
    }
    let ball = AtomicU64::new(0);
    let start = Barrier::new(2);
    std::thread::scope(|s| {
        s.spawn(|| {
            pin(placement.consumer);
            start.wait();
            for i in 0..rounds {
                while ball.load(Ordering::Acquire) != 2 * i + 1 {
                    std::hint::spin_loop();
                }
                ball.store(2 * i + 2, Ordering::Release);
            }
        });
        pin_scoped(s, placement.producer, || {
            start.wait();
            let t0 = Instant::now();
            for i in 0..rounds {
                ball.store(2 * i + 1, Ordering::Release);
                while ball.load(Ordering::Acquire) != 2 * i + 2 {
                    std::hint::spin_loop();
                }
            }
            // CAST: `rounds` is small.
            Some(t0.elapsed().as_secs_f64() * 1e9 / rounds as f64)
        })
    })
}

/// Runs `f` on a new scoped thread pinned to `cpu` and returns its result.
fn pin_scoped<'scope, T: Send + 'scope>(
    s: &'scope std::thread::Scope<'scope, '_>,
    cpu: Option<usize>,
    f: impl FnOnce() -> T + Send + 'scope,
) -> T {
    s.spawn(move || {
        pin(cpu);
        f()
    })
    .join()
    .expect("pinned thread")
}

/// One ring run of `duration` with records of `total` bytes.
fn ring_run(total: usize, duration: Duration, placement: Placement) -> RingRun {
    assert!(total > RECORD_HEADER_LEN + 16 && total.is_multiple_of(RECORD_ALIGN));
    let area = Area::new(ring_area_len(DATA_SIZE));
    // SAFETY: the area is page-aligned, zeroed, `ring_area_len(DATA_SIZE)`
    // bytes long and outlives `ring`; one thread produces, one consumes.
    let ring = unsafe { Ring::from_raw(area.ptr, DATA_SIZE) }.expect("valid ring size");
    let body = template(total - RECORD_HEADER_LEN);
    let middle_sum = word_sum(&body[8..body.len() - 8]);
    let stop = AtomicBool::new(false);
    let done = AtomicBool::new(false);
    let start = Barrier::new(3);

    let ((attempts, drops, producer_cpu), consumed) = std::thread::scope(|s| {
        let producer = s.spawn(|| {
            pin(placement.producer);
            start.wait();
            let r = produce_loop(&ring, &body, &stop);
            done.store(true, Ordering::Release);
            r
        });
        let consumer = s.spawn(|| {
            pin(placement.consumer);
            consume_loop(&ring, total, middle_sum, &done, &start)
        });
        start.wait();
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        (producer.join().expect("producer thread"), consumer.join().expect("consumer thread"))
    });

    // Cross-check the consumer against the ring's own counters.
    let c = ring.counters();
    assert_eq!(c.next_seq, attempts, "ring next_seq vs producer attempts");
    assert_eq!(c.dropped_full, drops, "ring dropped_full vs producer drops");
    assert_eq!(c.dropped_nested, 0, "nested drops with one producer thread");
    assert_eq!(c.produced, consumed.records, "records produced vs consumed");
    assert_eq!(c.head, c.tail, "ring not drained");
    // Attempts after the last consumed record can only have been drops.
    let trailing = consumed.last_seq.map_or(attempts, |l| attempts - 1 - l);
    assert_eq!(consumed.gaps + trailing, drops, "sequence gaps vs drops");

    RingRun {
        records: consumed.records,
        attempts,
        drops,
        secs: consumed.secs,
        producer_cpu,
        consumer_cpu: consumed.cpu,
    }
}

/// Single-thread memcpy bandwidth in GB/s, and the thread's CPU share:
/// `chunk`-byte copies from a source buffer into consecutive slots of a
/// `DATA_SIZE` destination. The length is opaque to the compiler, so each
/// copy is a real `memcpy` call, as the producer's body copy is.
fn memcpy_run(chunk: usize, duration: Duration, cpu: Option<usize>) -> (f64, Option<f64>) {
    std::thread::scope(|s| {
        s.spawn(|| {
            pin(cpu);
            let chunk = black_box(chunk);
            let src = template(chunk);
            let dst = Area::new(DATA_SIZE);
            let slots = DATA_SIZE / chunk;
            let mut bytes = 0u64;
            let clock = Stopwatch::start();
            loop {
                let from = black_box(src.as_ptr());
                let to = black_box(dst.ptr);
                for slot in 0..slots {
                    // SAFETY: `src` holds `chunk` bytes; `slot * chunk +
                    // chunk <= DATA_SIZE`, inside `dst`; they do not overlap.
                    unsafe { std::ptr::copy_nonoverlapping(from, to.add(slot * chunk), chunk) };
                }
                black_box(to);
                // CAST: DATA_SIZE fits in u64.
                bytes += (slots * chunk) as u64;
                if clock.wall.elapsed() >= duration {
                    let (secs, share) = clock.stop();
                    // CAST: far below 2^53.
                    break (bytes as f64 / secs / 1e9, share);
                }
            }
        })
        .join()
        .expect("memcpy thread")
    })
}

/// The element at the median position of `runs` ordered by `key`.
fn median_by<T: Copy>(runs: &[T], key: impl Fn(&T) -> f64) -> T {
    let mut sorted = runs.to_vec();
    sorted.sort_by(|a, b| key(a).total_cmp(&key(b)));
    sorted[sorted.len() / 2]
}

fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "n/a".to_string(), |s| format!("{:.0}%", 100.0 * s))
}

/// One figure for `WITNESS_BENCH_OUT`.
struct Figure {
    name: String,
    value: f64,
    unit: &'static str,
    target: Option<(&'static str, bool)>,
}

fn json_line(f: &Figure) -> String {
    let (target, met) =
        f.target.map_or(("null".to_string(), "null".to_string()), |(t, m)| (format!("\"{t}\""), m.to_string()));
    let value = if f.value.is_finite() { format!("{:?}", f.value) } else { "null".to_string() };
    format!(
        "{{\"group\":\"ring\",\"name\":\"{}\",\"value\":{value},\"unit\":\"{}\",\"target\":{target},\"met\":{met}}}\n",
        f.name, f.unit
    )
}

fn main() {
    let quick = std::env::var_os("WITNESS_BENCH_QUICK").is_some_and(|v| v == "1");
    let (reps, duration) = if quick { (2, Duration::from_millis(500)) } else { (5, Duration::from_millis(1500)) };
    let (placement, where_) = Placement::choose();
    println!(
        "ring benchmark: {} MiB data area, {where_}; {reps} runs of {:.1} s per case{}",
        DATA_SIZE >> 20,
        duration.as_secs_f64(),
        if quick { " (WITNESS_BENCH_QUICK)" } else { "" }
    );
    if let Some(ns) = round_trip_ns(placement, 200_000) {
        println!("cross-core cache-line round trip: {ns:.0} ns (producer CPU to consumer CPU and back)");
    }

    let mut ring_runs: Vec<Vec<RingRun>> = vec![Vec::new(); RECORD_SIZES.len()];
    let mut memcpy_runs: Vec<Vec<(f64, Option<f64>)>> = vec![Vec::new(); RECORD_SIZES.len()];
    // The lowest share of its run any measuring thread had its CPU for.
    let mut min_share: Option<f64> = None;
    // Cross-core round trips measured before each ring run.
    let mut trips: Vec<f64> = Vec::new();
    for rep in 0..reps {
        for (i, &size) in RECORD_SIZES.iter().enumerate() {
            let trip = round_trip_ns(placement, 20_000);
            let r = ring_run(size, duration, placement);
            let m = memcpy_run(size, duration, placement.producer);
            if let Some(t) = trip {
                trips.push(t);
            }
            eprintln!(
                "  run {}/{reps} {size:>3} B: ring {:.2} M records/s, {} drops of {} attempts \
                 (CPU share producer {}, consumer {}; round trip before it {}); memcpy {:.2} GB/s (CPU share {})",
                rep + 1,
                r.records_per_sec() / 1e6,
                r.drops,
                r.attempts,
                percent(r.producer_cpu),
                percent(r.consumer_cpu),
                trip.map_or_else(|| "n/a".to_string(), |t| format!("{t:.0} ns")),
                m.0,
                percent(m.1),
            );
            for share in [r.producer_cpu, r.consumer_cpu, m.1].into_iter().flatten() {
                min_share = Some(min_share.map_or(share, |m: f64| m.min(share)));
            }
            ring_runs[i].push(r);
            memcpy_runs[i].push(m);
        }
    }

    let mut figures = Vec::new();
    let mut memcpy_figures = Vec::new();
    for (i, &size) in RECORD_SIZES.iter().enumerate() {
        let r = median_by(&ring_runs[i], RingRun::records_per_sec);
        let m = median_by(&memcpy_runs[i], |&(g, _)| g).0;
        let rps = r.records_per_sec();
        // CAST: small sizes.
        let gbs = rps * size as f64 / 1e9;
        let ratio = gbs / m;
        // CAST: counts far below 2^53.
        let drop_pct = if r.attempts == 0 { 0.0 } else { 100.0 * r.drops as f64 / r.attempts as f64 };
        let target = if size == 64 {
            let met = rps >= TARGET_64;
            format!(", target >= {} M records/s: {}", TARGET_64 / 1e6, if met { "met" } else { "NOT met" })
        } else {
            String::new()
        };
        println!(
            "ring {size:>4} B   records/s {:>6.1} M  GB/s {gbs:>5.2}  memcpy GB/s {m:>5.1}  ratio {ratio:.2}  \
             drops {} ({drop_pct:.1}% of attempts)  (median of {reps}{target})",
            rps / 1e6,
            r.drops
        );
        let met = (size == 64).then_some((">= 50000000", rps >= TARGET_64));
        figures.push(Figure { name: format!("{size} B records/s"), value: rps, unit: "records/s", target: met });
        figures.push(Figure { name: format!("{size} B GB/s"), value: gbs, unit: "GB/s", target: None });
        figures.push(Figure { name: format!("{size} B ratio to memcpy"), value: ratio, unit: "ratio", target: None });
        // CAST: far below 2^53.
        figures.push(Figure { name: format!("{size} B drops"), value: r.drops as f64, unit: "records", target: None });
        memcpy_figures.push(Figure {
            name: format!("memcpy GB/s {size} B chunks"),
            value: m,
            unit: "GB/s",
            target: None,
        });
    }
    figures.extend(memcpy_figures);
    if let (Some(lo), Some(hi)) = (trips.iter().copied().reduce(f64::min), trips.iter().copied().reduce(f64::max)) {
        println!("cross-core round trip before the ring runs: {lo:.0} to {hi:.0} ns");
    }
    if let Some(share) = min_share.filter(|&s| s < 0.9) {
        println!(
            "note: a measuring thread had its CPU for only {} of a run: other work shares these CPUs, figures are \
             pessimistic",
            percent(Some(share))
        );
    }

    if let Some(path) = std::env::var_os("WITNESS_BENCH_OUT") {
        let out: String = figures.iter().map(json_line).collect();
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path).expect("open WITNESS_BENCH_OUT");
        f.write_all(out.as_bytes()).expect("write WITNESS_BENCH_OUT");
    }
}
