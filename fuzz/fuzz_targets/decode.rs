//! The record decoder on arbitrary device bytes (see witness::hostile::decode).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| witness::hostile::decode(data));
