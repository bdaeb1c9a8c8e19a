//! Who the validator is, as its `identity` export says.

/// The validator's name, as the `identity` export gives it.
pub const NAME: &str = "presend-validator";
/// The validator's version (the crate's), as the `identity` export gives it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
