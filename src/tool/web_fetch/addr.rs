//! Address policy for `web_fetch`: which IP addresses are refused, DNS resolution under a
//! deadline, and the ureq resolver pinned to vetted addresses. No HTTP here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::time::Instant;
use ureq::http::Uri;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// Whether `ip` is an address `web_fetch` refuses without `allow_private`: unspecified,
/// loopback, RFC 1918 private, link-local (incl. 169.254.169.254 metadata), CGNAT
/// 100.64.0.0/10, `0.0.0.0/8`, reserved 240.0.0.0/4, broadcast, multicast, IPv6 unique-local
/// `fc00::/7`, link-local `fe80::/10`, site-local `fec0::/10`, and any IPv4 address embedded
/// in IPv6 (mapped `::ffff:0:0/96`, compatible `::/96`, NAT64 `64:ff9b::/96`, 6to4
/// `2002::/16`) that is itself refused.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

/// See [`is_forbidden`].
fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || a >= 240
        || (a == 100 && (b & 0xc0) == 64)
}

/// See [`is_forbidden`].
fn forbidden_v6(ip: Ipv6Addr) -> bool {
    let seg = ip.segments();
    let embedded =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    if seg[..6] == [0; 6] && !ip.is_unspecified() && !ip.is_loopback() {
        return forbidden_v4(embedded(seg[6], seg[7]));
    }
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return forbidden_v4(embedded(seg[6], seg[7]));
    }
    if seg[0] == 0x2002 {
        return forbidden_v4(embedded(seg[1], seg[2]));
    }
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (seg[0] & 0xfe00) == 0xfc00
        || (seg[0] & 0xffc0) == 0xfe80
        || (seg[0] & 0xffc0) == 0xfec0
}

/// A resolver that answers only for the vetted host, with the vetted addresses.
#[derive(Debug)]
pub(super) struct PinnedResolver {
    /// Host the addresses belong to, without IPv6 brackets.
    pub(super) host: String,
    /// The vetted addresses (at most 16 are used).
    pub(super) addrs: Vec<SocketAddr>,
}

impl Resolver for PinnedResolver {
    fn resolve(
        &self,
        uri: &Uri,
        _: &ureq::config::Config,
        _: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        if uri.host().map(bare_host) != Some(self.host.as_str()) {
            return Err(ureq::Error::HostNotFound);
        }
        let mut out = self.empty();
        for a in self.addrs.iter().take(16) {
            out.push(*a);
        }
        Ok(out)
    }
}

/// A host without the brackets of an IPv6 literal.
pub(super) fn bare_host(h: &str) -> &str {
    h.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(h)
}

/// Resolves `host:port` with the system resolver on a helper thread, giving up at
/// `deadline` (the thread is left to finish on its own).
pub(super) fn resolve(host: &str, port: u16, deadline: Instant) -> Result<Vec<SocketAddr>, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let name = host.to_string();
    std::thread::spawn(move || {
        let _ = tx.send(
            (name.as_str(), port)
                .to_socket_addrs()
                .map(|it| it.collect::<Vec<_>>()),
        );
    });
    match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(Ok(addrs)) => Ok(addrs),
        Ok(Err(e)) => Err(format!("could not resolve {host} ({e})")),
        Err(_) => Err(format!("timed out resolving {host}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_ranges() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fd00::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:c0a8:101::1",
        ] {
            assert!(is_forbidden(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_forbidden(ip.parse().unwrap()), "{ip}");
        }
    }
}
