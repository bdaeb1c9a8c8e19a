//! The contract's world, as this host implements it: its version, whether a
//! component's imports and exports fit it, and the calls common to every
//! minor version it runs (1.4.0 through `next-page`; 1.3.0 and 1.2.0
//! through `next-compact`; 1.1.0
//! through `next-verdicts`; 1.0.0 through `finish`).

use wasmtime::Store;
use wasmtime::component::{InstancePre, ResourceAny};

use crate::bindings::presend::validator::types as wit;
use crate::bindings::{PreSendValidator, PreSendValidatorPre, v1_0, v1_1, v1_2, v1_3};
use crate::error::{Error, Result};
use crate::sandbox::Sandbox;

/// The version of `wit/validator.wit` this host implements.
pub const WIT_VERSION: &str = "1.4.0";

/// Its major version: a component must implement this one.
pub(crate) const WIT_MAJOR: u64 = 1;

/// The world's imports and exports, by name, against what this host
/// provides: only `presend:validator` interfaces, of our major version.
pub(crate) fn check(imports: &[String], exports: &[String], origin: &str) -> Result<()> {
    for name in imports.iter().chain(exports) {
        let Some(interface) = name.strip_prefix("presend:validator/") else {
            if imports.contains(name) {
                return Err(Error::ForbiddenImport {
                    origin: origin.to_string(),
                    import: name.clone(),
                });
            }
            continue;
        };
        let version = interface.split_once('@').map(|(_, v)| v);
        let major = version.and_then(|v| v.split('.').next()?.parse::<u64>().ok());
        if major != Some(WIT_MAJOR) {
            return Err(Error::IncompatibleComponent {
                origin: origin.to_string(),
                expected: WIT_VERSION,
                major: WIT_MAJOR,
                found: version.map(String::from),
                message: format!(
                    "it uses {name}, and this host runs only validators of major version {WIT_MAJOR}"
                ),
            });
        }
    }
    Ok(())
}

/// The minor version of the `presend:validator/validator` export among
/// `exports` (`2` for `presend:validator/validator@1.2.0`).
fn minor_version(exports: &[String]) -> Option<u64> {
    exports.iter().find_map(|name| {
        let version = name.strip_prefix("presend:validator/validator@")?;
        version.split('.').nth(1)?.parse().ok()
    })
}

/// A component linked once, in the version of the world it implements.
pub(crate) enum WorldPre {
    /// 1.4.0: pages of verdicts as columns, history asked ahead.
    Current(PreSendValidatorPre<Sandbox>),
    /// 1.3.0: compact verdicts page by page, history asked ahead.
    Ahead(v1_3::PreSendValidatorPre<Sandbox>),
    /// 1.2.0: compact verdicts page by page.
    Compact(v1_2::PreSendValidatorPre<Sandbox>),
    /// 1.1.0: verdicts page by page.
    Paged(v1_1::PreSendValidatorPre<Sandbox>),
    /// 1.0.0: the whole file, then every verdict from `finish`.
    Whole(v1_0::PreSendValidatorPre<Sandbox>),
}

impl WorldPre {
    /// Binds the exports of the version `pre` implements, as the name of
    /// its `validator` export says: wasmtime finds exports (as the linker
    /// finds imports) by semver, so 1.4.0's bindings would bind a 1.3.0
    /// component too, and the name is what tells them apart. A component
    /// with no such export is bound as the current version, so the error
    /// says what it misses.
    pub(crate) fn new(pre: InstancePre<Sandbox>) -> wasmtime::Result<WorldPre> {
        let minor = {
            let component = pre.component();
            let ty = component.component_type();
            let engine = component.engine();
            let names: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
            minor_version(&names)
        };
        Ok(match minor {
            Some(0) => WorldPre::Whole(v1_0::PreSendValidatorPre::new(pre)?),
            Some(1) => WorldPre::Paged(v1_1::PreSendValidatorPre::new(pre)?),
            Some(2) => WorldPre::Compact(v1_2::PreSendValidatorPre::new(pre)?),
            Some(3) => WorldPre::Ahead(v1_3::PreSendValidatorPre::new(pre)?),
            _ => WorldPre::Current(PreSendValidatorPre::new(pre)?),
        })
    }

    /// The world's version the component implements.
    pub(crate) fn version(&self) -> &'static str {
        match self {
            WorldPre::Current(_) => WIT_VERSION,
            WorldPre::Ahead(_) => "1.3.0",
            WorldPre::Compact(_) => "1.2.0",
            WorldPre::Paged(_) => "1.1.0",
            WorldPre::Whole(_) => "1.0.0",
        }
    }

    /// A fresh instance in `store`.
    pub(crate) fn instantiate(&self, store: &mut Store<Sandbox>) -> wasmtime::Result<World> {
        Ok(match self {
            WorldPre::Current(pre) => World::Current(pre.instantiate(store)?),
            WorldPre::Ahead(pre) => World::Ahead(pre.instantiate(store)?),
            WorldPre::Compact(pre) => World::Compact(pre.instantiate(store)?),
            WorldPre::Paged(pre) => World::Paged(pre.instantiate(store)?),
            WorldPre::Whole(pre) => World::Whole(pre.instantiate(store)?),
        })
    }
}

/// An instance's exports.
pub(crate) enum World {
    /// 1.4.0.
    Current(PreSendValidator),
    /// 1.3.0.
    Ahead(v1_3::PreSendValidator),
    /// 1.2.0.
    Compact(v1_2::PreSendValidator),
    /// 1.1.0.
    Paged(v1_1::PreSendValidator),
    /// 1.0.0.
    Whole(v1_0::PreSendValidator),
}

/// The same call on either version's exports (their types are shared).
macro_rules! either {
    ($world:expr, $v:ident => $call:expr) => {
        match $world {
            World::Current($v) => $call,
            World::Ahead($v) => $call,
            World::Compact($v) => $call,
            World::Paged($v) => $call,
            World::Whole($v) => $call,
        }
    };
}

impl World {
    pub(crate) fn identity(
        &self,
        store: &mut Store<Sandbox>,
    ) -> wasmtime::Result<wit::ValidatorIdentity> {
        either!(self, v => v.presend_validator_validator().call_identity(store))
    }

    pub(crate) fn default_rules(&self, store: &mut Store<Sandbox>) -> wasmtime::Result<String> {
        either!(self, v => v.presend_validator_validator().call_default_rules(store))
    }

    pub(crate) fn check_rules(
        &self,
        store: &mut Store<Sandbox>,
        rules: &str,
    ) -> wasmtime::Result<Result<wit::RulesIdentity, wit::RulesError>> {
        either!(self, v => v.presend_validator_validator().call_check_rules(store, rules))
    }

    pub(crate) fn normalise_numbers(
        &self,
        store: &mut Store<Sandbox>,
        numbers: &[String],
    ) -> wasmtime::Result<Vec<Result<String, wit::Reason>>> {
        either!(self, v => v.presend_validator_validator().call_normalise_numbers(store, numbers))
    }

    /// `batch.open`.
    pub(crate) fn open(
        &self,
        store: &mut Store<Sandbox>,
        rules: &str,
        now: i64,
    ) -> wasmtime::Result<Result<ResourceAny, wit::RulesError>> {
        either!(self, v => v.presend_validator_validator().batch().call_open(store, rules, now))
    }
}
