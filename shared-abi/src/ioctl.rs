//! ioctl numbers and argument layouts of `/dev/witness`.
//!
//! Numbers use Linux's generic `_IOC` encoding (x86, arm64, riscv): direction
//! in bits 30-31, argument size in bits 16-29, type in bits 8-15, number in
//! bits 0-7.

/// Version of the whole ABI (records, ring, ioctls). The module reports it
/// through [`WITNESS_IOC_INFO`]; the collector refuses to talk to a module
/// whose version differs. Bump it on any incompatible change.
pub const ABI_VERSION: u32 = 1;

/// The ioctl type byte of `/dev/witness`.
pub const WITNESS_IOC_TYPE: u32 = b'W' as u32;

const IOC_READ: u32 = 2;

/// `_IOR(WITNESS_IOC_TYPE, nr, size)`.
const fn ior(nr: u32, size: usize) -> u32 {
    assert!(size < (1 << 14));
    // CAST: the assertion above bounds size to 14 bits.
    (IOC_READ << 30) | ((size as u32) << 16) | (WITNESS_IOC_TYPE << 8) | nr
}

/// What the device reports about itself. Read it first: the collector checks
/// `abi_version` before it trusts any other byte from the device.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "user",
    derive(zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable, zerocopy::KnownLayout)
)]
pub struct DeviceInfo {
    /// The module's [`ABI_VERSION`].
    pub abi_version: u32,
    /// Number of rings: one per possible CPU id (`nr_cpu_ids`).
    pub nr_rings: u32,
    /// Bytes in each ring's data area (a power of two).
    pub ring_data_size: u32,
    /// Largest record the module writes, in bytes.
    pub record_max_len: u32,
}

/// Read a [`DeviceInfo`]. Any opener may call it.
pub const WITNESS_IOC_INFO: u32 = ior(1, core::mem::size_of::<DeviceInfo>());

const _: () = {
    assert!(core::mem::size_of::<DeviceInfo>() == 16);
    assert!(WITNESS_IOC_INFO == 0x8010_5701);
};
