//! Raw system calls the standard library does not wrap: Landlock, ptrace,
//! bpf, keyrings, CPU affinity. Structures follow the kernel UAPI headers
//! named at each one.

use std::ffi::CStr;
use std::io;

use anyhow::Context as _;

/// `LANDLOCK_ACCESS_FS_READ_FILE` (linux/landlock.h).
pub(crate) const LANDLOCK_ACCESS_FS_READ_FILE: u64 = 1 << 2;
/// `LANDLOCK_ACCESS_FS_MAKE_REG` (linux/landlock.h).
pub(crate) const LANDLOCK_ACCESS_FS_MAKE_REG: u64 = 1 << 8;
/// `LANDLOCK_ACCESS_NET_CONNECT_TCP` (linux/landlock.h, ABI 4).
pub(crate) const LANDLOCK_ACCESS_NET_CONNECT_TCP: u64 = 1 << 1;
const LANDLOCK_CREATE_RULESET_VERSION: u32 = 1 << 0;

/// `struct landlock_ruleset_attr` (linux/landlock.h), ABI 4 layout.
#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
}

fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// The running kernel's Landlock ABI version.
pub(crate) fn landlock_abi() -> anyhow::Result<i64> {
    // SAFETY: the version query takes no attribute.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<RulesetAttr>(),
            0,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    check(v).context("Landlock is not available in this kernel")
}

/// Restricts this process: the handled accesses, with no rule allowing any.
pub(crate) fn landlock_restrict(fs: u64, net: u64) -> anyhow::Result<()> {
    let attr = RulesetAttr { handled_access_fs: fs, handled_access_net: net };
    // SAFETY: `attr` is a valid ruleset attribute of the size passed.
    let fd = unsafe {
        libc::syscall(libc::SYS_landlock_create_ruleset, &attr as *const RulesetAttr, size_of::<RulesetAttr>(), 0)
    };
    let fd = check(fd).context("landlock_create_ruleset")?;
    // SAFETY: plain prctl.
    check(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) }.into()).context("PR_SET_NO_NEW_PRIVS")?;
    // SAFETY: `fd` is the ruleset just created.
    check(unsafe { libc::syscall(libc::SYS_landlock_restrict_self, fd, 0) }).context("landlock_restrict_self")?;
    // SAFETY: closing our own fd.
    // CAST: a file descriptor fits an int.
    unsafe { libc::close(fd as libc::c_int) };
    Ok(())
}

/// PTRACE_ATTACH, wait for the stop, PTRACE_DETACH.
pub(crate) fn ptrace_attach(pid: i32) -> io::Result<()> {
    // SAFETY: plain ptrace request on another process.
    check(unsafe { libc::ptrace(libc::PTRACE_ATTACH, pid, 0, 0) })?;
    let mut status = 0;
    // SAFETY: waits for the tracee we just attached.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    // SAFETY: detaches from our tracee.
    check(unsafe { libc::ptrace(libc::PTRACE_DETACH, pid, 0, 0) })?;
    Ok(())
}

/// Loads `r0 = 0; exit` as a socket filter; returns the program fd.
/// Loads a socket filter; `invalid` leaves out its exit instruction, which
/// the verifier refuses.
pub(crate) fn bpf_load_socket_filter(name: &str, invalid: bool) -> io::Result<i64> {
    const BPF_PROG_LOAD: libc::c_long = 5;
    const BPF_PROG_TYPE_SOCKET_FILTER: u32 = 1;
    // BPF_MOV64_IMM(BPF_REG_0, 0) and BPF_EXIT_INSN() (linux/bpf.h).
    let all: [u64; 2] = [0xb7, 0x95];
    let insns = if invalid { &all[..1] } else { &all[..] };
    let license = c"GPL";
    // `union bpf_attr` for BPF_PROG_LOAD (linux/bpf.h): prog_type @0,
    // insn_cnt @4, insns @8, license @16, ..., prog_name @48 (16 bytes).
    let mut attr = [0u8; 128];
    attr[0..4].copy_from_slice(&BPF_PROG_TYPE_SOCKET_FILTER.to_ne_bytes());
    // CAST: one or two instructions.
    attr[4..8].copy_from_slice(&(insns.len() as u32).to_ne_bytes());
    attr[8..16].copy_from_slice(&(insns.as_ptr() as u64).to_ne_bytes());
    attr[16..24].copy_from_slice(&(license.as_ptr() as u64).to_ne_bytes());
    let n = name.len().min(15);
    attr[48..48 + n].copy_from_slice(&name.as_bytes()[..n]);
    // SAFETY: `attr` is a BPF_PROG_LOAD attribute whose pointers (insns,
    // license) outlive the call.
    let fd = check(unsafe { libc::syscall(libc::SYS_bpf, BPF_PROG_LOAD, attr.as_ptr(), attr.len()) })?;
    // SAFETY: closing the program fd we got.
    // CAST: a file descriptor fits an int.
    unsafe { libc::close(fd as libc::c_int) };
    Ok(fd)
}

/// `KEY_SPEC_PROCESS_KEYRING` (linux/keyctl.h).
const KEY_SPEC_PROCESS_KEYRING: i32 = -2;

pub(crate) fn add_key(key_type: &CStr, description: &CStr, payload: &[u8]) -> io::Result<i64> {
    // SAFETY: NUL-terminated strings and a payload buffer of the given size.
    check(unsafe {
        libc::syscall(
            libc::SYS_add_key,
            key_type.as_ptr(),
            description.as_ptr(),
            payload.as_ptr(),
            payload.len(),
            KEY_SPEC_PROCESS_KEYRING,
        )
    })
}

pub(crate) fn request_key(key_type: &CStr, description: &CStr) -> io::Result<i64> {
    // SAFETY: NUL-terminated strings; no callout, no destination keyring.
    check(unsafe {
        libc::syscall(libc::SYS_request_key, key_type.as_ptr(), description.as_ptr(), std::ptr::null::<u8>(), 0)
    })
}

/// Pins the calling thread to one CPU (best effort).
pub(crate) fn pin_to_cpu(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET stays in it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
    }
}

/// Loads the module file at `path` with finit_module(2), or with
/// init_module(2) from its bytes when `from_memory`.
pub(crate) fn load_module(path: &str, from_memory: bool) -> io::Result<i64> {
    let params = c"";
    if from_memory {
        let image = std::fs::read(path)?;
        // SAFETY: the image buffer and the NUL-terminated parameters outlive the call.
        check(unsafe { libc::syscall(libc::SYS_init_module, image.as_ptr(), image.len(), params.as_ptr()) })
    } else {
        let file = std::fs::File::open(path)?;
        // SAFETY: a descriptor we hold and NUL-terminated parameters.
        check(unsafe {
            libc::syscall(libc::SYS_finit_module, std::os::fd::AsRawFd::as_raw_fd(&file), params.as_ptr(), 0)
        })
    }
}
