//! Builds the test guests into `OUT_DIR`:
//! - `hostile.wasm` from `hostile/`, exactly as the real validator is built
//!   (`build-support/wasm_guest.rs`);
//! - `validator-1.3.0.wasm`, `validator-1.2.0.wasm`, `validator-1.1.0.wasm`
//!   and `validator-1.0.0.wasm`: the real validator built against the world
//!   as those versions were released (`wit/1.3.0/` and so on, the plugin's
//!   features `contract-1-3` to `contract-1-0`), to prove
//!   hosts still run validators of those versions;
//! - components of other versions of the world, and one that imports WASI,
//!   as wit-component's dummy modules: their functions only trap, which is
//!   enough, because the host must refuse them before calling anything.

use std::env;
use std::path::{Path, PathBuf};

use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::{LiftLowerAbi, ManglingAndAbi, Resolve};

#[path = "../../build-support/wasm_guest.rs"]
mod wasm_guest;

/// Stand-ins for the WASI interfaces a validator might reach for.
const WASI: &str = r#"
package wasi:sandbox-escape@0.2.0;

interface environment {
    get-environment: func() -> list<tuple<string, string>>;
}

interface filesystem {
    read-file: func(path: string) -> list<u8>;
}

interface sockets {
    connect: func(address: string) -> u32;
}

interface wall-clock {
    now: func() -> u64;
}
"#;

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir.join("../..");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    for path in [
        "tests/guests/hostile",
        "plugin/src",
        "plugin/Cargo.toml",
        "wit",
        "build-support",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }

    let hostile =
        wasm_guest::build_component(&root, "presend-hostile-guest", "presend_hostile_guest");
    write(&out_dir.join("hostile.wasm"), &hostile);
    // One after another: they share a target directory (see wasm_guest.rs).
    for (feature, version) in [
        ("contract-1-0", "1.0.0"),
        ("contract-1-1", "1.1.0"),
        ("contract-1-2", "1.2.0"),
        ("contract-1-3", "1.3.0"),
    ] {
        let validator = wasm_guest::build_component_with(
            &root,
            "presend-plugin",
            "presend_plugin",
            Some(feature),
        );
        write(
            &out_dir.join(format!("validator-{version}.wasm")),
            &validator,
        );
    }

    let wit =
        std::fs::read_to_string(root.join("wit/validator.wit")).expect("reading wit/validator.wit");
    let ours = "@1.4.0";
    assert!(
        wit.contains(ours),
        "wit/validator.wit is no longer version 1.4.0: update build.rs"
    );
    write(
        &out_dir.join("world-v2.wasm"),
        &dummy(&wit.replace(ours, "@2.0.0"), &[]),
    );
    write(
        &out_dir.join("world-v0.wasm"),
        &dummy(&wit.replace(ours, "@0.9.0"), &[]),
    );
    let wasi_imports = [
        "import wasi:sandbox-escape/environment@0.2.0;",
        "import wasi:sandbox-escape/filesystem@0.2.0;",
        "import wasi:sandbox-escape/sockets@0.2.0;",
        "import wasi:sandbox-escape/wall-clock@0.2.0;",
    ];
    write(
        &out_dir.join("wants-wasi.wasm"),
        &dummy(&wit, &wasi_imports),
    );
}

/// A component of the world `pre-send-validator` in `wit`, with `imports`
/// added to it, whose functions all trap.
fn dummy(wit: &str, imports: &[&str]) -> Vec<u8> {
    let mut resolve = Resolve::default();
    resolve
        .push_str("wasi.wit", WASI)
        .expect("parsing the WASI stand-ins");
    let world_line = "world pre-send-validator {";
    assert!(
        wit.contains(world_line),
        "wit/validator.wit has no `{world_line}`: update build.rs"
    );
    let wit = wit.replace(
        world_line,
        &format!("{world_line}\n    {}", imports.join("\n    ")),
    );
    let package = resolve
        .push_str("validator.wit", &wit)
        .expect("parsing the world");
    let world = resolve
        .select_world(&[package], Some("pre-send-validator"))
        .expect("the world");
    let mut module =
        wit_component::dummy_module(&resolve, world, ManglingAndAbi::Legacy(LiftLowerAbi::Sync));
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        StringEncoding::UTF8,
        false,
    )
    .expect("embedding the world");
    ComponentEncoder::default()
        .module(&module)
        .and_then(|e| e.validate(true).encode())
        .expect("encoding the dummy component")
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}
