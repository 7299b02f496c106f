//! What a record does not say but the host knows: the process table, the
//! cgroup (and container, pod) of a task, executable digests, which
//! workload serves a socket, and the kernel's names of drop reasons.
//!
//! - [`process_table`]: live processes from /proc and from the records,
//! - [`cgroup`]: container id, runtime, pod UID and unit from a cgroup path,
//! - [`cgroup_paths`]: cgroup id to path (`open_by_handle_at`, or a
//!   bounded walk),
//! - [`digests`]: executable digests by device, inode and mtime,
//! - [`peers`]: listeners by address and network namespace,
//! - [`pods`]: pod name, namespace and labels from the container runtime (CRI),
//! - [`sockdiag`]: listening sockets that predate the daemon (sock_diag),
//! - [`drop_reasons`]: the kernel's `skb_drop_reason` names.

pub mod cgroup;
pub mod cgroup_paths;
pub mod digests;
pub mod drop_reasons;
pub mod peers;
pub mod pods;
pub mod process_table;
pub mod sockdiag;
