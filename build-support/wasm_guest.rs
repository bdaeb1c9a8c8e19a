//! Shared by the build scripts that turn a guest crate of this workspace into
//! a component (`host/build.rs` for the validator, `tests/guests/build.rs`
//! for the misbehaving test guests).
//!
//! The guest is compiled for `wasm32-unknown-unknown` (no WASI at all: the
//! component imports nothing but its own world) by a nested cargo, then
//! turned into a component with `wit-component`. The nested cargo:
//! - uses its own target directory, `<target>/wasm-guests`: sharing the outer
//!   one deadlocks on the build-directory lock. Every guest shares it, so
//!   their common dependencies are built once (cargo's lock orders two build
//!   scripts that run at once);
//! - runs with the outer build's flags cleared: host `RUSTFLAGS` (a linker
//!   choice, sanitizer, fuzzing or coverage flags) and clippy's wrapper would
//!   break or pollute the wasm build;
//! - always uses the `wasm` profile (optimised, LTO), whatever the outer profile.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The only target guests are built for.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// Builds `package` (a cdylib of the workspace at `root`) and returns its
/// core module as a component. `artifact` is the `.wasm` file's stem.
#[allow(dead_code)] // Each build script uses one of the two.
pub fn build_component(root: &Path, package: &str, artifact: &str) -> Vec<u8> {
    build_component_with(root, package, artifact, None)
}

/// [`build_component`] with a cargo feature of the package turned on. Such
/// builds get a target directory of their own (`wasm-guests-features`): in
/// the shared one, one and a plain build run by another build script at the
/// same time would overwrite each other's `.wasm` between building it and
/// reading it. Builds with features share it, so only one build script may
/// make them (`tests/guests/build.rs`, one after another).
pub fn build_component_with(
    root: &Path,
    package: &str,
    artifact: &str,
    feature: Option<&str>,
) -> Vec<u8> {
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    let dir_name = match feature {
        Some(_) => "wasm-guests-features",
        None => "wasm-guests",
    };
    // OUT_DIR is <target>[/<triple>]/<profile>/build/<pkg>-<hash>/out: find <target>.
    let target_dir = out_dir
        .ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").exists())
        .map_or_else(|| out_dir.join("guest-target"), |t| t.join(dir_name));

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args([
            "build",
            "--package",
            package,
            "--profile",
            "wasm",
            "--target",
            WASM_TARGET,
        ])
        .arg("--target-dir")
        .arg(&target_dir);
    if let Some(feature) = feature {
        command.args(["--features", feature]);
    }
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
                    | "RUSTC_BOOTSTRAP"
                    | "CARGO_INCREMENTAL"
            );
        if outer_only {
            command.env_remove(&*key);
        }
    }
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("could not run cargo to build {package}: {e}"));
    if !status.success() {
        panic!(
            "building {package} for {WASM_TARGET} failed; \
             if the target is missing, run `rustup target add {WASM_TARGET}`"
        );
    }

    let module_path = target_dir
        .join(WASM_TARGET)
        .join("wasm")
        .join(format!("{artifact}.wasm"));
    let module = std::fs::read(&module_path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", module_path.display()));
    wit_component::ComponentEncoder::default()
        .module(&module)
        .and_then(|encoder| encoder.validate(true).encode())
        .unwrap_or_else(|e| panic!("turning {} into a component: {e:?}", module_path.display()))
}
