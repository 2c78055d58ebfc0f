//! Starting the container's init: plan (pure), clone, parent/init halves and their channel.
pub mod become_process;
pub mod channel;
pub mod clone;
pub mod exec_init;
pub mod init;
pub mod msg;
pub mod parent;
pub mod passwd;
pub mod plan;
pub mod setup;
pub mod userns;
