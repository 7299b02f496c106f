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
//! - `shim`: declarations of the C shim (shim.c) for what Rust cannot reach.
//!
//! Load order: rings, then the device, then the hooks. Unload runs it
//! backwards and is safe at any time: hooks are detached and in-flight
//! handlers waited for, readers are woken with `ENODEV`, and the rings are
//! freed only after the last open file is released.

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
        let ctx = (&*state as *const State).cast_mut().cast();
        // SAFETY: `state` is pinned and outlives the device: it is dropped
        // only after `witness_shim_device_unregister` has returned.
        let ret = unsafe { shim::witness_shim_device_register(ctx) };
        if ret != 0 {
            pr_err!("cannot register /dev/witness: error {}\n", ret);
            return Err(Error::from_errno(ret));
        }
        if let Err(e) = hooks::attach_all(&state) {
            // SAFETY: registered above; no hook is attached.
            unsafe { shim::witness_shim_device_unregister() };
            return Err(e);
        }
        pr_info!("loaded, ABI {}, {} rings of {} KiB\n", ioctl::ABI_VERSION, state.rings.len(), kib);
        Ok(Self { state })
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        hooks::detach_all(&self.state);
        // SAFETY: registered in init. Returns once every open file is
        // released, after which nothing refers to `state`.
        unsafe { shim::witness_shim_device_unregister() };
        pr_info!("unloaded\n");
    }
}
