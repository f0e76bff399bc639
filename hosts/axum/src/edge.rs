//! Who the client is behind proxies: the address the unknown-code guard counts.
//!
//! Without trusted proxies the client is the TCP peer. Behind a load balancer every shopper's
//! peer is the balancer, so all would share one guard window: one shopper's twenty bad codes
//! would lock every other out. The host then trusts the proxies it is told of and reads
//! `X-Forwarded-For` from the right, skipping trusted hops, down to the first address no
//! trusted proxy could have written: a client may put anything it likes on the left, but the
//! hop a trusted proxy appended is the address it saw.

use std::fmt;
use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The networks whose peers are proxies the host trusts to append `X-Forwarded-For`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl fmt::Debug for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(ToString::to_string))
            .finish()
    }
}

impl TrustedProxies {
    /// No trusted proxy: the client is always the TCP peer.
    pub fn none() -> TrustedProxies {
        TrustedProxies::default()
    }

    /// The proxies in `list` (the form of `GIFTCERT_TRUSTED_PROXIES`): addresses or networks
    /// (`10.0.0.0/8`, `2001:db8::/32`, `127.0.0.1`) separated by commas.
    ///
    /// # Errors
    ///
    /// The first entry that is neither an address nor a network, by position.
    pub fn parse(list: &str) -> Result<TrustedProxies, String> {
        let mut nets = Vec::new();
        for (index, entry) in list.split(',').map(str::trim).enumerate() {
            if entry.is_empty() {
                continue;
            }
            let net = match entry.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => entry
                    .parse::<IpAddr>()
                    .map(IpNet::from)
                    .map_err(|_| format!("entry {} is not an IP address or network", index + 1))?,
            };
            nets.push(net);
        }
        Ok(TrustedProxies(nets))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client of a request from `peer` with `headers`: the peer itself unless it is a
    /// trusted proxy; then the rightmost `X-Forwarded-For` hop that is not a trusted proxy (the
    /// leftmost hop when all are, the nearest proxy's address when a hop is not an address).
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let values: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let hops = values.iter().flat_map(|v| v.split(',')).collect::<Vec<_>>();
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop.trim().parse::<IpAddr>() {
                Ok(ip) => {
                    client = canonical(ip);
                    if !self.trusts(client) {
                        return client;
                    }
                }
                Err(_) => return client,
            }
        }
        client
    }
}

/// The most clients a [`RequestLimit`] keeps a count for before it forgets the idle ones.
const MAX_TRACKED_CLIENTS: usize = 100_000;

/// A limit on the requests each client may send (a token bucket per client: `per_second` on
/// average, `burst` at once), on top of the unknown-code guard, which counts codes, not
/// requests. The client is as [`TrustedProxies::client`] says, an IPv6 address folded to its
/// /64 (one household or machine holds a whole /64).
#[derive(Clone)]
pub struct RequestLimit {
    limiter: std::sync::Arc<governor::DefaultKeyedRateLimiter<IpAddr>>,
    clock: governor::clock::DefaultClock,
    per_second: u32,
    burst: u32,
}

impl fmt::Debug for RequestLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestLimit")
            .field("per_second", &self.per_second)
            .field("burst", &self.burst)
            .finish_non_exhaustive()
    }
}

impl RequestLimit {
    /// `per_second` requests a second for each client, `burst` at once; `None` when either is
    /// zero (no limit).
    pub fn new(per_second: u32, burst: u32) -> Option<RequestLimit> {
        let rate = std::num::NonZeroU32::new(per_second)?;
        let burst_size = std::num::NonZeroU32::new(burst)?;
        let quota = governor::Quota::per_second(rate).allow_burst(burst_size);
        Some(RequestLimit {
            limiter: std::sync::Arc::new(governor::RateLimiter::keyed(quota)),
            clock: governor::clock::DefaultClock::default(),
            per_second,
            burst,
        })
    }

    /// Counts a request of `client`: `Err` with the seconds to wait when it is over the limit.
    pub fn check(&self, client: IpAddr) -> Result<(), u64> {
        use governor::clock::Clock as _;
        if self.limiter.len() > MAX_TRACKED_CLIENTS {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&fold(client))
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()).as_secs().max(1))
    }
}

/// An IPv6 address as its /64, an IPv4 address as it is.
fn fold(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1_u128 << 64) - 1);
            IpAddr::V6(std::net::Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

/// Refuses a request over its client's [`RequestLimit`] with `429 too_many_requests` and
/// `Retry-After`; a request without a peer address (not served over TCP) is let through.
pub(crate) async fn limit_requests<S: giftcert::store::AsyncStore + 'static>(
    axum::extract::State(shop): axum::extract::State<std::sync::Arc<crate::Shop<S>>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    if let (Some(limit), Some(peer)) = (&shop.limit, peer) {
        let client = shop.proxies.client(peer, request.headers());
        if let Err(seconds) = limit.check(client) {
            return crate::ApiError::too_many_requests(seconds).into_response();
        }
    }
    next.run(request).await
}

/// An IPv4 address written as IPv6 (`::ffff:192.0.2.1`) as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_peer_is_the_client_unless_it_is_a_trusted_proxy() {
        let none = TrustedProxies::none();
        let headers = forwarded(&["198.51.100.7"]);
        assert_eq!(none.client(ip("10.0.0.2"), &headers), ip("10.0.0.2"));
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        assert_eq!(
            trusted.client(ip("203.0.113.9"), &headers),
            ip("203.0.113.9")
        );
        assert_eq!(trusted.client(ip("10.0.0.2"), &headers), ip("198.51.100.7"));
        // A trusted proxy that forwards nothing is the client.
        assert_eq!(
            trusted.client(ip("10.0.0.2"), &HeaderMap::new()),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client_whatever_the_client_wrote() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, 192.0.2.1").unwrap();
        // The client wrote "1.1.1.1"; the trusted proxies appended what they saw.
        let headers = forwarded(&["1.1.1.1, 198.51.100.7", "192.0.2.1"]);
        assert_eq!(trusted.client(ip("10.1.2.3"), &headers), ip("198.51.100.7"));
        // All hops trusted: the leftmost.
        let inner = forwarded(&["10.9.9.9, 192.0.2.1"]);
        assert_eq!(trusted.client(ip("10.1.2.3"), &inner), ip("10.9.9.9"));
        // A hop that is not an address ends the walk at the nearest proxy seen.
        let junk = forwarded(&["198.51.100.7, junk, 192.0.2.1"]);
        assert_eq!(trusted.client(ip("10.1.2.3"), &junk), ip("192.0.2.1"));
        // IPv4 written as IPv6 is the IPv4 address.
        assert_eq!(
            trusted.client(ip("::ffff:10.1.2.3"), &forwarded(&["::ffff:198.51.100.7"])),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn each_client_has_its_own_bucket_and_an_ipv6_client_its_64() {
        let limit = RequestLimit::new(1, 2).expect("a limit");
        assert!(RequestLimit::new(0, 2).is_none() && RequestLimit::new(2, 0).is_none());
        assert_eq!(limit.check(ip("198.51.100.7")), Ok(()));
        assert_eq!(limit.check(ip("198.51.100.7")), Ok(()));
        let wait = limit.check(ip("198.51.100.7")).unwrap_err();
        assert!((1..=2).contains(&wait), "{wait}");
        assert_eq!(limit.check(ip("198.51.100.8")), Ok(()));
        assert_eq!(limit.check(ip("2001:db8:1:2::1")), Ok(()));
        assert_eq!(limit.check(ip("2001:db8:1:2:ffff::9")), Ok(()));
        assert!(limit.check(ip("2001:db8:1:2:abcd::1")).is_err());
        assert_eq!(limit.check(ip("2001:db8:1:3::1")), Ok(()));
    }

    #[test]
    fn a_list_names_its_bad_entry_by_position() {
        let err = TrustedProxies::parse("10.0.0.0/8, nowhere").unwrap_err();
        assert_eq!(err, "entry 2 is not an IP address or network");
        assert!(TrustedProxies::parse(" , ").unwrap().is_empty());
        let v6 = TrustedProxies::parse("2001:db8::/32").unwrap();
        assert!(v6.trusts(ip("2001:db8::1")) && !v6.trusts(ip("2001:db9::1")));
    }
}
