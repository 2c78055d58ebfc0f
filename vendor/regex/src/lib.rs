//! `regex` API re-exported from `regex-lite`; see Cargo.toml for why.

pub use regex_lite::*;
