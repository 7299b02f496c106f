//! cgroup id to cgroup path, one id at a time.
//!
//! Records carry a task's cgroup id; attribution needs the path
//! (`/kubepods.slice/.../cri-containerd-<id>.scope`). On cgroup v2 the id is
//! the inode number of the cgroup's directory and also the payload of a
//! `FILEID_KERNFS` file handle, so `open_by_handle_at` on the cgroupfs root
//! opens the directory of exactly that cgroup and `/proc/self/fd/N` names
//! it: a miss costs three syscalls, whatever the size of the hierarchy,
//! and a cgroup created a moment ago resolves at once.
//!
//! That needs CAP_DAC_READ_SEARCH and a cgroup v2 mount at the root. The
//! first lookup checks both, once, by resolving the root's own id; when
//! that fails (cgroup v1 or tmpfs at the root, EPERM, ENOSYS, EOPNOTSUPP,
//! anything unexpected) lookups fall back to walking the hierarchy (at most
//! [`WALK_MAX`] directories, at most once per `min_rescan`), and
//! [`CgroupPaths::method`] says which is in use. Each walk replaces the
//! cache, so cgroups removed since are forgotten.
//!
//! Memory is bounded: at most `max_entries` paths (the cache is cleared
//! when full: simple, and a miss is cheap), and at most [`NEGATIVE_MAX`]
//! ids known to be gone, each retried after [`NEGATIVE_TTL`], so a dead id
//! on every event costs a hash lookup, not a syscall or a walk. A cached
//! path is not revalidated: cgroup v2 ids are never reused (the kernfs id
//! carries a generation), so an entry stays correct for as long as any
//! record can name its id.
//!
//! A root that cannot be opened (replay on another host) makes every lookup
//! None; it is retried at most once per `min_rescan`, without logging.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

type FastHash = foldhash::fast::RandomState;

/// Most directories one walk visits.
pub const WALK_MAX: usize = 200_000;
/// Most ids remembered as gone; the set is cleared when full.
pub const NEGATIVE_MAX: usize = 4096;
/// How long an id stays known as gone before it is tried again.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(10);
/// Default least time between two walks (and two attempts to open a missing root).
pub const DEFAULT_MIN_RESCAN: Duration = Duration::from_secs(1);

/// `statfs` magic of cgroup v2.
const CGROUP2_SUPER_MAGIC: rustix::fs::FsWord = 0x6367_7270;
/// `FILEID_KERNFS` (include/linux/exportfs.h): an 8-byte kernfs node id.
const FILEID_KERNFS: libc::c_int = 0xfe;
/// What d_path appends to the name of an unlinked directory.
const DELETED: &[u8] = b" (deleted)";

/// How ids are resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `open_by_handle_at` per miss: cgroup v2 with CAP_DAC_READ_SEARCH.
    Handle,
    /// A bounded walk of the hierarchy, at most once per `min_rescan`.
    Walk,
}

#[derive(Debug)]
enum State {
    /// Root not opened yet (None) or failed to open at the instant given.
    Closed(Option<Instant>),
    /// Resolving by handle: the cgroupfs root and its own readlink path.
    Handle { root: File, prefix: Vec<u8> },
    /// Resolving by walk.
    Walk,
}

/// Work done, for tests and Debug output.
#[derive(Debug, Default)]
struct Counts {
    /// `open_by_handle_at` calls.
    opens: u64,
    /// Walks of the hierarchy.
    walks: u64,
}

/// cgroup id to path (relative to the cgroup v2 root, "/" for the root),
/// cached and bounded; see the module documentation.
#[derive(Debug)]
pub struct CgroupPaths {
    root: PathBuf,
    max_entries: usize,
    min_rescan: Duration,
    negative_ttl: Duration,
    state: State,
    map: HashMap<u64, Arc<str>, FastHash>,
    /// Ids found gone, and when.
    negative: HashMap<u64, Instant, FastHash>,
    last_walk: Option<Instant>,
    counts: Counts,
}

/// What one handle lookup found.
enum Outcome {
    Found(Arc<str>),
    /// The cgroup is gone (ESTALE, ENOENT), or out of the root's view.
    Gone,
    /// The syscall failed otherwise.
    Failed(io::Error),
}

/// A `struct file_handle` with room for a kernfs id.
#[repr(C)]
struct KernfsHandle {
    handle_bytes: libc::c_uint,
    handle_type: libc::c_int,
    f_handle: [u8; 8],
}

impl CgroupPaths {
    /// Paths under the cgroup v2 mount `root` (usually /sys/fs/cgroup), at
    /// most `max_entries` of them cached. Nothing is opened until the first
    /// lookup.
    pub fn new(root: PathBuf, max_entries: usize) -> Self {
        Self {
            root,
            max_entries,
            min_rescan: DEFAULT_MIN_RESCAN,
            negative_ttl: NEGATIVE_TTL,
            state: State::Closed(None),
            map: HashMap::default(),
            negative: HashMap::default(),
            last_walk: None,
            counts: Counts::default(),
        }
    }

    /// Sets the least time between two walks (default 1 s); zero walks on
    /// every miss, for tests of the walk.
    pub fn with_min_rescan(mut self, d: Duration) -> Self {
        self.min_rescan = d;
        self
    }

    /// The path of cgroup `id`: cached, or resolved now. None for id 0, a
    /// cgroup that is gone, or no usable root.
    pub fn path(&mut self, id: u64) -> Option<Arc<str>> {
        if id == 0 {
            return None;
        }
        if let Some(p) = self.map.get(&id) {
            return Some(p.clone());
        }
        if let Some(since) = self.negative.get(&id) {
            if since.elapsed() < self.negative_ttl {
                return None;
            }
            self.negative.remove(&id);
        }
        if !self.open() {
            return None;
        }
        match self.state {
            State::Handle { .. } => self.by_handle(id),
            State::Walk => self.by_walk(id),
            State::Closed(_) => None,
        }
    }

    /// The cached path of cgroup `id`; never resolves.
    pub fn get(&self, id: u64) -> Option<&Arc<str>> {
        self.map.get(&id)
    }

    /// The method in use: None until a lookup has opened the root.
    pub fn method(&self) -> Option<Method> {
        match self.state {
            State::Handle { .. } => Some(Method::Handle),
            State::Walk => Some(Method::Walk),
            State::Closed(_) => None,
        }
    }

    /// Paths cached.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no path is cached.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Opens the root and chooses the method, once; false while the root
    /// cannot be opened.
    fn open(&mut self) -> bool {
        let State::Closed(failed) = self.state else { return true };
        if failed.is_some_and(|t| t.elapsed() < self.min_rescan) {
            return false;
        }
        let root = match OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY).open(&self.root) {
            Ok(root) => root,
            Err(err) => {
                if failed.is_none() {
                    tracing::debug!(root = %self.root.display(), %err, "cgroup root unavailable, no cgroup paths");
                }
                self.state = State::Closed(Some(Instant::now()));
                return false;
            }
        };
        self.state = match self.probe(&root) {
            Ok(prefix) => {
                tracing::debug!(root = %self.root.display(), "cgroup paths by file handle");
                State::Handle { root, prefix }
            }
            Err(why) => {
                tracing::info!(root = %self.root.display(), %why, "cgroup paths by walking the hierarchy");
                State::Walk
            }
        };
        true
    }

    /// Whether ids resolve by handle under `root`: cgroup v2, and the root's
    /// own id resolves to "/". Returns the root's readlink path.
    fn probe(&mut self, root: &File) -> Result<Vec<u8>, String> {
        let fs = rustix::fs::fstatfs(root).map_err(|e| format!("statfs: {e}"))?;
        if fs.f_type != CGROUP2_SUPER_MAGIC {
            return Err(format!("not cgroup v2 (f_type {:#x})", fs.f_type));
        }
        let prefix = fs::read_link(fd_link(root.as_raw_fd())).map_err(|e| format!("readlink: {e}"))?.into_os_string();
        let prefix = prefix.into_vec();
        let ino = root.metadata().map_err(|e| format!("stat: {e}"))?.ino();
        self.counts.opens += 1;
        match open_handle(root, &prefix, ino) {
            Outcome::Found(p) if &*p == "/" => Ok(prefix),
            Outcome::Found(p) => Err(format!("root id resolved to {p}")),
            Outcome::Gone => Err("open_by_handle_at: root id not found".into()),
            Outcome::Failed(e) => Err(format!("open_by_handle_at: {e}")),
        }
    }

    fn by_handle(&mut self, id: u64) -> Option<Arc<str>> {
        let State::Handle { root, prefix } = &self.state else { return None };
        self.counts.opens += 1;
        match open_handle(root, prefix, id) {
            Outcome::Found(p) => {
                self.insert(id, p.clone());
                Some(p)
            }
            Outcome::Gone => {
                self.forget(id);
                None
            }
            // The capability dropped since the probe, say: walk from now on.
            Outcome::Failed(err)
                if matches!(err.raw_os_error(), Some(libc::EPERM | libc::ENOSYS | libc::EOPNOTSUPP)) =>
            {
                tracing::info!(root = %self.root.display(), %err, "cgroup paths by walking the hierarchy");
                self.state = State::Walk;
                self.by_walk(id)
            }
            // EMFILE, ENOMEM and the like: try again on the next event.
            Outcome::Failed(_) => None,
        }
    }

    fn by_walk(&mut self, id: u64) -> Option<Arc<str>> {
        if self.last_walk.is_some_and(|t| t.elapsed() < self.min_rescan) {
            return None;
        }
        let found = self.walk(id);
        if found.is_none() {
            self.forget(id);
        }
        found
    }

    /// Walks the hierarchy into a new cache that replaces the old one;
    /// returns the path of `target` if seen, even if the cache had no room.
    fn walk(&mut self, target: u64) -> Option<Arc<str>> {
        self.last_walk = Some(Instant::now());
        self.counts.walks += 1;
        let mut map = HashMap::default();
        let mut found = None;
        let Ok(meta) = fs::metadata(&self.root) else {
            self.map = map;
            return None;
        };
        let mut stack = vec![(self.root.clone(), String::from("/"), meta.ino())];
        let mut queued = 1;
        while let Some((dir, rel, ino)) = stack.pop() {
            let Ok(entries) = fs::read_dir(&dir) else { continue };
            for e in entries.flatten() {
                if queued >= WALK_MAX {
                    break;
                }
                if !e.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                let Ok(m) = e.metadata() else { continue };
                let name = e.file_name();
                let name = name.to_string_lossy();
                let child = if rel == "/" { format!("/{name}") } else { format!("{rel}/{name}") };
                stack.push((e.path(), child, m.ino()));
                queued += 1;
            }
            let rel: Arc<str> = Arc::from(rel);
            if ino == target {
                found = Some(rel.clone());
            }
            if map.len() < self.max_entries {
                map.insert(ino, rel);
            }
        }
        self.map = map;
        found
    }

    fn insert(&mut self, id: u64, path: Arc<str>) {
        if self.max_entries == 0 {
            return;
        }
        if self.map.len() >= self.max_entries {
            self.map.clear();
        }
        self.map.insert(id, path);
    }

    /// Remembers `id` as gone.
    fn forget(&mut self, id: u64) {
        if self.negative.len() >= NEGATIVE_MAX {
            self.negative.clear();
        }
        self.negative.insert(id, Instant::now());
    }
}

fn fd_link(fd: RawFd) -> String {
    format!("/proc/self/fd/{fd}")
}

/// Opens cgroup `id` by handle under `root` and names it relative to
/// `prefix`, the root's own path.
fn open_handle(root: &File, prefix: &[u8], id: u64) -> Outcome {
    let mut handle = KernfsHandle { handle_bytes: 8, handle_type: FILEID_KERNFS, f_handle: id.to_ne_bytes() };
    // SAFETY: `handle` is a `struct file_handle` header followed by the
    // `handle_bytes` (8) bytes it announces, alive across the call; the
    // kernel only reads it. `root` is an open descriptor.
    let fd = unsafe {
        libc::open_by_handle_at(
            root.as_raw_fd(),
            (&raw mut handle).cast::<libc::file_handle>(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        let err = io::Error::last_os_error();
        return match err.raw_os_error() {
            // EACCES: a cgroup outside the subtree the root's mount shows.
            Some(libc::ESTALE | libc::ENOENT | libc::EACCES) => Outcome::Gone,
            _ => Outcome::Failed(err),
        };
    }
    // SAFETY: `fd` was just returned by the kernel and nothing else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let link = match fs::read_link(fd_link(fd.as_raw_fd())) {
        Ok(link) => link.into_os_string().into_vec(),
        Err(err) => return Outcome::Failed(err),
    };
    drop(fd);
    // Removed between the open and the readlink.
    if link.ends_with(DELETED) {
        return Outcome::Gone;
    }
    match relative(prefix, &link) {
        Some(rel) => Outcome::Found(Arc::from(String::from_utf8_lossy(rel))),
        None => Outcome::Gone,
    }
}

/// `link` relative to `prefix`: "/" for the prefix itself, None when
/// outside it.
fn relative<'a>(prefix: &[u8], link: &'a [u8]) -> Option<&'a [u8]> {
    if prefix == b"/" {
        return link.starts_with(b"/").then_some(link);
    }
    match link.strip_prefix(prefix)? {
        [] => Some(b"/"),
        rest @ [b'/', ..] => Some(rest),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static SEQ: AtomicUsize = AtomicUsize::new(0);

    fn unique(tag: &str) -> String {
        format!("cgpaths-{tag}-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed))
    }

    fn ino(p: &Path) -> u64 {
        fs::metadata(p).unwrap().ino()
    }

    /// A temporary directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            let dir = std::env::temp_dir().join(unique(tag));
            fs::create_dir(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn walk_forgets_removed_directories() {
        let t = TempDir::new("walk");
        let root = &t.0;
        for d in ["x", "x/y", "z"] {
            fs::create_dir(root.join(d)).unwrap();
        }
        let mut c = CgroupPaths::new(root.clone(), 100).with_min_rescan(Duration::ZERO);
        assert_eq!(c.method(), None);
        assert_eq!(c.path(ino(&root.join("x/y"))).as_deref(), Some("/x/y"));
        assert_eq!(c.method(), Some(Method::Walk));
        assert_eq!(c.path(ino(root)).as_deref(), Some("/"));
        assert_eq!(c.get(ino(&root.join("x"))).map(|p| &**p), Some("/x"));
        assert_eq!(c.len(), 4);
        assert_eq!(c.counts.walks, 1);

        let z = ino(&root.join("z"));
        fs::remove_dir(root.join("z")).unwrap();
        // Any miss rescans; the new walk replaces the cache.
        assert_eq!(c.path(u64::MAX), None);
        assert_eq!(c.counts.walks, 2);
        assert_eq!(c.get(z), None);
        assert_eq!(c.len(), 3);

        // Not `path(z)`: ext4 may give "w" the inode number of "z" (cgroup
        // ids are never reused), and a dead id is remembered.
        fs::create_dir(root.join("w")).unwrap();
        assert_eq!(c.path(ino(&root.join("w"))).as_deref(), Some("/w"));
        assert_eq!(c.len(), 4);
    }

    #[test]
    fn walk_is_rate_limited() {
        let t = TempDir::new("rate");
        let mut c = CgroupPaths::new(t.0.clone(), 100).with_min_rescan(Duration::from_secs(3600));
        assert_eq!(c.path(ino(&t.0)).as_deref(), Some("/"));
        fs::create_dir(t.0.join("late")).unwrap();
        assert_eq!(c.path(ino(&t.0.join("late"))), None);
        assert_eq!(c.counts.walks, 1);
    }

    #[test]
    fn max_entries_bounds_the_walk() {
        let t = TempDir::new("max");
        for d in ["a", "a/b", "c", "d"] {
            fs::create_dir(t.0.join(d)).unwrap();
        }
        let mut c = CgroupPaths::new(t.0.clone(), 2).with_min_rescan(Duration::ZERO);
        for d in ["a", "a/b", "c", "d"] {
            assert_eq!(c.path(ino(&t.0.join(d))).as_deref(), Some(&*format!("/{d}")));
            assert!(c.len() <= 2, "{} entries", c.len());
        }
        let mut c = CgroupPaths::new(t.0.clone(), 0).with_min_rescan(Duration::ZERO);
        assert_eq!(c.path(ino(&t.0.join("a/b"))).as_deref(), Some("/a/b"));
        assert!(c.is_empty());
    }

    #[test]
    fn dead_ids_are_remembered_then_retried() {
        let t = TempDir::new("neg");
        let mut c = CgroupPaths::new(t.0.clone(), 100).with_min_rescan(Duration::ZERO);
        assert_eq!(c.path(u64::MAX), None);
        assert_eq!(c.path(u64::MAX), None);
        assert_eq!(c.counts.walks, 1, "a dead id walked again");
        c.negative_ttl = Duration::ZERO;
        assert_eq!(c.path(u64::MAX), None);
        assert_eq!(c.counts.walks, 2, "a dead id never retried");
        c.negative_ttl = NEGATIVE_TTL;
        for id in 1..=NEGATIVE_MAX as u64 + 1 {
            c.path(u64::MAX - id);
            assert!(c.negative.len() <= NEGATIVE_MAX);
        }
    }

    #[test]
    fn zero_and_missing_root() {
        let t = TempDir::new("zero");
        let mut c = CgroupPaths::new(t.0.clone(), 100);
        assert_eq!(c.path(0), None);
        assert_eq!(c.method(), None, "id 0 opened the root");

        let mut c = CgroupPaths::new(t.0.join("missing"), 100);
        for id in [1, 2, u64::MAX] {
            assert_eq!(c.path(id), None);
        }
        assert_eq!(c.method(), None);
        assert!(c.is_empty());
        assert_eq!(c.counts.walks + c.counts.opens, 0);
        // Found once it appears (min_rescan has passed).
        fs::create_dir(t.0.join("missing")).unwrap();
        c.min_rescan = Duration::ZERO;
        assert_eq!(c.path(ino(&t.0.join("missing"))).as_deref(), Some("/"));
        assert_eq!(c.method(), Some(Method::Walk));
    }

    #[test]
    fn relative_paths() {
        assert_eq!(relative(b"/sys/fs/cgroup", b"/sys/fs/cgroup"), Some(&b"/"[..]));
        assert_eq!(relative(b"/sys/fs/cgroup", b"/sys/fs/cgroup/a/b"), Some(&b"/a/b"[..]));
        assert_eq!(relative(b"/sys/fs/cgroup", b"/sys/fs/cgroupx/a"), None);
        assert_eq!(relative(b"/sys/fs/cgroup", b"/other"), None);
        assert_eq!(relative(b"/", b"/a"), Some(&b"/a"[..]));
    }

    /// A cgroup v2 mount on a fresh directory, with cgroups made under it;
    /// removed, unmounted and deleted on drop.
    struct Cgroup2 {
        dir: PathBuf,
        made: Vec<PathBuf>,
    }

    impl Cgroup2 {
        /// None, after saying why, when the test cannot run here.
        fn mount(test: &str) -> Option<Self> {
            if !rustix::process::geteuid().is_root() {
                println!("{test}: skipped: not root (cgroup2 mount needs CAP_SYS_ADMIN)");
                return None;
            }
            let dir = std::env::temp_dir().join(unique("mnt"));
            fs::create_dir(&dir).unwrap();
            let target = CString::new(dir.as_os_str().as_bytes()).unwrap();
            // SAFETY: all strings are NUL-terminated and outlive the call;
            // no data argument.
            let rc =
                unsafe { libc::mount(c"none".as_ptr(), target.as_ptr(), c"cgroup2".as_ptr(), 0, std::ptr::null()) };
            if rc != 0 {
                let err = io::Error::last_os_error();
                let _ = fs::remove_dir(&dir);
                println!("{test}: skipped: mount -t cgroup2: {err}");
                return None;
            }
            Some(Self { dir, made: Vec::new() })
        }

        /// Makes cgroup `rel` and returns its path.
        fn mkdir(&mut self, rel: &str) -> PathBuf {
            let p = self.dir.join(rel);
            fs::create_dir(&p).unwrap();
            self.made.push(p.clone());
            p
        }
    }

    impl Drop for Cgroup2 {
        fn drop(&mut self) {
            for p in self.made.iter().rev() {
                let _ = fs::remove_dir(p);
            }
            let target = CString::new(self.dir.as_os_str().as_bytes()).unwrap();
            // SAFETY: `target` is NUL-terminated and outlives the call.
            if unsafe { libc::umount2(target.as_ptr(), 0) } != 0 {
                eprintln!("umount {}: {}", self.dir.display(), io::Error::last_os_error());
                // SAFETY: as above.
                unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
            }
            let _ = fs::remove_dir(&self.dir);
        }
    }

    #[test]
    fn handle_on_cgroup2() {
        let Some(mut m) = Cgroup2::mount("handle_on_cgroup2") else { return };
        let top = unique("h");
        let a = m.mkdir(&top);
        let b = m.mkdir(&format!("{top}/b"));
        let mut c = CgroupPaths::new(m.dir.clone(), 100).with_min_rescan(Duration::from_secs(3600));
        assert_eq!(c.path(ino(&b)).as_deref(), Some(&*format!("/{top}/b")));
        assert_eq!(c.method(), Some(Method::Handle));
        assert_eq!(c.path(ino(&a)).as_deref(), Some(&*format!("/{top}")));
        assert_eq!(c.path(ino(&m.dir)).as_deref(), Some("/"));
        assert_eq!(c.get(ino(&b)).map(|p| &**p), Some(&*format!("/{top}/b")));
        assert_eq!(c.len(), 3);

        // Made after the first lookup: resolves at once, without a walk.
        let late = m.mkdir(&format!("{top}/late"));
        assert_eq!(c.path(ino(&late)).as_deref(), Some(&*format!("/{top}/late")));
        assert_eq!(c.method(), Some(Method::Handle));
        assert_eq!(c.counts.walks, 0);

        // Removed before any lookup: gone, remembered, retried after the TTL.
        let gone = m.mkdir(&format!("{top}/gone"));
        let gone_id = ino(&gone);
        fs::remove_dir(&gone).unwrap();
        let opens = c.counts.opens;
        assert_eq!(c.path(gone_id), None);
        assert_eq!(c.path(gone_id), None);
        assert_eq!(c.counts.opens, opens + 1, "a dead id tried again");
        c.negative_ttl = Duration::ZERO;
        assert_eq!(c.path(gone_id), None);
        assert_eq!(c.counts.opens, opens + 2, "a dead id never retried");
        assert_eq!(c.method(), Some(Method::Handle));
        assert_eq!(c.counts.walks, 0);

        // The bound holds with handles too.
        let mut c = CgroupPaths::new(m.dir.clone(), 2);
        for p in [&m.dir, &a, &b, &late] {
            assert!(c.path(ino(p)).is_some());
            assert!(c.len() <= 2, "{} entries", c.len());
        }
    }

    /// Clears CAP_DAC_READ_SEARCH and CAP_SYS_ADMIN (either lets
    /// `open_by_handle_at` through) from this thread's effective set.
    fn drop_handle_caps() -> io::Result<()> {
        #[repr(C)]
        struct Header {
            version: u32,
            pid: i32,
        }
        #[repr(C)]
        #[derive(Clone, Copy, Default)]
        struct Data {
            effective: u32,
            permitted: u32,
            inheritable: u32,
        }
        const VERSION_3: u32 = 0x2008_0522;
        const CAP_DAC_READ_SEARCH: u32 = 2;
        const CAP_SYS_ADMIN: u32 = 21;
        let mut header = Header { version: VERSION_3, pid: 0 };
        let mut data = [Data::default(); 2];
        // SAFETY: capget with a v3 header reads two data structs into `data`.
        if unsafe { libc::syscall(libc::SYS_capget, &raw mut header, data.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        data[0].effective &= !(1 << CAP_DAC_READ_SEARCH | 1 << CAP_SYS_ADMIN);
        // SAFETY: capset with a v3 header reads two data structs from `data`;
        // pid 0 is the calling thread only.
        if unsafe { libc::syscall(libc::SYS_capset, &raw mut header, data.as_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    #[test]
    fn walk_on_cgroup2_without_capability() {
        let Some(mut m) = Cgroup2::mount("walk_on_cgroup2_without_capability") else { return };
        let top = unique("w");
        m.mkdir(&top);
        let b = m.mkdir(&format!("{top}/b"));
        let root = m.dir.clone();
        let id = ino(&b);
        // Capabilities are per thread: drop them in one that ends here.
        let (method, path, walks) = std::thread::spawn(move || {
            drop_handle_caps().unwrap();
            let mut c = CgroupPaths::new(root, 100).with_min_rescan(Duration::from_secs(3600));
            let path = c.path(id);
            (c.method(), path, c.counts.walks)
        })
        .join()
        .unwrap();
        assert_eq!(method, Some(Method::Walk));
        assert_eq!(path.as_deref(), Some(&*format!("/{top}/b")));
        assert_eq!(walks, 1);
    }
}
