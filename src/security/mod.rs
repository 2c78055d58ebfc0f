pub mod caps;
pub mod exe;
pub mod lsm;
pub mod seccomp;
