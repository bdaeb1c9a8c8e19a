//! The deploy directory: where operators put a rule version for a running
//! service to pick up. Its layout (the two file names), reading a version's
//! files, and telling when they changed.

use std::io::Read;
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
    /// The largest validator component deployed (ours is about 0.4 MiB).
    pub const MAX_VALIDATOR_BYTES: u64 = 64 << 20;
    /// The largest rules document deployed (ours is about 2 KiB; a huge one
    /// that parses would make every batch slow).
    pub const MAX_RULES_BYTES: u64 = 1 << 20;

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
        // Present means any directory entry, a link to nothing included: that
        // is refused when read, never taken for "no file, use the default".
        let part = |name: &str| {
            Some(self.path.join(name)).filter(|p| std::fs::symlink_metadata(p).is_ok())
        };
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
/// `Version::from_parts` reads (with [`read_part`]) and prepares them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parts {
    /// The component (`None`: the validator embedded in this crate).
    pub component: Option<PathBuf>,
    /// The rules (`None`: the validator's default rules).
    pub rules: Option<PathBuf>,
}

/// Reads one file of a rule version, refusing what is not a regular file of
/// at most `limit` bytes. A symbolic link to a regular file is followed (on
/// purpose: operators deploy by switching links), but a link to nothing, a
/// FIFO, a device or a directory is refused, and nothing is read without a
/// bound. The file is opened without blocking, so a FIFO swapped in between
/// the check and the open cannot wedge the caller.
///
/// # Errors
///
/// [`Error::DeployFile`] naming the file and what is wrong with it;
/// [`Error::Io`] when it cannot be read.
pub fn read_part(path: &Path, limit: u64) -> Result<Vec<u8>> {
    let refuse = |problem: String| Error::DeployFile {
        path: path.to_path_buf(),
        problem,
    };
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let metadata = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(refuse(
                "is a link to nothing – point it at a regular file, or remove it to use the built-in one"
                    .to_string(),
            ));
        }
        Err(e) => return Err(io(e)),
    };
    let check = |m: &std::fs::Metadata| {
        if !m.is_file() {
            return Err(refuse(
                "is not a regular file (a FIFO, device or directory) – only regular files are deployed"
                    .to_string(),
            ));
        }
        if m.len() > limit {
            return Err(refuse(format!(
                "is {} bytes, more than the {limit} this part may have – check it is the right file",
                m.len()
            )));
        }
        Ok(())
    };
    check(&metadata)?;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(io)?;
    // What was opened, not what was looked at: it may have been swapped.
    check(&file.metadata().map_err(io)?)?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(refuse(format!(
            "grew past the {limit} bytes this part may have while it was read – write it beside its final name, then rename it into place"
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rules.toml");
        std::fs::write(&file, "name = \"x\"").unwrap();
        assert_eq!(read_part(&file, 100).unwrap(), b"name = \"x\"");
        let err = read_part(&file, 5).unwrap_err().to_string();
        assert!(err.contains("more than the 5"), "{err}");
        // A link to a regular file is followed; a link to nothing is refused.
        let link = dir.path().join("link.toml");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(read_part(&link, 100).is_ok());
        let dangling = dir.path().join("dangling.toml");
        std::os::unix::fs::symlink(dir.path().join("gone"), &dangling).unwrap();
        assert!(
            read_part(&dangling, 100)
                .unwrap_err()
                .to_string()
                .contains("link to nothing")
        );
        // A device and a directory are not regular files.
        let err = read_part(Path::new("/dev/zero"), 100)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a regular file"), "{err}");
        assert!(read_part(dir.path(), 100).is_err());
        // A dangling link still counts as present: no quiet default.
        let deploy = DeployDir::new(dir.path());
        std::fs::rename(&dangling, dir.path().join(DeployDir::RULES_FILE)).unwrap();
        assert!(deploy.parts().unwrap().rules.is_some());
    }
}
