//! One file per command: its arguments and what it does.

pub mod check_rules;
pub mod deploy;
pub mod diff;
pub mod history;
pub mod info;
#[cfg(feature = "serve")]
pub mod serve;
pub mod validate;
