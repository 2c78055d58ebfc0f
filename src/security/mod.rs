pub mod caps;
pub mod seccomp;
