//! What this crate carries inside it: the validator built from `plugin/`,
//! and the example patient file that is a preflight's default canary.

/// The bundled example patient file (`examples/patients.csv`): the default
/// canary batch of a preflight.
pub const EXAMPLE_PATIENTS: &[u8] = include_bytes!("../../examples/patients.csv");

/// The validator component built from `plugin/` by `build.rs`.
pub const EMBEDDED_VALIDATOR: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/presend_validator.wasm"));
