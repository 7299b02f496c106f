//! `hostile-device`: hammers /dev/witness with bad arguments. Every call
//! must fail cleanly (or succeed where the argument is valid): the scenario
//! checks the kernel log for oopses and warnings afterwards. Prints how many
//! calls of each sort it made and what they returned.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::os::fd::AsRawFd;

/// witness ioctl type byte.
const TYPE: u64 = b'W' as u64;

fn ioc(dir: u64, nr: u64, size: u64) -> u64 {
    (dir << 30) | (size << 16) | (TYPE << 8) | nr
}

/// Pointers no process may hand the kernel: NULL, unmapped, kernel space,
/// non-canonical, and the last byte of user space.
const BAD_POINTERS: &[u64] = &[0, 8, 0xdead_0000, 0xffff_8000_0000_0000, 0x8000_0000_0000_0000, 0x0000_7fff_ffff_ffff];

/// A tiny xorshift generator: reproducible runs from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Runs `rounds` rounds; returns a summary of errnos per call sort.
pub(crate) fn run(path: &str, rounds: u32, seed: u64) -> std::io::Result<String> {
    let file = OpenOptions::new().read(true).open(path)?;
    let fd = file.as_raw_fd();
    let mut rng = Rng(seed | 1);
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    let mut note = |what: &str, ret: libc::c_long| {
        let err = if ret < 0 { std::io::Error::last_os_error().raw_os_error().unwrap_or(0) } else { 0 };
        *seen
            .entry(format!("{what}:{}", crate::errno::describe(&std::io::Error::from_raw_os_error(err))))
            .or_default() += 1;
    };
    let mut buf = vec![0u8; 1 << 16];
    for round in 0..rounds {
        // Every known ioctl number with bad pointers, and random numbers.
        for nr in 0..8u64 {
            for dir in 0..4u64 {
                for size in [0u64, 1, 15, 16, 32, 280, 0x3fff] {
                    let cmd = ioc(dir, nr, size);
                    let arg = BAD_POINTERS[(rng.next() as usize) % BAD_POINTERS.len()];
                    // SAFETY: the kernel validates ioctl arguments; bad
                    // pointers must fail with EFAULT, not touch our memory.
                    note("ioctl-bad-ptr", unsafe { libc::ioctl(fd, cmd as _, arg) }.into());
                }
            }
        }
        let random_cmd = rng.next();
        // SAFETY: as above; a random command must fail with ENOTTY.
        note("ioctl-random", unsafe { libc::ioctl(fd, random_cmd as _, rng.next()) }.into());
        // Valid pointers to random bytes (config and filter ops with junk).
        let junk: Vec<u8> = (0..512).map(|_| rng.next() as u8).collect();
        for nr in [4u64, 5] {
            let size = if nr == 4 { 16 } else { 280 };
            // SAFETY: `junk` is 512 readable bytes, more than the size.
            note("ioctl-junk", unsafe { libc::ioctl(fd, ioc(1, nr, size) as _, junk.as_ptr()) }.into());
        }
        // Stats requests pointing at bad buffers, with huge capacities.
        let mut req = [0u64; 4];
        req[0] = BAD_POINTERS[(round as usize) % BAD_POINTERS.len()];
        req[1] = BAD_POINTERS[(round as usize + 1) % BAD_POINTERS.len()];
        req[2] = u64::from(u32::MAX) | (u64::from(rng.next() as u32) << 32);
        // SAFETY: `req` is a readable and writable 32-byte StatsRequest.
        note("ioctl-stats-bad-buffers", unsafe { libc::ioctl(fd, ioc(3, 2, 32) as _, req.as_mut_ptr()) }.into());
        // Reads: tiny, unaligned, huge, and into bad pointers (non-blocking).
        // SAFETY: fcntl on our own fd.
        unsafe { libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK) };
        for len in [0usize, 1, 7, 31, 33, 4095] {
            let off = (rng.next() as usize) % 8;
            // SAFETY: `buf` has room for off + len bytes.
            note("read-small", unsafe { libc::read(fd, buf.as_mut_ptr().add(off).cast(), len) } as libc::c_long);
        }
        // SAFETY: huge length on a real buffer: the kernel must bound it by
        // whole records (and the buffer is big enough for any batch it
        // returns... it copies at most what fits in `len`, so use our buffer
        // size).
        note("read-full", unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } as libc::c_long);
        for p in BAD_POINTERS {
            // SAFETY: bad pointers must give EFAULT (or EAGAIN when empty).
            note("read-bad-ptr", unsafe { libc::read(fd, *p as *mut libc::c_void, 1 << 20) } as libc::c_long);
        }
        // Poll with a zero timeout.
        let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        note("poll", unsafe { libc::poll(&mut pfd, 1, 0) }.into());
        // Writes and seeks are not supported.
        // SAFETY: writing from a valid buffer.
        note("write", unsafe { libc::write(fd, buf.as_ptr().cast(), 16) } as libc::c_long);
        // SAFETY: plain lseek.
        note("lseek", unsafe { libc::lseek(fd, 0, libc::SEEK_SET) });
    }
    let summary: Vec<String> = seen.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Ok(summary.join(" "))
}

/// `threads` threads for `seconds`, each doing random device operations
/// with random arguments: opening and closing its own descriptors, and
/// polling, reading, querying and mapping both those and one descriptor
/// all threads share. Returns the operations made and their outcomes.
pub(crate) fn concurrent(path: &str, threads: usize, seconds: f64, seed: u64) -> std::io::Result<String> {
    use std::sync::Mutex;
    use std::time::{Duration, Instant};
    let shared = OpenOptions::new().read(true).open(path)?;
    let shared_fd = shared.as_raw_fd();
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let totals: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| {
        for t in 0..threads {
            let totals = &totals;
            s.spawn(move || {
                let mut rng = Rng((seed ^ (t as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1);
                let mut seen: BTreeMap<String, u64> = BTreeMap::new();
                let mut note = |what: &str, failed: bool| {
                    let name = if failed {
                        let e = std::io::Error::last_os_error();
                        crate::errno::describe(&e).split(' ').next().unwrap_or("E?").to_string()
                    } else {
                        "ok".to_string()
                    };
                    *seen.entry(format!("{what}:{name}")).or_default() += 1;
                };
                let mut buf = vec![0u8; 1 << 16];
                let mut own: Vec<std::fs::File> = Vec::new();
                while Instant::now() < end {
                    let fd = match own.get((rng.next() as usize) % (own.len() + 1)) {
                        Some(f) if !rng.next().is_multiple_of(4) => f.as_raw_fd(),
                        _ => shared_fd,
                    };
                    match rng.next() % 7 {
                        0 => match OpenOptions::new().read(true).open(path) {
                            Ok(f) if own.len() < 8 => {
                                note("open", false);
                                own.push(f);
                            }
                            Ok(_) => note("open", false),
                            Err(_) => note("open", true),
                        },
                        1 => {
                            if !own.is_empty() {
                                let i = (rng.next() as usize) % own.len();
                                drop(own.swap_remove(i));
                                note("close", false);
                            }
                        }
                        2 => {
                            let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
                            // SAFETY: one valid pollfd; a short timeout.
                            let r = unsafe { libc::poll(&mut pfd, 1, (rng.next() % 3) as i32) };
                            note("poll", r < 0);
                        }
                        3 => {
                            let len = [0usize, 1, 8, 100, 4096, 1 << 16][(rng.next() as usize) % 6];
                            // SAFETY: fcntl on a descriptor we hold; `buf`
                            // has room for `len` bytes.
                            let r = unsafe {
                                libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK);
                                libc::read(fd, buf.as_mut_ptr().cast(), len)
                            };
                            note("read", r < 0);
                        }
                        4 => {
                            let cmd =
                                ioc(rng.next() % 4, rng.next() % 8, [0u64, 16, 32, 280][(rng.next() as usize) % 4]);
                            let arg = if rng.next().is_multiple_of(2) {
                                buf.as_mut_ptr() as u64
                            } else {
                                BAD_POINTERS[(rng.next() as usize) % BAD_POINTERS.len()]
                            };
                            // SAFETY: the kernel validates the argument;
                            // `buf` is 64 KiB, more than any request size.
                            let r = unsafe { libc::ioctl(fd, cmd as _, arg) };
                            note("ioctl", r < 0);
                        }
                        _ => {
                            let page = 4096u64;
                            let offset = (rng.next() % 4096) * page;
                            let len = ((rng.next() % 16) + 1) * page;
                            let prot = if rng.next().is_multiple_of(2) {
                                libc::PROT_READ
                            } else {
                                libc::PROT_READ | libc::PROT_WRITE
                            };
                            let flags = if rng.next().is_multiple_of(3) { libc::MAP_PRIVATE } else { libc::MAP_SHARED };
                            // SAFETY: a fresh mapping the kernel places; it
                            // is unmapped right away and never touched.
                            let p = unsafe {
                                libc::mmap(std::ptr::null_mut(), len as usize, prot, flags, fd, offset as i64)
                            };
                            if p == libc::MAP_FAILED {
                                note("mmap", true);
                            } else {
                                note("mmap", false);
                                // SAFETY: the mapping just made.
                                unsafe { libc::munmap(p, len as usize) };
                            }
                        }
                    }
                }
                drop(own);
                let mut totals = totals.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                for (k, v) in seen {
                    *totals.entry(k).or_default() += v;
                }
            });
        }
    });
    drop(shared);
    let totals = totals.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    let ops: u64 = totals.values().sum();
    let summary: Vec<String> = totals.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Ok(format!("{ops} operations on {threads} threads: {}", summary.join(" ")))
}
