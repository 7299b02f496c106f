//! In-kernel filters, applied before a record is written so that users keep
//! only decision-grade signals (and still see, in the stats, how much they
//! filtered).
//!
//! - cgroup ids and uids, each with an include and an exclude set: a task is
//!   recorded when it is in the include set (or that set is empty) and not in
//!   the exclude set;
//! - paths for file events: a file event is recorded when its path is one
//!   of them or under one (empty: every path);
//! - secret paths: opens of these, or of anything under them, are flagged
//!   `FILE_PATH_SECRET` and recorded whatever the other filters say.
//!
//! Paths match by whole components (`/srv/app` covers `/srv/app/key`, not
//! `/srv/application`), by their bytes: a filter names the path as the hook
//! resolved it (no symlink, `..` or bind-mount aliasing is undone), and a
//! path longer than `FILTER_PATH_MAX` bytes is compared by its first
//! `FILTER_PATH_MAX`. A filter reduces what is recorded; it is not an access
//! control, and a filtered event is counted (`filtered`), never a loss.
//!
//! Handlers read the sets without locks. Updates come from the control ioctl,
//! serialised by its caller, and publish with release ordering: a handler
//! racing with an update may judge one event by the old or the new set, never
//! by a torn value.

use core::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use kernel::prelude::*;

use crate::ioctl::{
    ends_component, FilterOp, FILTER_ADD, FILTER_CGROUP_EXCLUDE, FILTER_CGROUP_INCLUDE, FILTER_CLEAR,
    FILTER_MAX_ENTRIES, FILTER_PATH_MAX, FILTER_PATH_PREFIX, FILTER_REMOVE, FILTER_SECRET_PATH, FILTER_UID_EXCLUDE,
    FILTER_UID_INCLUDE,
};

/// A small set of numbers.
struct IdSet {
    len: AtomicU32,
    ids: [AtomicU64; FILTER_MAX_ENTRIES],
}

impl IdSet {
    const fn new() -> Self {
        Self { len: AtomicU32::new(0), ids: [const { AtomicU64::new(0) }; FILTER_MAX_ENTRIES] }
    }

    fn entries(&self) -> &[AtomicU64] {
        // CAST: len <= FILTER_MAX_ENTRIES.
        let n = (self.len.load(Ordering::Acquire) as usize).min(FILTER_MAX_ENTRIES);
        &self.ids[..n]
    }

    fn is_empty(&self) -> bool {
        self.len.load(Ordering::Acquire) == 0
    }

    fn contains(&self, v: u64) -> bool {
        self.entries().iter().any(|e| e.load(Ordering::Relaxed) == v)
    }

    fn add(&self, v: u64) -> Result {
        if self.contains(v) {
            return Ok(());
        }
        let n = self.entries().len();
        let slot = self.ids.get(n).ok_or(ENOSPC)?;
        slot.store(v, Ordering::Relaxed);
        // CAST: n < FILTER_MAX_ENTRIES.
        self.len.store(n as u32 + 1, Ordering::Release);
        Ok(())
    }

    fn remove(&self, v: u64) -> Result {
        let entries = self.entries();
        let i = entries.iter().position(|e| e.load(Ordering::Relaxed) == v).ok_or(ENOENT)?;
        let last = entries.len() - 1;
        entries[i].store(entries[last].load(Ordering::Relaxed), Ordering::Relaxed);
        // CAST: last < FILTER_MAX_ENTRIES.
        self.len.store(last as u32, Ordering::Release);
        Ok(())
    }

    fn clear(&self) {
        self.len.store(0, Ordering::Release);
    }
}

/// One path in a [`PathSet`]. Bytes are atomics so that a reader racing
/// with an update reads stale or new bytes, never undefined ones.
struct PathSlot {
    len: AtomicU32,
    bytes: [AtomicU8; FILTER_PATH_MAX],
}

impl PathSlot {
    const fn new() -> Self {
        Self { len: AtomicU32::new(0), bytes: [const { AtomicU8::new(0) }; FILTER_PATH_MAX] }
    }

    fn get(&self, buf: &mut [u8; FILTER_PATH_MAX]) -> usize {
        // CAST: len <= FILTER_PATH_MAX.
        let n = (self.len.load(Ordering::Acquire) as usize).min(FILTER_PATH_MAX);
        for (dst, src) in buf[..n].iter_mut().zip(self.bytes.iter()) {
            *dst = src.load(Ordering::Relaxed);
        }
        n
    }

    /// Whether the first bytes of `path` are this slot's path.
    fn is_prefix_of(&self, path: &[u8]) -> Option<usize> {
        // CAST: len <= FILTER_PATH_MAX.
        let n = (self.len.load(Ordering::Acquire) as usize).min(FILTER_PATH_MAX);
        let same =
            n > 0 && path.len() >= n && self.bytes[..n].iter().zip(path).all(|(a, b)| a.load(Ordering::Relaxed) == *b);
        same.then_some(n)
    }

    /// Whether `path` is this slot's path or under it, by whole components
    /// (shared-abi's `path_is_under`).
    fn covers(&self, path: &[u8]) -> bool {
        self.is_prefix_of(path).is_some_and(|n| ends_component(path[n - 1], path, n))
    }

    fn equals(&self, path: &[u8]) -> bool {
        self.len.load(Ordering::Acquire) as usize == path.len() && self.is_prefix_of(path).is_some()
    }

    fn set(&self, path: &[u8]) {
        self.len.store(0, Ordering::Release);
        for (dst, src) in self.bytes.iter().zip(path) {
            dst.store(*src, Ordering::Relaxed);
        }
        // CAST: path.len() <= FILTER_PATH_MAX (checked by the caller).
        self.len.store(path.len() as u32, Ordering::Release);
    }
}

/// A small set of paths.
struct PathSet {
    count: AtomicU32,
    slots: [PathSlot; FILTER_MAX_ENTRIES],
}

impl PathSet {
    const fn new() -> Self {
        Self { count: AtomicU32::new(0), slots: [const { PathSlot::new() }; FILTER_MAX_ENTRIES] }
    }

    fn slots(&self) -> &[PathSlot] {
        // CAST: count <= FILTER_MAX_ENTRIES.
        let n = (self.count.load(Ordering::Acquire) as usize).min(FILTER_MAX_ENTRIES);
        &self.slots[..n]
    }

    fn is_empty(&self) -> bool {
        self.count.load(Ordering::Acquire) == 0
    }

    fn any_covers(&self, path: &[u8]) -> bool {
        self.slots().iter().any(|s| s.covers(path))
    }

    fn add(&self, path: &[u8]) -> Result {
        if self.slots().iter().any(|s| s.equals(path)) {
            return Ok(());
        }
        let n = self.slots().len();
        self.slots.get(n).ok_or(ENOSPC)?.set(path);
        // CAST: n < FILTER_MAX_ENTRIES.
        self.count.store(n as u32 + 1, Ordering::Release);
        Ok(())
    }

    fn remove(&self, path: &[u8]) -> Result {
        let slots = self.slots();
        let i = slots.iter().position(|s| s.equals(path)).ok_or(ENOENT)?;
        let last = slots.len() - 1;
        let mut buf = [0u8; FILTER_PATH_MAX];
        let n = slots[last].get(&mut buf);
        slots[i].set(&buf[..n]);
        // CAST: last < FILTER_MAX_ENTRIES.
        self.count.store(last as u32, Ordering::Release);
        Ok(())
    }

    fn clear(&self) {
        self.count.store(0, Ordering::Release);
    }
}

/// The module's filters. A static (zero-initialised with the module) rather
/// than a field of the heap-allocated state: at about 35 KiB they must never
/// be built on the kernel stack.
pub(crate) static FILTERS: Filters = Filters::new();

/// Every filter.
pub(crate) struct Filters {
    cgroup_include: IdSet,
    cgroup_exclude: IdSet,
    uid_include: IdSet,
    uid_exclude: IdSet,
    path_prefix: PathSet,
    secret: PathSet,
}

impl Filters {
    const fn new() -> Self {
        Self {
            cgroup_include: IdSet::new(),
            cgroup_exclude: IdSet::new(),
            uid_include: IdSet::new(),
            uid_exclude: IdSet::new(),
            path_prefix: PathSet::new(),
            secret: PathSet::new(),
        }
    }

    /// Whether a task in `cgroup_id` running as `uid` is recorded.
    #[inline]
    pub(crate) fn task_passes(&self, cgroup_id: u64, uid: u32) -> bool {
        let passes = |inc: &IdSet, exc: &IdSet, v: u64| (inc.is_empty() || inc.contains(v)) && !exc.contains(v);
        passes(&self.cgroup_include, &self.cgroup_exclude, cgroup_id)
            && passes(&self.uid_include, &self.uid_exclude, u64::from(uid))
    }

    /// Whether file events on `path` are recorded (secret paths aside).
    #[inline]
    pub(crate) fn path_passes(&self, path: &[u8]) -> bool {
        self.path_prefix.is_empty() || self.path_prefix.any_covers(path)
    }

    /// Whether `path` is, or is under, a registered secret path.
    #[inline]
    pub(crate) fn is_secret(&self, path: &[u8]) -> bool {
        !self.secret.is_empty() && self.secret.any_covers(path)
    }

    /// Applies a control request. The caller serialises updates.
    pub(crate) fn apply(&self, op: &FilterOp) -> Result {
        if op.reserved != 0 {
            return Err(EINVAL);
        }
        match op.filter {
            FILTER_CGROUP_INCLUDE => apply_ids(&self.cgroup_include, op),
            FILTER_CGROUP_EXCLUDE => apply_ids(&self.cgroup_exclude, op),
            FILTER_UID_INCLUDE => apply_ids(&self.uid_include, op),
            FILTER_UID_EXCLUDE => apply_ids(&self.uid_exclude, op),
            FILTER_PATH_PREFIX => apply_paths(&self.path_prefix, op),
            FILTER_SECRET_PATH => apply_paths(&self.secret, op),
            _ => Err(EINVAL),
        }
    }
}

fn apply_ids(set: &IdSet, op: &FilterOp) -> Result {
    if op.path_len != 0 {
        return Err(EINVAL);
    }
    match op.op {
        FILTER_ADD => set.add(op.value),
        FILTER_REMOVE => set.remove(op.value),
        FILTER_CLEAR => {
            set.clear();
            Ok(())
        }
        _ => Err(EINVAL),
    }
}

fn apply_paths(set: &PathSet, op: &FilterOp) -> Result {
    if op.op == FILTER_CLEAR {
        set.clear();
        return Ok(());
    }
    // CAST: u32 to usize is lossless on 64-bit.
    let len = op.path_len as usize;
    if op.value != 0 || len == 0 || len > FILTER_PATH_MAX || op.path[0] != b'/' {
        return Err(EINVAL);
    }
    let path = &op.path[..len];
    if path.contains(&0) {
        return Err(EINVAL);
    }
    match op.op {
        FILTER_ADD => set.add(path),
        FILTER_REMOVE => set.remove(path),
        _ => Err(EINVAL),
    }
}
