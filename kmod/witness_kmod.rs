// SPDX-License-Identifier: GPL-2.0

//! witness: kernel telemetry for workload identity.
//!
//! The module records, user space decides. Hooks at the points where Linux
//! enforces access write small fixed-layout records (defined in the shared
//! ABI crate, included below by path) into one lockless ring per possible
//! CPU, and `/dev/witness` hands them to the collector.
//!
//! - `rings`: the per-CPU ring memory,
//! - `device`: `read`, `poll` readiness and `ioctl` of `/dev/witness`,
//! - `hooks`: the hook framework and one file per hook family,
//! - `filters`: the in-kernel filters, `stats`: per-CPU per-hook counters,
//!   `scratch`: per-CPU space where handlers resolve what filters judge,
//! - `shim`: declarations of the C shim (shim.c) for what Rust cannot reach;
//!   probes.c holds the typed trampolines the kernel calls (see `hooks`),
//!   direct.c and direct_tramp.S the ftrace direct call of
//!   `security_file_open`.
//!
//! Load order: rings, then the hooks, then the device, last so that no file
//! can be open on a module whose init still fails. An open file holds a
//! module reference (the file operations are owned by this module), so
//! unload begins only once no collector has the device open; collectors are
//! asked to let go with the `shutdown` parameter (shim.c). Unload then
//! detaches the hooks and waits for in-flight handlers, removes the device,
//! and frees the rings.

use kernel::prelude::*;

// The shared ABI, compiled from the same files as the `witness-abi` crate.
// They sit at the crate root here as there, so their `super::` paths agree.
#[allow(dead_code, unreachable_pub)]
#[path = "../shared-abi/src/ioctl.rs"]
mod ioctl;
#[allow(dead_code, unreachable_pub)]
#[path = "../shared-abi/src/record.rs"]
mod record;
#[allow(dead_code, unreachable_pub)]
#[path = "../shared-abi/src/ring.rs"]
mod ring;

mod device;
mod filters;
mod hooks;
mod rings;
mod scratch;
mod shim;
mod stats;

use device::State;
use ring::data_size_is_valid;
use rings::RingSet;

module! {
    type: Witness,
    name: "witness",
    authors: ["witness developers"],
    description: "Kernel telemetry for workload identity",
    license: "GPL",
}

struct Witness {
    state: Pin<KBox<State>>,
}

impl kernel::Module for Witness {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: reads a module parameter.
        let kib = unsafe { shim::witness_shim_ring_size_kib() };
        // CAST: u32 KiB to bytes fits in usize on 64-bit.
        let data_size = (kib as usize).saturating_mul(1024);
        if !data_size_is_valid(data_size) {
            pr_err!("ring_size_kib={} must be a power of two from 64 to 1048576\n", kib);
            return Err(EINVAL);
        }
        let rings = RingSet::new(data_size)?;
        let state = KBox::pin(State::new(rings)?, GFP_KERNEL)?;
        hooks::attach_all(&state)?;
        let ctx = (&*state as *const State).cast_mut().cast();
        // SAFETY: `state` is pinned and outlives the device: it is dropped
        // only after `witness_shim_device_unregister` has returned.
        let ret = unsafe { shim::witness_shim_device_register(ctx) };
        if ret != 0 {
            pr_err!("cannot register /dev/witness: error {}\n", ret);
            hooks::detach_all(&state);
            return Err(Error::from_errno(ret));
        }
        pr_info!("loaded, ABI {}, {} rings of {} KiB\n", ioctl::ABI_VERSION, state.rings.len(), kib);
        Ok(Self { state })
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        // The hooks first: after this no producer queues a reader wakeup.
        // No file is open (each holds a module reference) and none can be
        // opened (the module is going).
        hooks::detach_all(&self.state);
        // SAFETY: registered in init; waits for a queued wakeup.
        unsafe { shim::witness_shim_device_unregister() };
        pr_info!("unloaded\n");
    }
}
