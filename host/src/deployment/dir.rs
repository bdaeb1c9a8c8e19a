//! The deploy directory: where operators put a rule version for a running
//! service to pick up. Its layout (the two file names), reading a version's
//! files, and telling when they changed.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::{Error, Result};

/// A deploy directory: `validator.wasm` and/or `rules.toml`. A missing part
/// is the built-in validator or its default rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployDir {
    path: PathBuf,
}

impl DeployDir {
    /// The validator component's file name.
    pub const VALIDATOR_FILE: &'static str = "validator.wasm";
    /// The rules document's file name.
    pub const RULES_FILE: &'static str = "rules.toml";

    /// The directory at `path` (nothing is read yet).
    pub fn new(path: impl Into<PathBuf>) -> DeployDir {
        DeployDir { path: path.into() }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where compiled components are cached unless told otherwise.
    pub fn default_cache_dir(&self) -> PathBuf {
        self.path.join(".presend-cache")
    }

    /// The files of the version it holds now.
    ///
    /// # Errors
    ///
    /// [`Error::DeployFile`] when the path is not a directory.
    pub fn parts(&self) -> Result<Parts> {
        if !self.path.is_dir() {
            return Err(Error::DeployFile {
                path: self.path.clone(),
                problem: format!(
                    "not a directory (a deploy directory holds {} and/or {})",
                    Self::VALIDATOR_FILE,
                    Self::RULES_FILE
                ),
            });
        }
        let part = |name: &str| Some(self.path.join(name)).filter(|p| p.exists());
        Ok(Parts {
            component: part(Self::VALIDATOR_FILE),
            rules: part(Self::RULES_FILE),
        })
    }

    /// What the two files look like now: size, modification time and inode
    /// of each, or absent. Two equal snapshots mean nothing was written,
    /// replaced or removed in between.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot([Self::VALIDATOR_FILE, Self::RULES_FILE].map(|name| {
            std::fs::metadata(self.path.join(name)).ok().map(|m| {
                #[cfg(unix)]
                let inode = std::os::unix::fs::MetadataExt::ino(&m);
                #[cfg(not(unix))]
                let inode = 0;
                (m.len(), m.modified().ok(), inode)
            })
        }))
    }
}

/// A look at a deploy directory's files ([`DeployDir::snapshot`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot([Option<(u64, Option<SystemTime>, u64)>; 2]);

/// The files of a rule version; a missing part is the built-in one.
/// `Version::from_parts` reads and prepares them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parts {
    /// The component (`None`: the validator embedded in this crate).
    pub component: Option<PathBuf>,
    /// The rules (`None`: the validator's default rules).
    pub rules: Option<PathBuf>,
}
