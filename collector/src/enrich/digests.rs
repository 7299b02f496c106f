//! Executable digests by (device, inode, mtime): a file is hashed once
//! however many processes run it, and again when it changes.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::enrich::process_table::ImageKey;

type FastHash = foldhash::fast::RandomState;

/// Executable digests by (device, inode, mtime).
#[derive(Debug)]
pub struct Digests {
    map: HashMap<ImageKey, Option<[u8; 32]>, FastHash>,
    max: usize,
}

impl Digests {
    /// At most `max` digests (the cache is cleared when full).
    pub fn new(max: usize) -> Self {
        Self { map: HashMap::default(), max }
    }
}

impl Digests {
    /// The digest of the file `key` names, if it was hashed already.
    pub fn cached(&self, key: ImageKey) -> Option<[u8; 32]> {
        self.map.get(&key).copied().flatten()
    }

    /// The digest of the executable `key` names: from the cache, or by
    /// hashing the first of `candidates` that is still that file.
    pub fn get(&mut self, key: ImageKey, candidates: &[PathBuf]) -> Option<[u8; 32]> {
        use std::os::unix::fs::MetadataExt;
        if let Some(d) = self.map.get(&key) {
            return *d;
        }
        // Hash the first candidate that is still the same file.
        let digest = candidates.iter().find_map(|p| {
            let m = std::fs::metadata(p).ok()?;
            (ImageKey { dev: m.dev(), ino: m.ino(), mtime: m.mtime() } == key)
                .then(|| crate::identity::process::sha256_file(p).ok())
                .flatten()
        });
        if self.map.len() >= self.max {
            self.map.clear();
        }
        // Unknown digests are remembered too, so a vanished file is not
        // retried on every event.
        self.map.insert(key, digest);
        digest
    }
}
