//! Builds the default validator component from `plugin/` and puts it in
//! `OUT_DIR`, so the host embeds it and a plain `cargo build`/`cargo test`
//! needs nothing else.
//!
//! The plugin is compiled for `wasm32-unknown-unknown` (no WASI at all: the
//! component imports nothing but its own world) by a nested cargo, then turned
//! into a component with `wit-component`. The nested cargo:
//! - uses its own target directory: sharing the outer one deadlocks on the
//!   build-directory lock;
//! - runs with the outer build's flags cleared: host `RUSTFLAGS` (a linker
//!   choice, sanitizer or coverage flags) and clippy's wrapper would break or
//!   pollute the wasm build;
//! - always uses the `wasm` profile (optimised, LTO), whatever the outer profile.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const WASM_TARGET: &str = "wasm32-unknown-unknown";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .parent()
        .expect("host/ is inside the workspace");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    for path in [
        "plugin/src",
        "plugin/Cargo.toml",
        "wit",
        "examples/rules/default.toml",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }

    // OUT_DIR is <target>/<profile>/build/<pkg>-<hash>/out: build beside <profile>.
    let target_dir = out_dir.ancestors().nth(4).map_or_else(
        || out_dir.join("plugin-target"),
        |t| t.join("presend-plugin"),
    );

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args([
            "build",
            "--package",
            "presend-plugin",
            "--profile",
            "wasm",
            "--target",
            WASM_TARGET,
        ])
        .arg("--target-dir")
        .arg(&target_dir);
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy();
        let outer_only = key.starts_with("CARGO_TARGET_")
            || key.starts_with("CARGO_BUILD_")
            || key.starts_with("CARGO_PROFILE_")
            || key.starts_with("CARGO_ENCODED_")
            || key.starts_with("CARGO_LLVM_COV")
            || matches!(
                &*key,
                "RUSTFLAGS"
                    | "RUSTDOCFLAGS"
                    | "RUSTC_WRAPPER"
                    | "RUSTC_WORKSPACE_WRAPPER"
                    | "CARGO_INCREMENTAL"
            );
        if outer_only {
            command.env_remove(&*key);
        }
    }
    let status = command
        .status()
        .expect("could not run cargo to build the validator component");
    if !status.success() {
        panic!(
            "building the validator component (plugin/) for {WASM_TARGET} failed; \
             if the target is missing, run `rustup target add {WASM_TARGET}`"
        );
    }

    let module_path = target_dir
        .join(WASM_TARGET)
        .join("wasm")
        .join("presend_plugin.wasm");
    let module = std::fs::read(&module_path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", module_path.display()));
    let component = componentize(&module, &module_path);
    let out = out_dir.join("presend_validator.wasm");
    std::fs::write(&out, component).unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}

/// A core module with wit-bindgen's embedded world -> a component.
fn componentize(module: &[u8], path: &Path) -> Vec<u8> {
    wit_component::ComponentEncoder::default()
        .module(module)
        .and_then(|encoder| encoder.validate(true).encode())
        .unwrap_or_else(|e| panic!("turning {} into a component: {e:?}", path.display()))
}
