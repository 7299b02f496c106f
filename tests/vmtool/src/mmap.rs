//! `mmap-check`: maps one CPU's ring the way a zero-copy consumer does (the
//! area read-only, then the consumer page read-write over it), drains it
//! with the shared-abi ring code, and checks that the module refuses every
//! mapping that would let user space write what it must not.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::AsRawFd;

use witness_abi::ioctl::{DeviceInfo, WITNESS_IOC_INFO};
use witness_abi::ring::{ring_area_len, Ring, RING_CONSUMER_OFFSET, RING_DATA_OFFSET, RING_PAGE_SIZE};

fn map(fd: i32, addr: usize, len: usize, prot: i32, flags: i32, offset: usize) -> io::Result<usize> {
    // CAST: offsets are far below i64::MAX.
    // SAFETY: a fresh mapping (or MAP_FIXED over one we own); the kernel
    // validates everything else.
    let p = unsafe { libc::mmap(addr as *mut libc::c_void, len, prot, flags, fd, offset as libc::off_t) };
    if p == libc::MAP_FAILED {
        Err(io::Error::last_os_error())
    } else {
        Ok(p as usize)
    }
}

fn refused(what: &str, result: io::Result<usize>, failures: &mut Vec<String>) {
    match result {
        Err(_) => {}
        Ok(addr) => failures.push(format!("{what}: allowed (mapped at {addr:#x})")),
    }
}

pub(crate) fn run(path: &str, cpu: usize, hold: f64) -> anyhow::Result<io::Result<String>> {
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    let fd = file.as_raw_fd();
    let mut info = DeviceInfo::default();
    // SAFETY: WITNESS_IOC_INFO writes a DeviceInfo into `info`.
    if unsafe { libc::ioctl(fd, WITNESS_IOC_INFO as _, &mut info) } < 0 {
        return Ok(Err(io::Error::last_os_error()));
    }
    let data_size = info.ring_data_size as usize;
    let area = ring_area_len(data_size);
    let base_off = cpu * area;
    let (ro, rw, shared, private) =
        (libc::PROT_READ, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, libc::MAP_PRIVATE);

    let mut failures = Vec::new();
    refused("data page writable", map(fd, 0, RING_PAGE_SIZE, rw, shared, base_off + RING_DATA_OFFSET), &mut failures);
    refused("producer page writable", map(fd, 0, RING_PAGE_SIZE, rw, shared, base_off), &mut failures);
    refused(
        "consumer page private-writable",
        map(fd, 0, RING_PAGE_SIZE, rw, private, base_off + RING_CONSUMER_OFFSET),
        &mut failures,
    );
    refused("beyond the area", map(fd, 0, 2 * area, ro, shared, base_off), &mut failures);
    refused(
        "beyond the last ring",
        map(fd, 0, RING_PAGE_SIZE, ro, shared, info.nr_rings as usize * area),
        &mut failures,
    );

    let base = map(fd, 0, area, ro, shared, base_off)?;
    // SAFETY: mprotect on our own mapping; it must fail (no VM_MAYWRITE).
    if unsafe { libc::mprotect(base as *mut libc::c_void, RING_PAGE_SIZE, rw) } == 0 {
        failures.push("mprotect of the read-only mapping to writable: allowed".into());
    }
    map(
        fd,
        base + RING_CONSUMER_OFFSET,
        RING_PAGE_SIZE,
        rw,
        shared | libc::MAP_FIXED,
        base_off + RING_CONSUMER_OFFSET,
    )?;

    // SAFETY: `base` maps the whole ring area of `data_size`, page-aligned,
    // with the consumer page writable; we are its only consumer while this
    // runs (the scenario runs no other reader).
    let ring = unsafe { Ring::from_raw(base as *mut u8, data_size) }.map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut cursor = ring.read_begin();
    let mut records = 0u64;
    let mut bytes = 0usize;
    while let Some(rec) = ring.read_next(&cursor).map_err(|e| anyhow::anyhow!("{e}"))? {
        records += 1;
        bytes += rec.bytes.len();
        ring.read_advance(&mut cursor, &rec);
    }
    ring.read_commit(&cursor);
    let counters = ring.counters();
    if counters.tail != counters.head {
        failures.push(format!("tail {} did not reach head {}", counters.tail, counters.head));
    }
    if !failures.is_empty() {
        anyhow::bail!("mmap protections broken: {}", failures.join("; "));
    }
    if hold > 0.0 {
        println!("holding the mapping for {hold} s");
        std::io::Write::flush(&mut std::io::stdout())?;
        std::thread::sleep(std::time::Duration::try_from_secs_f64(hold)?);
        // The module may have been unloaded meanwhile: the pages stay valid
        // until we unmap them.
        let c = ring.counters();
        println!("after holding: head {} tail {}", c.head, c.tail);
    }
    Ok(Ok(format!(
        "cpu {cpu}: consumed {records} records ({bytes} bytes) through mmap; every forbidden mapping refused"
    )))
}
