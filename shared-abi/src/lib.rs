//! The witness kernel/user ABI, defined once.
//!
//! This `no_std` crate is the only place where the byte layouts shared by the
//! kernel module and the collector are written down:
//!
//! - [`record`]: the record kinds and their fixed layouts,
//! - [`ring`]: the per-CPU ring (memory layout and the lockless
//!   single-producer/single-consumer protocol, both sides),
//! - [`ioctl`]: the device's ioctl numbers and argument layouts.
//!
//! The module compiles these same files with `#[path]`, so a layout cannot
//! drift between the two sides. User-space conveniences (zerocopy derives for
//! safe decoding) sit behind the `user` feature, which the kernel never sets.
//! Every layout has compile-time size and offset assertions, and no struct has
//! implicit padding: reserved fields are explicit and always zero.
#![no_std]

pub mod ioctl;
pub mod record;
pub mod ring;

pub use ioctl::ABI_VERSION;
