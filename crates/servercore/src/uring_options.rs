//! [`UringOptions`]: the io_uring driver's optional speed-ups ("levers"), each switchable so
//! one benchmark run can measure it on and off.
//!
//! Plain data on every platform: only the io_uring driver (Linux) reads it; the readiness
//! model and other OSes ignore it. Every lever is tried only if the kernel offers it; a
//! kernel that refuses one is logged once at debug and the driver runs as without it.
//!
//! | lever            | what it saves                                              | kernel |
//! |------------------|------------------------------------------------------------|--------|
//! | `registered-ring`| the ring fd's lookup (`fdget`) on every `io_uring_enter`    | 5.18   |
//! | `no-sqarray`     | the SQ index array: SQEs are taken straight by ring index  | 6.6    |
//! | `fixed-files`    | the socket's `fget`/`fput` on every recv, send and cancel  | 5.19   |
//! | `recv-bundle`    | CQEs: one recv completion may fill several receive buffers | 6.10   |

use std::fmt;
use std::str::FromStr;

/// One io_uring lever, by its command-line name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UringLever {
    /// `registered-ring`: register the ring's own fd (`IORING_REGISTER_RING_FDS`), so every
    /// `io_uring_enter` passes its index with `IORING_ENTER_REGISTERED_RING`.
    RegisteredRing,
    /// `no-sqarray`: build the ring with `IORING_SETUP_NO_SQARRAY`.
    NoSqarray,
    /// `fixed-files`: each session's socket is also installed in the ring's sparse fixed-file
    /// table, and its recv, send and cancel SQEs name that slot (a direct descriptor).
    FixedFiles,
    /// `recv-bundle`: multishot recvs as bundles (`IORING_RECVSEND_BUNDLE`): one CQE may
    /// fill several consecutive provided buffers.
    RecvBundle,
}

impl UringLever {
    /// Every lever, in the order they were added.
    pub const ALL: [UringLever; 4] = [
        UringLever::RegisteredRing,
        UringLever::NoSqarray,
        UringLever::FixedFiles,
        UringLever::RecvBundle,
    ];

    /// The lever's command-line name.
    pub fn name(self) -> &'static str {
        match self {
            UringLever::RegisteredRing => "registered-ring",
            UringLever::NoSqarray => "no-sqarray",
            UringLever::FixedFiles => "fixed-files",
            UringLever::RecvBundle => "recv-bundle",
        }
    }
}

impl FromStr for UringLever {
    type Err = String;

    fn from_str(s: &str) -> Result<UringLever, String> {
        UringLever::ALL
            .into_iter()
            .find(|lever| lever.name() == s.trim())
            .ok_or_else(|| {
                let names: Vec<&str> = UringLever::ALL.iter().map(|l| l.name()).collect();
                format!(
                    "unknown io_uring lever {s:?} (expected {})",
                    names.join(", ")
                )
            })
    }
}

impl fmt::Display for UringLever {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which io_uring levers the driver tries. `Default`: all on.
///
/// # Examples
/// ```
/// use servercore::{UringLever, UringOptions};
///
/// let options: UringOptions = "fixed-files,no-sqarray".parse::<UringOptions>().unwrap();
/// assert!(options.is_on(UringLever::RegisteredRing));
/// assert!(!options.is_on(UringLever::FixedFiles));
/// assert_eq!(options, UringOptions::default().without(&[UringLever::FixedFiles, UringLever::NoSqarray]));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UringOptions {
    /// See [`UringLever::RegisteredRing`].
    pub registered_ring: bool,
    /// See [`UringLever::NoSqarray`].
    pub no_sqarray: bool,
    /// See [`UringLever::FixedFiles`].
    pub fixed_files: bool,
    /// See [`UringLever::RecvBundle`].
    pub recv_bundle: bool,
}

impl Default for UringOptions {
    fn default() -> UringOptions {
        UringOptions::ALL_ON
    }
}

impl UringOptions {
    /// Every lever on.
    pub const ALL_ON: UringOptions = UringOptions {
        registered_ring: true,
        no_sqarray: true,
        fixed_files: true,
        recv_bundle: true,
    };

    /// Every lever off: the driver as it was before the levers.
    pub const ALL_OFF: UringOptions = UringOptions {
        registered_ring: false,
        no_sqarray: false,
        fixed_files: false,
        recv_bundle: false,
    };

    /// Whether `lever` is on.
    pub fn is_on(&self, lever: UringLever) -> bool {
        match lever {
            UringLever::RegisteredRing => self.registered_ring,
            UringLever::NoSqarray => self.no_sqarray,
            UringLever::FixedFiles => self.fixed_files,
            UringLever::RecvBundle => self.recv_bundle,
        }
    }

    /// `self` with `lever` switched `on` or off.
    pub fn with(mut self, lever: UringLever, on: bool) -> UringOptions {
        *match lever {
            UringLever::RegisteredRing => &mut self.registered_ring,
            UringLever::NoSqarray => &mut self.no_sqarray,
            UringLever::FixedFiles => &mut self.fixed_files,
            UringLever::RecvBundle => &mut self.recv_bundle,
        } = on;
        self
    }

    /// `self` with every lever of `off` switched off.
    pub fn without(self, off: &[UringLever]) -> UringOptions {
        off.iter()
            .fold(self, |options, &lever| options.with(lever, false))
    }

    /// The levers that are on, by name, comma-separated (`-` for none): for logs.
    pub fn names(&self) -> String {
        let on: Vec<&str> = UringLever::ALL
            .into_iter()
            .filter(|&lever| self.is_on(lever))
            .map(UringLever::name)
            .collect();
        if on.is_empty() {
            "-".to_owned()
        } else {
            on.join(",")
        }
    }
}

/// Parses a comma-separated list of levers to switch *off* (`--uring-off`): the defaults
/// without them. An empty string switches none off.
impl FromStr for UringOptions {
    type Err = String;

    fn from_str(s: &str) -> Result<UringOptions, String> {
        let off = s
            .split(',')
            .filter(|name| !name.trim().is_empty())
            .map(str::parse)
            .collect::<Result<Vec<UringLever>, String>>()?;
        Ok(UringOptions::default().without(&off))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lever_names_round_trip() {
        for lever in UringLever::ALL {
            assert_eq!(lever.to_string().parse::<UringLever>(), Ok(lever));
        }
        let err = "sqpoll".parse::<UringLever>().unwrap_err();
        assert!(
            err.contains("sqpoll") && err.contains("fixed-files"),
            "{err}"
        );
    }

    #[test]
    fn a_list_switches_off_what_it_names() {
        assert_eq!("".parse::<UringOptions>(), Ok(UringOptions::ALL_ON));
        let all: Vec<&str> = UringLever::ALL.iter().map(|l| l.name()).collect();
        assert_eq!(
            all.join(",").parse::<UringOptions>(),
            Ok(UringOptions::ALL_OFF)
        );
        let options: UringOptions = "registered-ring".parse().unwrap();
        for lever in UringLever::ALL {
            assert_eq!(
                options.is_on(lever),
                lever != UringLever::RegisteredRing,
                "{lever}"
            );
        }
        assert_eq!(options.names(), "no-sqarray,fixed-files,recv-bundle");
        assert_eq!(UringOptions::ALL_OFF.names(), "-");
        assert!("fixed-files,nope".parse::<UringOptions>().is_err());
    }
}
