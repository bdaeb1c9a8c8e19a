//! The contract's world, as this host implements it: its version, and
//! whether a component's imports and exports fit it.

use crate::error::{Error, Result};

/// The version of `wit/validator.wit` this host implements.
pub const WIT_VERSION: &str = "1.0.0";

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
