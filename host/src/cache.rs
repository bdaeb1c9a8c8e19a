//! Precompiled components on disk, keyed by the component's sha256, so a
//! re-deploy or a restart does not compile again (about 300 ms saved per
//! component; loading a blob takes about 1 ms). It turns bytes into a
//! compiled component and nothing more: `Validator::load_cached` makes a
//! validator of it.
//!
//! wasmtime runs a precompiled blob as native code without checking it, so
//! only blobs this host wrote may be loaded. Each blob is stored with an
//! HMAC-SHA256 tag under a key the cache created (`key`, mode 0600, in a
//! directory of mode 0700); a blob whose tag does not verify is ignored and
//! the component compiled again. Anyone who can read the key can already
//! write this host's files, so the key adds no new trust.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use wasmtime::component::Component;

use crate::digest::sha256_hex;
use crate::error::{Error, Result};
use crate::runtime::Runtime;

/// A directory of precompiled components.
pub struct ComponentCache {
    dir: PathBuf,
    key: [u8; 32],
}

impl std::fmt::Debug for ComponentCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("ComponentCache")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// Whether a load came from the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded a blob this host wrote.
    Hit,
    /// Compiled (and stored the blob for next time).
    Miss,
}

impl ComponentCache {
    /// Opens (or creates) the cache at `dir`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the directory or its key cannot be created, read or
    /// made private; [`Error::Runtime`] when the system has no randomness for
    /// a new key.
    pub fn open(dir: impl AsRef<Path>) -> Result<ComponentCache> {
        let dir = dir.as_ref();
        let io = |source| Error::Io {
            path: dir.to_path_buf(),
            source,
        };
        fs::create_dir_all(dir).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io)?;
        }
        let key_path = dir.join("key");
        let key = match fs::read(&key_path) {
            Ok(bytes) if bytes.len() == 32 => {
                let mut key = [0u8; 32];
                key.copy_from_slice(&bytes);
                key
            }
            _ => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).map_err(|e| Error::Runtime {
                    doing: "drawing the cache key",
                    source: e.to_string().into(),
                })?;
                write_private(&key_path, &key).map_err(|source| Error::Io {
                    path: key_path.clone(),
                    source,
                })?;
                key
            }
        };
        Ok(ComponentCache {
            dir: dir.to_path_buf(),
            key,
        })
    }

    /// The compiled component of `bytes`: from its blob when this host wrote
    /// one for this engine, else compiled (and the blob written for next
    /// time). `origin` (a path) names the component in errors.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidComponent`] when `bytes` are not a component wasmtime
    /// can compile. A blob that cannot be read or written is not an error:
    /// the component is compiled instead, and the failure logged.
    pub fn compile(
        &self,
        runtime: &Runtime,
        bytes: &[u8],
        origin: &str,
    ) -> Result<(Component, CacheOutcome)> {
        let hash = sha256_hex(bytes);
        let blob_path = self.dir.join(format!("{hash}.cwasm"));
        let tag_path = self.dir.join(format!("{hash}.tag"));
        if let (Ok(blob), Ok(tag)) = (fs::read(&blob_path), fs::read(&tag_path)) {
            if self.mac(&hash, &blob).verify_slice(&tag).is_ok() {
                // SAFETY: the blob carries our tag, so this host wrote it
                // from `Component::serialize`; wasmtime itself refuses a
                // blob from another wasmtime version or configuration.
                match unsafe { Component::deserialize(runtime.engine(), &blob) } {
                    Ok(component) => {
                        tracing::debug!(%hash, "component loaded from the cache");
                        return Ok((component, CacheOutcome::Hit));
                    }
                    Err(e) => tracing::info!(%hash, error = %e, "cached blob unusable; compiling"),
                }
            } else {
                tracing::warn!(%hash, "cached blob not written by this host; ignored");
            }
        }
        let component =
            Component::new(runtime.engine(), bytes).map_err(|e| Error::InvalidComponent {
                origin: origin.to_string(),
                source: e.into(),
            })?;
        // A failure to write is not a failure to compile.
        match component.serialize() {
            Ok(blob) => {
                let tag = self.mac(&hash, &blob).finalize().into_bytes();
                let written =
                    write_private(&blob_path, &blob).and_then(|()| write_private(&tag_path, &tag));
                if let Err(e) = written {
                    tracing::warn!(%hash, error = %e, "could not write the cache");
                }
            }
            Err(e) => tracing::warn!(%hash, error = %e, "could not serialize the component"),
        }
        Ok((component, CacheOutcome::Miss))
    }

    fn mac(&self, hash: &str, blob: &[u8]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("any key length");
        mac.update(hash.as_bytes());
        mac.update(blob);
        mac
    }
}

/// Writes `bytes` to `path` readable by this user only, through a
/// temporary file and a rename, so a reader never sees half a file.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, path)
}
