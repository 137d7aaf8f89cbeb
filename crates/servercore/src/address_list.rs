//! [`AddressList`]: a list of IP networks given as `"CIDR,CIDR,..."`, as the
//! `--trusted-proxies` and `--trusted-sources` flags take them.
//!
//! The networks themselves are [`ipnet::IpNet`]s; this file adds only what a flag needs: the
//! comma-separated syntax with clear errors, bare addresses as single hosts, and membership
//! that sees an IPv4 client behind an IPv4-mapped IPv6 address (`::ffff:10.1.2.3`, how a
//! dual-stack socket reports it) as the IPv4 address it is.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net};

/// A list of IP networks. Empty (`""`) matches nothing.
///
/// # Examples
///
/// ```
/// use servercore::AddressList;
///
/// let trusted: AddressList = "10.0.0.0/8, 192.0.2.7, 2001:db8::/32".parse().unwrap();
/// assert!(trusted.contains("10.20.30.40".parse().unwrap()));
/// assert!(trusted.contains("::ffff:10.20.30.40".parse().unwrap())); // IPv4-mapped
/// assert!(trusted.contains("192.0.2.7".parse().unwrap()));
/// assert!(!trusted.contains("192.0.2.8".parse().unwrap()));
/// assert_eq!(trusted.to_string(), "10.0.0.0/8,192.0.2.7/32,2001:db8::/32");
///
/// assert!(AddressList::loopback().contains("127.0.0.2".parse().unwrap()));
/// assert!("".parse::<AddressList>().unwrap().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressList {
    nets: Vec<IpNet>,
}

/// Why a list did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressListError {
    /// An entry is empty, as in `"10.0.0.0/8,,::1"` or a trailing comma.
    EmptyEntry {
        /// Its position, from 1.
        position: usize,
    },
    /// An entry is neither an IP address nor `address/prefix-length`.
    Invalid {
        /// The entry as given.
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An entry's prefix length is longer than its address.
    PrefixTooLong {
        /// The entry as given.
        entry: String,
        /// The longest allowed: 32 for IPv4, 128 for IPv6.
        max: u8,
    },
}

impl fmt::Display for AddressListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddressListError::EmptyEntry { position } => write!(
                f,
                "entry {position} of the address list is empty (write CIDR,CIDR,... or '' for none)"
            ),
            AddressListError::Invalid { entry, reason } => write!(
                f,
                "{entry:?}: {reason} (expected an address or a CIDR such as 10.0.0.0/8 or 2001:db8::/32)"
            ),
            AddressListError::PrefixTooLong { entry, max } => {
                write!(f, "{entry:?}: prefix length longer than {max}")
            }
        }
    }
}

impl std::error::Error for AddressListError {}

impl AddressList {
    /// The empty list: contains no address.
    pub fn empty() -> Self {
        AddressList { nets: Vec::new() }
    }

    /// Loopback, `127.0.0.0/8` and `::1`: the default trusted sources (as fail2ban's `ignoreip`).
    pub fn loopback() -> Self {
        let v4 = Ipv4Net::new(Ipv4Addr::LOCALHOST, 8).expect("8 <= 32");
        AddressList {
            nets: vec![v4.trunc().into(), host(IpAddr::V6(Ipv6Addr::LOCALHOST))],
        }
    }

    /// Parses `"CIDR,CIDR,..."`; `""` (or only blanks) is the empty list. Each entry is
    /// `address/prefix-length` or a bare address (one host); blanks around entries are
    /// ignored; host bits below the prefix are dropped (`10.1.2.3/8` is `10.0.0.0/8`); an
    /// IPv4-mapped IPv6 network (`::ffff:10.0.0.0/104`) is the IPv4 network it maps.
    ///
    /// # Errors
    /// [`AddressListError`] naming the first bad entry.
    pub fn parse(list: &str) -> Result<Self, AddressListError> {
        if list.trim().is_empty() {
            return Ok(AddressList::empty());
        }
        let nets = list
            .split(',')
            .enumerate()
            .map(|(i, entry)| parse_entry(i + 1, entry.trim()))
            .collect::<Result<_, _>>()?;
        Ok(AddressList { nets })
    }

    /// Whether `ip` is in one of the networks. An IPv4-mapped IPv6 address is looked up as
    /// the IPv4 address it carries.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// Whether the list has no network (and so contains nothing).
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }
}

impl FromStr for AddressList {
    type Err = AddressListError;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        AddressList::parse(list)
    }
}

/// `CIDR,CIDR,...` in the form [`AddressList::parse`] reads back; `""` when empty.
impl fmt::Display for AddressList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, net) in self.nets.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{net}")?;
        }
        Ok(())
    }
}

/// One entry, already trimmed; `position` counts from 1.
fn parse_entry(position: usize, entry: &str) -> Result<IpNet, AddressListError> {
    if entry.is_empty() {
        return Err(AddressListError::EmptyEntry { position });
    }
    let invalid = |reason| AddressListError::Invalid {
        entry: entry.to_owned(),
        reason,
    };
    let (addr, prefix) = match entry.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (entry, None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| invalid("not an IP address"))?;
    let Some(prefix) = prefix else {
        return Ok(unmapped(host(ip)));
    };
    let len: u8 = prefix
        .parse()
        .map_err(|_| invalid("prefix length is not a number"))?;
    let net = IpNet::new(ip, len).map_err(|_| AddressListError::PrefixTooLong {
        entry: entry.to_owned(),
        max: host(ip).prefix_len(),
    })?;
    Ok(unmapped(net.trunc()))
}

/// The network of the single address `ip`.
fn host(ip: IpAddr) -> IpNet {
    IpNet::from(ip)
}

/// An IPv4-mapped IPv6 network (`::ffff:0:0/96` or narrower) as the IPv4 network it maps; any
/// other network unchanged. [`AddressList::contains`] looks mapped addresses up as IPv4.
fn unmapped(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.network().to_ipv4_mapped() {
            Some(v4) => Ipv4Net::new(v4, v6.prefix_len() - 96)
                .expect("96..=128 minus 96 is a valid IPv4 prefix")
                .into(),
            None => net,
        },
        _ => net,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn list(s: &str) -> AddressList {
        s.parse().unwrap()
    }

    #[test]
    fn empty_string_is_the_empty_list() {
        for s in ["", "  "] {
            let l = list(s);
            assert!(l.is_empty());
            assert!(!l.contains(ip("127.0.0.1")));
            assert_eq!(l.to_string(), "");
        }
        assert_eq!(list(""), AddressList::empty());
    }

    #[test]
    fn loopback_is_127_slash_8_and_ipv6_loopback() {
        let l = AddressList::loopback();
        assert_eq!(l.to_string(), "127.0.0.0/8,::1/128");
        for yes in [
            "127.0.0.1",
            "127.0.0.2",
            "127.255.255.254",
            "::1",
            "::ffff:127.0.0.3",
        ] {
            assert!(l.contains(ip(yes)), "{yes}");
        }
        for no in [
            "128.0.0.1",
            "126.255.255.255",
            "::2",
            "10.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!l.contains(ip(no)), "{no}");
        }
        assert_eq!(list("127.0.0.0/8,::1"), l);
    }

    #[test]
    fn networks_bare_hosts_and_blanks() {
        let l = list(" 10.0.0.0/8 ,192.0.2.7,2001:db8::/32, fe80::1 ");
        assert_eq!(
            l.to_string(),
            "10.0.0.0/8,192.0.2.7/32,2001:db8::/32,fe80::1/128"
        );
        assert!(l.contains(ip("10.255.0.1")));
        assert!(!l.contains(ip("11.0.0.1")));
        assert!(l.contains(ip("192.0.2.7")));
        assert!(!l.contains(ip("192.0.2.6")));
        assert!(l.contains(ip("2001:db8:ffff::1")));
        assert!(!l.contains(ip("2001:db9::1")));
        assert!(l.contains(ip("fe80::1")));
        assert!(!l.contains(ip("fe80::2")));
    }

    #[test]
    fn host_bits_are_dropped_and_zero_prefix_matches_the_family() {
        assert_eq!(list("10.1.2.3/8").to_string(), "10.0.0.0/8");
        let all4 = list("0.0.0.0/0");
        assert!(all4.contains(ip("203.0.113.1")));
        assert!(all4.contains(ip("::ffff:203.0.113.1")));
        assert!(!all4.contains(ip("2001:db8::1")));
    }

    #[test]
    fn ipv4_mapped_addresses_and_networks_are_ipv4() {
        let l = list("10.0.0.0/8");
        assert!(l.contains(ip("::ffff:10.9.8.7")));
        assert!(!l.contains(ip("::ffff:11.9.8.7")));
        let mapped = list("::ffff:10.0.0.0/104,::ffff:192.0.2.1");
        assert_eq!(mapped.to_string(), "10.0.0.0/8,192.0.2.1/32");
        assert!(mapped.contains(ip("10.1.1.1")));
        assert!(mapped.contains(ip("::ffff:192.0.2.1")));
        // A mapped network wider than the mapped range stays IPv6.
        assert_eq!(list("::ffff:0:0/80").to_string(), "::/80");
    }

    #[test]
    fn errors_name_the_bad_entry() {
        let err = |s: &str| s.parse::<AddressList>().unwrap_err();
        assert_eq!(
            err("10.0.0.0/8,,::1"),
            AddressListError::EmptyEntry { position: 2 }
        );
        assert_eq!(
            err("10.0.0.0/8,"),
            AddressListError::EmptyEntry { position: 2 }
        );
        assert_eq!(err(",::1"), AddressListError::EmptyEntry { position: 1 });
        assert_eq!(
            err("10.0.0.0/33"),
            AddressListError::PrefixTooLong {
                entry: "10.0.0.0/33".into(),
                max: 32
            }
        );
        assert_eq!(
            err("::/129"),
            AddressListError::PrefixTooLong {
                entry: "::/129".into(),
                max: 128
            }
        );
        let text = err("::1,localhost").to_string();
        assert!(
            text.starts_with("\"localhost\": not an IP address"),
            "{text}"
        );
        assert!(text.contains("10.0.0.0/8"), "{text}");
        let text = err("10.0.0.0/eight").to_string();
        assert!(text.contains("prefix length is not a number"), "{text}");
        assert!(err("10.0.0.0/-1").to_string().contains("not a number"));
        assert!(err("10.0.0/8").to_string().contains("not an IP address"));
        assert!(
            err("a,b").to_string().contains("\"a\""),
            "the first bad entry"
        );
        assert!(err("10.0.0.0/8,").to_string().contains("entry 2"));
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "",
            "10.0.0.0/8",
            "127.0.0.0/8,::1/128",
            "2001:db8::/48,192.0.2.0/24",
        ] {
            assert_eq!(list(s).to_string(), s);
            assert_eq!(list(&list(s).to_string()), list(s));
        }
    }
}
