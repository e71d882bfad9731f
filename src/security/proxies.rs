//! Who the client is behind a load balancer. The TCP peer is the client, unless the peer is a
//! proxy the operator trusts (`HOOP_TRUSTED_PROXIES`); then `X-Forwarded-For` is read from the
//! right, past every trusted hop, and the first address no trusted proxy owns is the client.
//! Everything to its left was written by that client and proves nothing. With no trusted
//! proxies (the default) the header is never read. The answer is decided once per request,
//! here, and everything that counts or records a client address reads it
//! ([`crate::auth::client_addr`]).

use axum::{
    extract::{ConnectInfo, Request, State},
    http::HeaderMap,
    middleware::Next,
    response::Response,
};
use ipnet::IpNet;
use std::{net::IpAddr, net::SocketAddr, sync::Arc};

/// The client's address as decided for this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Set on a request whose TCP peer is a trusted proxy: what it forwarded (the client's
/// address, the request's id) may be believed.
#[derive(Debug, Clone, Copy)]
pub struct FromTrustedProxy;

#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<[IpNet]>);

impl TrustedProxies {
    pub fn new(nets: &[IpNet]) -> Self {
        Self(nets.iter().map(IpNet::trunc).collect())
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind `peer`. An entry that is not an address, met before any untrusted
    /// one, ends the walk at the last trusted hop: the request is then counted against that
    /// proxy, never against an address somebody could have chosen.
    pub fn client_of(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        // Several header lines form one list, in order (RFC 9110, 5.3).
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .flat_map(|v| v.to_str().unwrap_or("").split(','))
            .collect::<Vec<_>>();
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                return client;
            };
            client = ip;
            if !self.trusts(ip) {
                return ip;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`[::1]:80`, `1.2.3.4:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// `HOOP_TRUSTED_PROXIES` entries: a network (`10.0.0.0/8`) or one address.
pub fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{s:?} is neither an address nor a network like 10.0.0.0/8"))
}

/// Middleware: decides [`ClientIp`] (and [`FromTrustedProxy`]) for every request.
pub async fn resolve_client(
    State(proxies): State<TrustedProxies>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let peer = peer.ip();
        let client = proxies.client_of(peer, request.headers());
        request.extensions_mut().insert(ClientIp(client));
        if proxies.trusts(peer.to_canonical()) {
            request.extensions_mut().insert(FromTrustedProxy);
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(trusted: &[&str], peer: &str, xff: &[&str]) -> String {
        let nets: Vec<IpNet> = trusted.iter().map(|n| parse_net(n).unwrap()).collect();
        let mut headers = HeaderMap::new();
        for line in xff {
            headers.append("x-forwarded-for", line.parse().unwrap());
        }
        TrustedProxies::new(&nets)
            .client_of(peer.parse().unwrap(), &headers)
            .to_string()
    }

    #[test]
    fn without_trusted_proxies_the_header_is_never_read() {
        assert_eq!(client(&[], "10.0.0.1", &["203.0.113.5"]), "10.0.0.1");
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_says() {
        assert_eq!(
            client(&["10.0.0.0/8"], "198.51.100.7", &["10.0.0.2"]),
            "198.51.100.7"
        );
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let trusted = ["10.0.0.0/8", "192.168.1.5"];
        // The client wrote "1.2.3.4" itself; the proxy appended what it saw.
        assert_eq!(
            client(&trusted, "10.0.0.1", &["1.2.3.4, 203.0.113.5"]),
            "203.0.113.5"
        );
        // Two trusted hops are skipped, across header lines.
        assert_eq!(
            client(
                &trusted,
                "10.0.0.1",
                &["1.2.3.4, 203.0.113.5", "192.168.1.5, 10.0.0.3"]
            ),
            "203.0.113.5"
        );
        assert_eq!(
            client(&trusted, "10.0.0.1", &["[2001:db8::1]:443"]),
            "2001:db8::1"
        );
        assert_eq!(
            client(&trusted, "::ffff:10.0.0.1", &["203.0.113.5:80"]),
            "203.0.113.5"
        );
    }

    #[test]
    fn without_an_untrusted_hop_the_last_trusted_one_answers() {
        let trusted = ["10.0.0.0/8"];
        assert_eq!(client(&trusted, "10.0.0.1", &[]), "10.0.0.1");
        assert_eq!(client(&trusted, "10.0.0.1", &["10.0.0.9"]), "10.0.0.9");
        // Garbage where the proxy's entry should be: counted against the proxy, not a choice.
        assert_eq!(
            client(&trusted, "10.0.0.1", &["203.0.113.5, garbage"]),
            "10.0.0.1"
        );
        assert_eq!(
            client(&trusted, "10.0.0.1", &["203.0.113.5, 10.0.0.4, x"]),
            "10.0.0.1"
        );
    }

    #[test]
    fn networks_parse_with_or_without_a_prefix() {
        assert!(parse_net("10.0.0.0/8").is_ok());
        assert!(parse_net(" 192.168.1.5 ").is_ok());
        assert!(parse_net("::1").is_ok());
        assert!(parse_net("10.0.0.0/33").is_err());
        assert!(parse_net("proxy.local").is_err());
    }
}
