//! Configuration: the daemon's TOML settings file, and the kind masks,
//! filters and watermark sent to the module.

pub mod control;
pub mod settings;
