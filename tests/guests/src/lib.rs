//! Validator components for the host's tests, most of them misbehaving on
//! purpose (built by `build.rs`, so a plain `cargo test` has them). Never
//! deploy one.

/// `hostile/`: implements the world, and misbehaves in the way its rules
/// text names (see `hostile/src/lib.rs` for the list).
pub const HOSTILE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/hostile.wasm"));

/// Implements `presend:validator@2.0.0`: a newer major version of the world.
pub const WORLD_V2: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/world-v2.wasm"));

/// Implements `presend:validator@0.9.0`: an older, pre-1.0 version of the world.
pub const WORLD_V0: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/world-v0.wasm"));

/// Implements our world and also imports WASI's environment, filesystem,
/// sockets and clocks, which presend never provides.
pub const WANTS_WASI: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/wants-wasi.wasm"));

/// The real validator, built against the world as 1.0.0 was released
/// (`wit/1.0.0/`): no pages, every verdict from `finish`. It misbehaves in
/// nothing; it is here because hosts must keep running 1.0.0 validators.
pub const VALIDATOR_1_0_0: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/validator-1.0.0.wasm"));

/// The real validator, built against the world as 1.1.0 was released
/// (`wit/1.1.0/`): verdicts page by page with their numbers as strings, and
/// history asked with `lookup`. Here because hosts must keep running 1.1.0
/// validators.
pub const VALIDATOR_1_1_0: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/validator-1.1.0.wasm"));

/// The real validator, built against the world as 1.2.0 was released
/// (`wit/1.2.0/`): compact verdicts page by page, history asked with
/// `lookup-mobiles` as each group of rows is judged (no `pending-lookup`).
/// Here because hosts must keep running 1.2.0 validators.
pub const VALIDATOR_1_2_0: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/validator-1.2.0.wasm"));

/// The real validator, built against the world as 1.3.0 was released
/// (`wit/1.3.0/`): compact verdicts page by page, history asked ahead with
/// `pending-lookup` (no `next-page`). Here because hosts must keep running
/// 1.3.0 validators.
pub const VALIDATOR_1_3_0: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/validator-1.3.0.wasm"));
