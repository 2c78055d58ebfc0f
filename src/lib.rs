//! rt: an OCI runtime. The binary in main.rs is a thin CLI over this library.
pub mod cgroups;
pub mod security;
