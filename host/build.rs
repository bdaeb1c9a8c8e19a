//! Builds the default validator component from `plugin/` and puts it in
//! `OUT_DIR`, so the host embeds it and a plain `cargo build`/`cargo test`
//! needs nothing else. How: `build-support/wasm_guest.rs`.

use std::env;
use std::path::PathBuf;

#[path = "../build-support/wasm_guest.rs"]
mod wasm_guest;

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .parent()
        .expect("host/ is inside the workspace");
    for path in [
        "plugin/src",
        "plugin/Cargo.toml",
        "wit",
        "examples/rules/default.toml",
        "build-support",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }
    let component = wasm_guest::build_component(root, "presend-plugin", "presend_plugin");
    let out =
        PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("presend_validator.wasm");
    std::fs::write(&out, component).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}
