//! The capture-file reader on arbitrary files (see witness::hostile::capture).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| witness::hostile::capture(data));
