//! The inventory parser on arbitrary text (see witness::hostile::inventory).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| witness::hostile::inventory(data));
