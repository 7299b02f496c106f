//! The policy loader on arbitrary text (see witness::hostile::policy).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| witness::hostile::policy(data));
