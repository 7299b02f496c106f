//! The process table: what the collector knows about each live process,
//! seeded from `/proc` at start and kept current from fork, exec, exit and
//! credential records, so that every event can be tied to its process's
//! executable, ancestry and cgroup even when the event itself is small.

use std::collections::HashMap;

type FastHash = foldhash::fast::RandomState;
use std::path::Path;
use std::sync::Arc;

use crate::source::decode::{nul_terminated, Body, Event};

/// What is known about one process (thread group).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessEntry {
    /// Process id.
    pub tgid: u32,
    /// Parent process id.
    pub ppid: u32,
    /// Real uid.
    pub uid: u32,
    /// Real gid.
    pub gid: u32,
    /// `comm`.
    pub comm: String,
    /// Executable path, when known.
    pub exe: Option<Arc<str>>,
    /// cgroup v2 id, when known (0: unknown).
    pub cgroup_id: u64,
    /// The executable file, when known.
    pub image: Option<ImageKey>,
}

/// Identifies an executable file version: device (user-space encoding, as
/// in `stat`), inode and modification time. Digests are cached by it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ImageKey {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
    /// `st_mtime` seconds.
    pub mtime: i64,
}

/// The first number of a `/proc/PID/status` line such as `Uid:` or
/// `PPid:` (for ids, the real one comes first).
pub fn status_field(status: &str, key: &str) -> Option<u32> {
    status.lines().find_map(|l| l.strip_prefix(key)?.split_whitespace().next()?.parse().ok())
}

/// The cgroup v2 path in a `/proc/PID/cgroup` (its `0::` line).
pub fn cgroup_v2_path(cgroup: &str) -> Option<&str> {
    cgroup.lines().find_map(|l| l.strip_prefix("0::"))
}

impl ImageKey {
    /// From a record: the module sends `new_encode_dev(s_dev)`, which is
    /// what stat(2) reports as `st_dev` (for majors below 4096, all of
    /// them in practice), so it compares as is.
    pub fn from_kernel(dev: u32, ino: u64, mtime: i64) -> Self {
        Self { dev: u64::from(dev), ino, mtime }
    }

    /// Of the file at `path` (following symlinks, so `/proc/PID/exe` works).
    pub fn of(path: &Path) -> Option<Self> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(Self { dev: m.dev(), ino: m.ino(), mtime: m.mtime() })
    }
}

/// Live processes by tgid, bounded.
#[derive(Debug)]
pub struct ProcessTable {
    entries: HashMap<u32, ProcessEntry, FastHash>,
    max_entries: usize,
    /// Entries refused because the table was full.
    pub overflowed: u64,
}

/// Deepest ancestry walked (also guards against cycles in bad input).
const MAX_DEPTH: usize = 64;

impl ProcessTable {
    /// An empty table holding at most `max_entries` processes.
    pub fn new(max_entries: usize) -> Self {
        Self { entries: HashMap::default(), max_entries, overflowed: 0 }
    }

    /// Adds every process under `proc_root` (normally `/proc`); returns how
    /// many. Processes that vanish while being read are skipped.
    pub fn seed_from_proc(&mut self, proc_root: &Path) -> usize {
        let Ok(dir) = std::fs::read_dir(proc_root) else { return 0 };
        let mut added = 0;
        for entry in dir.flatten() {
            let Some(tgid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else { continue };
            let field = |key: &str| status_field(&status, key);
            let comm = status.lines().find_map(|l| l.strip_prefix("Name:")).unwrap_or("").trim().to_string();
            let exe: Option<Arc<str>> =
                std::fs::read_link(entry.path().join("exe")).ok().map(|p| Arc::from(p.to_string_lossy().as_ref()));
            let image = exe.as_ref().and_then(|_| ImageKey::of(&entry.path().join("exe")));
            // The cgroup id is the inode number of the cgroup's directory.
            let cgroup_id = std::fs::read_to_string(entry.path().join("cgroup"))
                .ok()
                .and_then(|c| {
                    let rel = cgroup_v2_path(&c)?;
                    std::fs::metadata(Path::new("/sys/fs/cgroup").join(rel.trim_start_matches('/'))).ok()
                })
                .map_or(0, |m| std::os::unix::fs::MetadataExt::ino(&m));
            self.insert(ProcessEntry {
                tgid,
                ppid: field("PPid:").unwrap_or(0),
                uid: field("Uid:").unwrap_or(0),
                gid: field("Gid:").unwrap_or(0),
                comm,
                exe,
                cgroup_id,
                image,
            });
            added += 1;
        }
        added
    }

    fn insert(&mut self, entry: ProcessEntry) {
        if self.entries.len() >= self.max_entries && !self.entries.contains_key(&entry.tgid) {
            self.overflowed += 1;
            return;
        }
        self.entries.insert(entry.tgid, entry);
    }

    /// Applies what a record says about processes.
    pub fn observe(&mut self, event: &Event) {
        let Some(task) = event.task() else { return };
        let comm = String::from_utf8_lossy(nul_terminated(&task.comm)).into_owned();
        match &event.body {
            Body::Fork(f) if f.child_tgid != task.tgid => {
                // A new process inherits its parent's image and cgroup.
                let parent = self.entries.get(&task.tgid).cloned().unwrap_or_default();
                self.insert(ProcessEntry {
                    tgid: f.child_tgid,
                    ppid: task.tgid,
                    uid: task.uid,
                    gid: task.gid,
                    comm,
                    exe: parent.exe,
                    cgroup_id: task.cgroup_id,
                    image: parent.image,
                });
            }
            Body::Exec { rec, path, .. } => self.insert(ProcessEntry {
                tgid: task.tgid,
                ppid: task.ppid,
                uid: task.uid,
                gid: task.gid,
                comm,
                exe: Some(Arc::from(String::from_utf8_lossy(path).as_ref())),
                cgroup_id: task.cgroup_id,
                image: Some(ImageKey::from_kernel(rec.dev, rec.ino, rec.mtime_sec)),
            }),
            Body::Exit(x) if x.flags & witness_abi::record::EXIT_GROUP_DEAD != 0 => {
                self.entries.remove(&task.tgid);
            }
            Body::Cred(c) => {
                if let Some(e) = self.entries.get_mut(&task.tgid) {
                    e.uid = c.new_uid;
                    e.gid = c.new_gid;
                }
            }
            _ => {
                // Any other record still tells us the process exists.
                if !self.entries.contains_key(&task.tgid) {
                    self.insert(ProcessEntry {
                        tgid: task.tgid,
                        ppid: task.ppid,
                        uid: task.uid,
                        gid: task.gid,
                        comm,
                        exe: None,
                        cgroup_id: task.cgroup_id,
                        image: None,
                    });
                }
            }
        }
    }

    /// The entry of `tgid`.
    pub fn get(&self, tgid: u32) -> Option<&ProcessEntry> {
        self.entries.get(&tgid)
    }

    /// `tgid` and its known ancestors, nearest first (bounded, cycle-safe).
    pub fn ancestry(&self, tgid: u32) -> Vec<&ProcessEntry> {
        let mut out: Vec<&ProcessEntry> = Vec::new();
        let mut next = Some(tgid);
        while let Some(id) = next {
            let Some(e) = self.entries.get(&id) else { break };
            if out.len() >= MAX_DEPTH || out.iter().any(|seen| seen.tgid == id) {
                break;
            }
            out.push(e);
            next = (e.ppid != 0 && e.ppid != id).then_some(e.ppid);
        }
        out
    }

    /// Live processes known.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::decode::{
        decode_one,
        tests::{record, task},
    };

    /// A record's device is `new_encode_dev`: the same number stat(2)
    /// gives, for block devices (major 254, as virtio disks) and large
    /// minors too, so a record's image is found on disk by its key.
    #[test]
    fn a_record_device_is_st_dev() {
        // new_encode_dev(MKDEV(254, 0)) and new_encode_dev(MKDEV(259, 0x12345)).
        assert_eq!(ImageKey::from_kernel(0xfe00, 1, 0).dev, rustix::fs::makedev(254, 0));
        assert_eq!(ImageKey::from_kernel(0x1231_0345, 1, 0).dev, rustix::fs::makedev(259, 0x12345));
        // tmpfs and overlay: major 0.
        assert_eq!(ImageKey::from_kernel(0x2a, 1, 0).dev, rustix::fs::makedev(0, 0x2a));
        // And the file this test runs from, as the module would report it.
        use std::os::unix::fs::MetadataExt;
        let exe = std::env::current_exe().unwrap();
        let m = std::fs::metadata(&exe).unwrap();
        let (major, minor) = (rustix::fs::major(m.dev()), rustix::fs::minor(m.dev()));
        let encoded = (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12);
        assert_eq!(Some(ImageKey::from_kernel(encoded, m.ino(), m.mtime())), ImageKey::of(&exe));
    }
    use witness_abi::record::{CredRecord, ExitRecord, ForkRecord, RecordKind, EXIT_GROUP_DEAD};
    use zerocopy::{FromZeros, IntoBytes};

    fn event(kind: RecordKind, body: &[u8]) -> Event {
        decode_one(&record(kind, 1, body), 0).unwrap()
    }

    #[test]
    fn follows_fork_exec_cred_and_exit() {
        let mut table = ProcessTable::new(100);
        // The parent (tgid 10) execs, forks 11, 11 changes uid, 11 exits.
        table.observe(&decode_one(&crate::source::decode::tests::exec_bytes(1, b"/usr/bin/api", b"api\0"), 0).unwrap());
        assert_eq!(table.get(10).unwrap().exe.as_deref(), Some("/usr/bin/api"));
        let mut fork = ForkRecord::new_zeroed();
        fork.task = task();
        fork.child_pid = 11;
        fork.child_tgid = 11;
        table.observe(&event(RecordKind::Fork, fork.as_bytes()));
        let child = table.get(11).unwrap();
        assert_eq!((child.ppid, child.exe.as_deref()), (10, Some("/usr/bin/api")));
        let mut cred = CredRecord::new_zeroed();
        cred.task = task();
        cred.task.tgid = 11;
        cred.new_uid = 0;
        table.observe(&event(RecordKind::CredChange, cred.as_bytes()));
        assert_eq!(table.get(11).unwrap().uid, 0);
        let ancestry: Vec<u32> = table.ancestry(11).iter().map(|e| e.tgid).collect();
        assert_eq!(ancestry, [11, 10]);
        let mut exit = ExitRecord::new_zeroed();
        exit.task = task();
        exit.task.tgid = 11;
        exit.flags = EXIT_GROUP_DEAD;
        table.observe(&event(RecordKind::Exit, exit.as_bytes()));
        assert!(table.get(11).is_none());
    }

    #[test]
    fn bounded_and_cycle_safe() {
        let mut table = ProcessTable::new(2);
        for tgid in [1, 2, 3] {
            table.insert(ProcessEntry { tgid, ppid: if tgid == 1 { 2 } else { 1 }, ..Default::default() });
        }
        assert_eq!((table.len(), table.overflowed), (2, 1));
        // 1 and 2 are each other's parent: the walk stops.
        assert_eq!(table.ancestry(1).len(), 2);
    }

    #[test]
    fn seeds_from_proc() {
        let mut table = ProcessTable::new(1 << 20);
        assert!(table.seed_from_proc(Path::new("/proc")) > 0);
        let me = table.get(std::process::id()).unwrap();
        assert!(me.exe.is_some());
    }
}
