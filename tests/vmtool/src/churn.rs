//! `churn`: device users coming and going while the module is unloaded and
//! loaded again. Each thread opens `/dev/witness`, maps a ring, polls and
//! reads, and lets go in a random order (sometimes closing the descriptor
//! before unmapping, so that the last reference to the file goes with the
//! mapping). A missing or shut-down device (ENOENT, ENODEV) is expected and
//! counted: the point is the kernel log, which must stay clean, and `rmmod`,
//! which must succeed whenever no thread holds the device.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::os::fd::AsRawFd;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use witness_abi::ring::{ring_area_len, RING_DATA_MIN};

/// Runs `threads` threads for `seconds`; returns the outcomes counted.
pub(crate) fn run(path: &str, threads: usize, seconds: f64) -> std::io::Result<String> {
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let totals: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for t in 0..threads {
            let totals = &totals;
            s.spawn(move || {
                let mut seen: BTreeMap<String, u64> = BTreeMap::new();
                let mut note = |what: &str, err: Option<std::io::Error>| {
                    let outcome = match err {
                        None => "ok".to_string(),
                        Some(e) => crate::errno::describe(&e).split(' ').next().unwrap_or("E?").to_string(),
                    };
                    *seen.entry(format!("{what}:{outcome}")).or_default() += 1;
                };
                let mut buf = vec![0u8; 4096];
                let mut round = t as u64;
                while Instant::now() < end {
                    round += 1;
                    let file = match OpenOptions::new().read(true).open(path) {
                        Ok(f) => f,
                        Err(e) => {
                            note("open", Some(e));
                            std::thread::sleep(Duration::from_millis(1));
                            continue;
                        }
                    };
                    note("open", None);
                    let fd = file.as_raw_fd();
                    // The smallest ring's area: every ring is at least this big.
                    let len = ring_area_len(RING_DATA_MIN);
                    // SAFETY: a fresh read-only shared mapping the kernel
                    // places; it is only unmapped, never dereferenced.
                    let map =
                        unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_SHARED, fd, 0) };
                    let map = if map == libc::MAP_FAILED {
                        note("mmap", Some(std::io::Error::last_os_error()));
                        None
                    } else {
                        note("mmap", None);
                        Some(map)
                    };
                    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
                    // SAFETY: one valid pollfd and a short timeout.
                    let r = unsafe { libc::poll(&mut pfd, 1, (round % 3) as i32) };
                    note("poll", (r < 0).then(std::io::Error::last_os_error));
                    // SAFETY: `buf` has room for its length; the descriptor
                    // is ours.
                    let r = unsafe {
                        libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK);
                        libc::read(fd, buf.as_mut_ptr().cast(), buf.len())
                    };
                    note("read", (r < 0).then(std::io::Error::last_os_error));
                    let unmap = |m| {
                        // SAFETY: the mapping made above, `len` bytes.
                        unsafe { libc::munmap(m, len) };
                    };
                    if round.is_multiple_of(2) {
                        drop(file);
                        map.map(unmap);
                    } else {
                        map.map(unmap);
                        drop(file);
                    }
                }
                let mut totals = totals.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                for (k, v) in seen {
                    *totals.entry(k).or_default() += v;
                }
            });
        }
    });
    let totals = totals.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    let summary: Vec<String> = totals.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Ok(format!("{threads} threads: {}", summary.join(" ")))
}
