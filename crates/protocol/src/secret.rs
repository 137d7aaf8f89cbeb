//! [`read_secret`]: a shared secret from a file named by a flag, or from an environment
//! variable — how the connect tokens' secret ([`crate::token`]) reaches the servers, the
//! token minter and the load generator (and gameserver's cluster secret its instances)
//! without showing up in `ps`.

use std::ffi::OsString;
use std::fmt;
use std::path::Path;

/// A secret shorter than its use needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShortSecret {
    /// What the secret is for ("the auth secret", "the cluster secret").
    pub what: &'static str,
    /// Its length.
    pub len: usize,
    /// The fewest bytes accepted.
    pub min: usize,
}

impl fmt::Display for ShortSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} has {} bytes; it needs at least {} (e.g. `head -c 32 /dev/urandom | base64`)",
            self.what, self.len, self.min
        )
    }
}

impl std::error::Error for ShortSecret {}

/// `Ok` if `secret` has at least `min` bytes.
///
/// # Errors
/// [`ShortSecret`] naming `what`.
pub fn check_len(what: &'static str, secret: &[u8], min: usize) -> Result<(), ShortSecret> {
    match secret.len() {
        len if len < min => Err(ShortSecret { what, len, min }),
        _ => Ok(()),
    }
}

/// The secret in `file` (read now) or else in the environment variable `env` (ignored when
/// empty), without trailing whitespace (a file written by `echo` ends with a newline);
/// `None` if neither is given.
///
/// # Errors
/// An unreadable file, named with `flag`.
pub fn read_secret(flag: &str, file: Option<&Path>, env: &str) -> Result<Option<Vec<u8>>, String> {
    let secret = match file {
        Some(path) => {
            std::fs::read(path).map_err(|err| format!("{flag} {}: {err}", path.display()))?
        }
        None => match std::env::var_os(env).filter(|v| !v.is_empty()) {
            Some(value) => OsString::into_encoded_bytes(value),
            None => return Ok(None),
        },
    };
    Ok(Some(secret.trim_ascii_end().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_read_and_trimmed_and_a_missing_one_named() {
        let dir = std::env::temp_dir().join(format!("secret-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("s");
        std::fs::write(&file, b"abc\n").unwrap();
        let unset = "GAMESERVER_SECRET_TEST_UNSET";
        assert_eq!(
            read_secret("--x", Some(&file), unset),
            Ok(Some(b"abc".to_vec()))
        );
        assert_eq!(read_secret("--x", None, unset), Ok(None));
        let err = read_secret("--x", Some(&dir.join("none")), unset).unwrap_err();
        assert!(err.starts_with("--x ") && err.contains("none"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
