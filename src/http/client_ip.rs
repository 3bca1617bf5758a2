//! The client's IP address: the peer, unless the peer is a configured trusted proxy,
//! in which case the nearest untrusted address in `X-Forwarded-For`.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use ipnet::IpNet;

use crate::app::AppState;
use crate::http::error::ApiError;

#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

pub fn resolve(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpNet]) -> IpAddr {
    // IPv4 peers on a dual-stack socket arrive as ::ffff:a.b.c.d.
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    // Walk from the right (nearest hop); the first address not ours is the client.
    let mut client = peer;
    for hop in header.rsplit(',') {
        match hop.trim().parse::<IpAddr>().map(|ip| ip.to_canonical()) {
            Ok(ip) if is_trusted(&ip) => client = ip,
            Ok(ip) => return ip,
            Err(_) => return client,
        }
    }
    client
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([127, 0, 0, 1]), |c| c.0.ip());
        let forwarded = parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
        Ok(Self(resolve(peer, forwarded, &state.config.trusted_proxies)))
    }
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let proxy = "10.0.0.1".parse().unwrap();
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        let stranger = "203.0.113.9".parse().unwrap();
        assert_eq!(resolve(stranger, Some("1.2.3.4"), &trusted), stranger);
        assert_eq!(resolve(proxy, Some("1.2.3.4, 10.0.0.2"), &trusted).to_string(), "1.2.3.4");
        assert_eq!(resolve(proxy, None, &trusted), proxy);
        assert_eq!(resolve(proxy, Some("garbage"), &trusted), proxy);
        let mapped = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(resolve(mapped, Some("1.2.3.4"), &trusted).to_string(), "1.2.3.4");
    }
}
