//! rt: an OCI container runtime. The binary in main.rs is a thin CLI over this library.
pub mod cgroups;
pub mod check;
pub mod cli;
pub mod container;
pub mod criu;
pub mod dbus;
pub mod hooks;
pub mod intelrdt;
pub mod logging;
pub mod mempolicy;
pub mod namespaces;
pub mod netdev;
pub mod process;
pub mod procfs;
pub mod rootfs;
pub mod security;
pub mod signal;
pub mod spec;
pub mod state;
pub mod sysctl;
#[cfg(test)]
mod testutil;
pub mod timefmt;
pub mod tty;
