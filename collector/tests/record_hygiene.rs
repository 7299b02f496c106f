//! Records the real module wrote (tests/data/judge_e2e.cap, from the VM)
//! leave nothing uninitialised: reserved header and task fields are zero,
//! the alignment padding after each record's body and tails is zero, and no
//! field carries a kernel pointer (sockets are named by a keyed hash, not
//! by address).

use std::path::Path;

use witness::source::capture::HEADER_LEN;
use witness::source::decode::{decode_with_rest, Body};
use witness_abi::record::{RecordHeader, RECORD_HEADER_LEN};
use zerocopy::FromBytes;

/// Whether a word looks like an x86-64 kernel address: the direct map,
/// vmalloc and vmemmap areas, or kernel and module text (the top 2 GiB,
/// less the last page, where error values such as -1 live). Two adjacent
/// 32-bit fields (a -1 next to a small number) are not addresses.
fn looks_like_kernel_pointer(v: u64) -> bool {
    (0xffff_8000_0000_0000..0xffff_ff00_0000_0000).contains(&v)
        || (0xffff_ffff_8000_0000..0xffff_ffff_ffff_f000).contains(&v)
}

#[test]
fn the_real_module_zeroes_padding_and_reserved_fields() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let data = std::fs::read(root.join("tests/data/judge_e2e.cap")).unwrap();
    let mut rest = &data[HEADER_LEN..];
    let mut offset = HEADER_LEN;
    let (mut records, mut padded) = (0, 0);
    while rest.len() >= RECORD_HEADER_LEN {
        let (header, _) = RecordHeader::read_from_prefix(rest).unwrap();
        let len = header.len as usize;
        let record = &rest[..len];
        assert_eq!(header.flags, 0, "record at {offset}: header flags (reserved) not zero");
        let (event, padding) = decode_with_rest(record, offset).unwrap();
        assert!(padding.len() < 8, "record at {offset}: {} bytes after the body", padding.len());
        assert!(padding.iter().all(|&b| b == 0), "record at {offset}: padding {padding:?} not zeroed");
        padded += usize::from(!padding.is_empty());
        if let Some(task) = event.task() {
            assert_eq!(task.reserved, 0, "record at {offset}: task reserved field not zero");
        }
        if let Body::TcpState(t) = &event.body {
            assert!(!looks_like_kernel_pointer(t.sock_id), "record at {offset}: sock_id {:#x}", t.sock_id);
        }
        // No 8-byte-aligned word of any record is a kernel address.
        for (i, word) in record.chunks_exact(8).enumerate() {
            let v = u64::from_ne_bytes(word.try_into().unwrap());
            assert!(!looks_like_kernel_pointer(v), "record at {offset}, byte {}: {v:#x}", i * 8);
        }
        records += 1;
        offset += len;
        rest = &rest[len..];
    }
    assert!(records > 100 && padded > 10, "{records} records, {padded} with padding: the capture is too thin");
}
