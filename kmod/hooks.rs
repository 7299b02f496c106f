//! Hook families. Each submodule attaches to one kind of kernel event and
//! turns it into records; `attach_all`/`detach_all` manage them together.

use kernel::prelude::*;

use crate::device::State;

mod exec;

/// Attaches every hook. On failure, the ones already attached are detached.
pub(crate) fn attach_all(state: &State) -> Result {
    exec::attach(state)
}

/// Detaches every hook and waits until none of their handlers is running.
pub(crate) fn detach_all(state: &State) {
    exec::detach(state);
    // SAFETY: process context (module exit); waits for in-flight probes.
    unsafe { crate::shim::witness_shim_tracepoint_sync() };
}
