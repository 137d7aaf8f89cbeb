//! `read_proxy_header`: v1 and v2 (TCP4, TCP6, LOCAL/UNKNOWN), headers split at every byte,
//! garbage, oversized and truncated headers, TLVs, and payload right behind the header.
//!
//! Headers are encoded here by hand from the spec (not by the parsing crate), so the test and
//! the parser do not share a mistake.

use std::net::{IpAddr, SocketAddr};

use proptest::prelude::*;
use servercore::proxy::{
    read_proxy_header, ProxiedSource, ProxyHeaderError, ProxyHeaderRead, ProxyVersion,
    MAX_HEADER_LEN, V1_MAX_LEN, V2_MAX_LEN, V2_MAX_PAYLOAD, V2_SIGNATURE,
};

const DEST4: &str = "192.0.2.1:7777";
const DEST6: &str = "[2001:db8::1]:7777";

/// A v1 header for a TCP connection from `src` (to a fixed destination of the same family).
fn v1(src: SocketAddr) -> Vec<u8> {
    let (proto, dst): (_, SocketAddr) = match src {
        SocketAddr::V4(_) => ("TCP4", DEST4.parse().unwrap()),
        SocketAddr::V6(_) => ("TCP6", DEST6.parse().unwrap()),
    };
    let (s, d) = (src.ip(), dst.ip());
    let (sp, dp) = (src.port(), dst.port());
    format!("PROXY {proto} {s} {d} {sp} {dp}\r\n").into_bytes()
}

/// A v2 header: `command` 0 (LOCAL) or 1 (PROXY), `family_proto` as on the wire, then
/// `body` (addresses and TLVs).
fn v2_raw(command: u8, family_proto: u8, body: &[u8]) -> Vec<u8> {
    let mut out = V2_SIGNATURE.to_vec();
    out.push(0x20 | command);
    out.push(family_proto);
    out.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// The v2 address block of a TCP connection from `src`, and its family/protocol byte.
fn v2_addresses(src: SocketAddr) -> (u8, Vec<u8>) {
    let mut body = Vec::new();
    let family = match src.ip() {
        IpAddr::V4(ip) => {
            body.extend_from_slice(&ip.octets());
            body.extend_from_slice(&[192, 0, 2, 1]);
            0x11
        }
        IpAddr::V6(ip) => {
            body.extend_from_slice(&ip.octets());
            body.extend_from_slice(
                &"2001:db8::1"
                    .parse::<std::net::Ipv6Addr>()
                    .unwrap()
                    .octets(),
            );
            0x21
        }
    };
    body.extend_from_slice(&src.port().to_be_bytes());
    body.extend_from_slice(&7777u16.to_be_bytes());
    (family, body)
}

/// A v2 PROXY header for a TCP connection from `src`, followed by `tlvs` (already encoded).
fn v2(src: SocketAddr, tlvs: &[u8]) -> Vec<u8> {
    let (family, mut body) = v2_addresses(src);
    body.extend_from_slice(tlvs);
    v2_raw(1, family, &body)
}

/// One TLV: type, u16 length, value.
fn tlv(kind: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![kind];
    out.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
    out.extend_from_slice(value);
    out
}

/// The v2 LOCAL header HAProxy sends with its health checks: no addresses.
fn v2_local() -> Vec<u8> {
    v2_raw(0, 0x00, &[])
}

fn complete(header: &[u8], source: ProxiedSource) -> Result<ProxyHeaderRead, ProxyHeaderError> {
    Ok(ProxyHeaderRead::Complete {
        consumed: header.len(),
        source,
    })
}

/// Asserts every proper prefix of `header` is `Incomplete` and `header` followed by `payload`
/// is complete with `source`, consuming exactly the header.
fn assert_reads(header: &[u8], payload: &[u8], source: ProxiedSource) {
    for cut in 0..header.len() {
        assert_eq!(
            read_proxy_header(&header[..cut]),
            Ok(ProxyHeaderRead::Incomplete),
            "prefix of {cut} bytes of {header:?}"
        );
    }
    let mut buf = header.to_vec();
    buf.extend_from_slice(payload);
    assert_eq!(read_proxy_header(&buf), complete(header, source));
}

fn malformed(version: ProxyVersion, buf: &[u8]) {
    match read_proxy_header(buf) {
        Err(ProxyHeaderError::Malformed { version: v, .. }) if v == version => {}
        other => panic!("{buf:?}: expected a malformed {version} header, got {other:?}"),
    }
}

#[test]
fn v1_tcp4_tcp6_and_unknown() {
    let c4: SocketAddr = "203.0.113.7:51234".parse().unwrap();
    let c6: SocketAddr = "[2001:db8:5::9]:443".parse().unwrap();
    assert_reads(&v1(c4), b"hello", ProxiedSource::Client(c4));
    assert_reads(&v1(c6), b"hello", ProxiedSource::Client(c6));
    assert_reads(b"PROXY UNKNOWN\r\n", b"x", ProxiedSource::Unknown);
    let unknown_with_addresses = b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n";
    assert_reads(unknown_with_addresses, b"", ProxiedSource::Unknown);
}

#[test]
fn v1_longest_header_fits_the_limit() {
    let max = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    let line = format!("PROXY TCP6 {max} {max} 65535 65535\r\n");
    assert_eq!(line.len(), 104);
    let client = SocketAddr::new(max.parse().unwrap(), 65535);
    assert_reads(line.as_bytes(), b"", ProxiedSource::Client(client));
}

#[test]
fn v2_tcp4_tcp6_and_local() {
    let c4: SocketAddr = "198.51.100.20:40000".parse().unwrap();
    let c6: SocketAddr = "[2001:db8:7::3]:1".parse().unwrap();
    assert_reads(&v2(c4, &[]), b"\x00\x05hello", ProxiedSource::Client(c4));
    assert_reads(&v2(c6, &[]), b"\r\n", ProxiedSource::Client(c6));
    assert_reads(&v2_local(), b"", ProxiedSource::Local);
    // LOCAL with addresses (some balancers fill them in): still no client.
    let (family, body) = v2_addresses(c4);
    assert_reads(&v2_raw(0, family, &body), b"", ProxiedSource::Local);
    // PROXY with an unspecified family: the balancer cannot name the client.
    assert_reads(&v2_raw(1, 0x00, &[]), b"", ProxiedSource::Unknown);
}

#[test]
fn v2_with_tlvs() {
    let client: SocketAddr = "198.51.100.20:40000".parse().unwrap();
    let mut tlvs = tlv(0x05, b"unique-id-0123"); // PP2_TYPE_UNIQUE_ID
    tlvs.extend(tlv(0x04, &[0; 3])); // PP2_TYPE_NOOP
    tlvs.extend(tlv(0xEA, b"\x01vpce-0123456789abcdef")); // AWS VPC endpoint id
    assert_reads(
        &v2(client, &tlvs),
        b"payload",
        ProxiedSource::Client(client),
    );
}

#[test]
fn v2_tlv_overrunning_the_header_is_malformed() {
    let client: SocketAddr = "198.51.100.20:40000".parse().unwrap();
    let mut bad = tlv(0x05, b"abcdef");
    bad.truncate(bad.len() - 2); // the TLV claims 6 bytes, 4 follow
    malformed(ProxyVersion::V2, &v2(client, &bad));
    malformed(ProxyVersion::V2, &v2(client, &[0x05, 0x00])); // leftovers: half a TLV header
}

#[test]
fn header_followed_at_once_by_payload_consumes_only_the_header() {
    let client: SocketAddr = "203.0.113.7:51234".parse().unwrap();
    let payload = testkit::pattern(7, 300);
    for header in [v1(client), v2(client, &tlv(0x04, &[1, 2])), v2_local()] {
        let mut buf = header.clone();
        buf.extend_from_slice(&payload);
        let Ok(ProxyHeaderRead::Complete { consumed, .. }) = read_proxy_header(&buf) else {
            panic!("not complete: {buf:?}");
        };
        assert_eq!(consumed, header.len());
        assert_eq!(
            &buf[consumed..],
            &payload[..],
            "payload intact and in order"
        );
    }
}

#[test]
fn payload_that_looks_like_another_header_is_left_alone() {
    let client: SocketAddr = "203.0.113.7:51234".parse().unwrap();
    let mut buf = v1(client);
    let first = buf.len();
    buf.extend(v1("10.0.0.1:1".parse().unwrap()));
    assert_eq!(
        read_proxy_header(&buf),
        complete(&buf[..first], ProxiedSource::Client(client))
    );
}

#[test]
fn garbage_is_refused_at_its_first_byte() {
    for buf in [
        &b"G"[..],
        b"GET / HTTP/1.1\r\n\r\n",
        b"\x00\x05hello",
        b"proxy ",
        b"\r\n\r\n\x01",
    ] {
        assert_eq!(
            read_proxy_header(buf),
            Err(ProxyHeaderError::NotProxy),
            "{buf:?}"
        );
    }
    // Right up to the last byte of the v1 prefix, then wrong.
    assert_eq!(read_proxy_header(b"PROXY"), Ok(ProxyHeaderRead::Incomplete));
    assert_eq!(
        read_proxy_header(b"PROXYX"),
        Err(ProxyHeaderError::NotProxy)
    );
    let mut sig = V2_SIGNATURE.to_vec();
    sig[11] = b'X';
    assert_eq!(read_proxy_header(&sig), Err(ProxyHeaderError::NotProxy));
    assert_eq!(read_proxy_header(b""), Ok(ProxyHeaderRead::Incomplete));
}

#[test]
fn v1_faults_are_refused_as_soon_as_they_arrive() {
    malformed(ProxyVersion::V1, b"PROXY UDP4"); // unknown protocol, before the line ends
    malformed(ProxyVersion::V1, b"PROXY TCP4 1.2.3.4\x00"); // not printable
    malformed(ProxyVersion::V1, b"PROXY TCP4 1.2.3.4\rX"); // \r not followed by \n
    malformed(ProxyVersion::V1, b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"); // no \r
    malformed(ProxyVersion::V1, b"PROXY TCP4 ::1 ::2 1 2\r\n"); // family mismatch
    malformed(ProxyVersion::V1, b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n");
    malformed(ProxyVersion::V1, b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"); // port range
    malformed(ProxyVersion::V1, b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"); // leading zero
    malformed(ProxyVersion::V1, b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"); // a field missing
    malformed(ProxyVersion::V1, b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"); // one too many
    malformed(ProxyVersion::V1, b"PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"); // double space
    malformed(ProxyVersion::V1, b"PROXY \r\n");
}

#[test]
fn v1_without_end_of_line_is_too_large_at_the_limit() {
    let mut line = b"PROXY UNKNOWN ".to_vec();
    line.resize(V1_MAX_LEN - 1, b'a');
    assert_eq!(read_proxy_header(&line), Ok(ProxyHeaderRead::Incomplete));
    line.push(b'a');
    let too_large = Err(ProxyHeaderError::TooLarge {
        version: ProxyVersion::V1,
        len: V1_MAX_LEN,
        max: V1_MAX_LEN,
    });
    assert_eq!(read_proxy_header(&line), too_large);
    // A line ending just past the limit is still too large.
    line.extend_from_slice(b"\r\n");
    assert_eq!(read_proxy_header(&line), too_large);
    let text = read_proxy_header(&line).unwrap_err().to_string();
    assert_eq!(
        text,
        "PROXY v1 header too large (no end of line within 107 bytes)"
    );
}

#[test]
fn v2_over_the_cap_is_refused_when_its_length_arrives() {
    let mut head = V2_SIGNATURE.to_vec();
    head.extend_from_slice(&[0x21, 0x11]);
    let len = u16::try_from(V2_MAX_PAYLOAD + 1).unwrap();
    head.extend_from_slice(&len.to_be_bytes());
    let too_large = Err(ProxyHeaderError::TooLarge {
        version: ProxyVersion::V2,
        len: V2_MAX_LEN + 1,
        max: V2_MAX_LEN,
    });
    assert_eq!(read_proxy_header(&head), too_large);
    // At the cap exactly: accepted (addresses then NOOP padding).
    let client: SocketAddr = "198.51.100.20:40000".parse().unwrap();
    let (family, mut body) = v2_addresses(client);
    let pad = V2_MAX_PAYLOAD - body.len() - 3;
    body.extend(tlv(0x04, &vec![0; pad]));
    let header = v2_raw(1, family, &body);
    assert_eq!(header.len(), V2_MAX_LEN);
    assert_eq!(V2_MAX_LEN, MAX_HEADER_LEN);
    assert_eq!(
        read_proxy_header(&header),
        complete(&header, ProxiedSource::Client(client))
    );
}

#[test]
fn v2_faults_are_refused_as_soon_as_they_arrive() {
    let with = |byte12: u8, byte13: u8| {
        let mut b = V2_SIGNATURE.to_vec();
        b.extend_from_slice(&[byte12, byte13]);
        b
    };
    malformed(ProxyVersion::V2, &with(0x11, 0x11)[..13]); // version 1 in the binary header
    malformed(ProxyVersion::V2, &with(0x22, 0x11)[..13]); // command 2
    malformed(ProxyVersion::V2, &with(0x21, 0x41)); // family 4
    malformed(ProxyVersion::V2, &with(0x21, 0x13)); // protocol 3
                                                    // IPv4 with room for fewer than 12 address bytes, refused with the length field.
    let mut short = with(0x21, 0x11);
    short.extend_from_slice(&[0, 8]);
    malformed(ProxyVersion::V2, &short);
}

#[test]
fn v2_udp_and_unix_are_unsupported() {
    let client: SocketAddr = "198.51.100.20:40000".parse().unwrap();
    let (_, body) = v2_addresses(client);
    let unsupported = |buf: &[u8]| match read_proxy_header(buf) {
        Err(err @ ProxyHeaderError::Unsupported { .. }) => err.to_string(),
        other => panic!("{buf:?}: expected unsupported, got {other:?}"),
    };
    assert!(unsupported(&v2_raw(1, 0x12, &body)).contains("UDP"));
    assert!(unsupported(&v2_raw(1, 0x31, &[0; 216])).contains("unix"));
    assert!(unsupported(&v2_raw(1, 0x10, &body)).contains("unspecified transport"));
    // A LOCAL health check is fine whatever its family.
    let local = v2_raw(0, 0x12, &body);
    assert_eq!(
        read_proxy_header(&local),
        complete(&local, ProxiedSource::Local)
    );
}

#[test]
fn errors_name_what_is_wrong() {
    let text = |buf: &[u8]| read_proxy_header(buf).unwrap_err().to_string();
    assert!(text(b"GET /").contains("not a PROXY protocol header"));
    assert!(text(b"PROXY UDP4").contains("malformed PROXY v1 header"));
    assert!(text(b"PROXY TCP4 1.2.3.4\x7f").contains("byte 0x7f at offset 18"));
    let mut big = V2_SIGNATURE.to_vec();
    big.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
    assert_eq!(
        text(&big),
        format!("PROXY v2 header too large (65551 bytes, max {V2_MAX_LEN})")
    );
}

/// The header for `src` in `version`, with `tlv_len` bytes of NOOP TLV in v2.
fn encode(version: u8, src: SocketAddr, tlv_len: usize) -> Vec<u8> {
    match version {
        1 => v1(src),
        _ if tlv_len == 0 => v2(src, &[]),
        _ => v2(src, &tlv(0x04, &vec![0xAB; tlv_len - 1])),
    }
}

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Fed in arbitrary pieces, the header is Incomplete until its last byte is in, then the
    /// same result as in one piece, whatever payload follows.
    #[test]
    fn any_split_gives_the_same_header(
        version in 1u8..=2,
        src in socket_addr(),
        tlv_len in 0usize..=64,
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        cuts in proptest::collection::vec(1usize..40, 0..20),
    ) {
        let header = encode(version, src, tlv_len);
        let mut wire = header.clone();
        wire.extend_from_slice(&payload);
        let mut received = 0;
        for cut in cuts.iter().copied().chain(std::iter::once(wire.len())) {
            received = (received + cut).min(wire.len());
            let read = read_proxy_header(&wire[..received]);
            if received < header.len() {
                prop_assert_eq!(read, Ok(ProxyHeaderRead::Incomplete));
            } else {
                prop_assert_eq!(read, complete(&header, ProxiedSource::Client(src)));
            }
        }
    }

    /// Any bytes at all: no panic, and a decision (complete or error) never changes as more
    /// bytes arrive; a complete header never claims more than the bytes given or the bound.
    #[test]
    fn decisions_are_final_on_any_input(
        start in prop_oneof![
            Just(b"PROXY ".to_vec()),
            Just(b"PROXY UNKNOWN ".to_vec()),
            Just(V2_SIGNATURE.to_vec()),
            Just(Vec::new()),
        ],
        tail in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..300),
            proptest::collection::vec(0x20u8..0x7f, 0..300), // printable: a long v1 line
        ],
        cut in any::<prop::sample::Index>(),
    ) {
        let mut buf = start;
        buf.extend(tail);
        let k = cut.index(buf.len() + 1);
        let early = read_proxy_header(&buf[..k]);
        let late = read_proxy_header(&buf);
        if let Ok(ProxyHeaderRead::Complete { consumed, .. }) = late {
            prop_assert!(consumed <= buf.len() && consumed <= MAX_HEADER_LEN);
        }
        if early != Ok(ProxyHeaderRead::Incomplete) {
            prop_assert_eq!(early, late);
        }
    }

    /// A valid header with one byte changed is read as some header or refused, never panics,
    /// and never reads past its own length.
    #[test]
    fn corrupted_headers_never_overrun(
        version in 1u8..=2,
        src in socket_addr(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut header = encode(version, src, 8);
        let i = at.index(header.len());
        header[i] = byte;
        if let Ok(ProxyHeaderRead::Complete { consumed, .. }) = read_proxy_header(&header) {
            prop_assert!(consumed <= header.len());
        }
    }
}
