//! [`read_secret`]: a shared secret from a file named by a flag, or from an environment
//! variable — how the connect tokens' secret ([`crate::token`]) reaches the servers, the
//! token minter and the load generator (and gameserver's cluster secret its instances)
//! without showing up in `ps`.

use std::ffi::OsString;
use std::path::Path;

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
