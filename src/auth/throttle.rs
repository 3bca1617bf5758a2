//! Brute-force brakes: a per-client-IP request budget on the credential endpoints,
//! and the per-account lock policy.
//!
//! The IP budget is a fixed one-minute window. With Redis the counters live there, so
//! every node draws on the same budget; without it they live in this process.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use redis::aio::ConnectionManager;

use crate::clock::SharedClock;
use crate::cluster::Cluster;
use crate::http::error::{ApiError, ApiResult};

const WINDOW: i64 = 60;

pub struct IpLimiter {
    per_minute: u32,
    clock: SharedClock,
    redis: Option<ConnectionManager>,
    redis_prefix: String,
    /// This window's counters (the window, and a count per client).
    local: Mutex<(i64, HashMap<IpAddr, u32>)>,
}

impl IpLimiter {
    pub fn new(per_minute: u32, clock: SharedClock, cluster: &Cluster) -> Self {
        Self {
            per_minute,
            clock,
            redis: cluster.redis.clone(),
            redis_prefix: cluster.prefix.clone(),
            local: Mutex::new((0, HashMap::new())),
        }
    }

    /// Counts one request from `ip`; 429 with `Retry-After` once over budget.
    pub async fn hit(&self, ip: IpAddr) -> ApiResult<()> {
        let ip = client_key(ip);
        let now = self.clock.now();
        let window = now.div_euclid(WINDOW);
        let count = match self.redis.clone() {
            Some(mut redis) => {
                let key = format!("{}:rl:auth:{ip}:{window}", self.redis_prefix);
                let (count,): (u32,) = redis::pipe()
                    .atomic()
                    .incr(&key, 1)
                    .expire(&key, WINDOW * 2)
                    .ignore()
                    .query_async(&mut redis)
                    .await?;
                count
            }
            None => self.hit_local(ip, window),
        };
        if count > self.per_minute {
            let retry_after = (WINDOW - now.rem_euclid(WINDOW)) as u64;
            return Err(ApiError::TooManyRequests { retry_after });
        }
        Ok(())
    }

    fn hit_local(&self, ip: IpAddr, window: i64) -> u32 {
        let mut guard = self.local.lock().expect("rate limiter lock");
        let (current, counters) = &mut *guard;
        if *current != window {
            // A fixed window: last minute's counts are simply dropped.
            *current = window;
            counters.clear();
        }
        let count = counters.entry(ip).or_insert(0);
        *count = count.saturating_add(1);
        *count
    }
}

/// The budget holder for an address: IPv4 (and IPv4-mapped IPv6) addresses as they
/// are; other IPv6 addresses by their /64, which one client typically owns whole.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let mut octets = v6.octets();
            octets[8..].fill(0);
            IpAddr::from(octets)
        }
        v4 => v4,
    }
}

/// How long an account stays locked after `failures` consecutive failures, given
/// the configured threshold: nothing below it, then one minute doubling with each
/// further failure, at most a day.
pub fn lock_period(failures: i64, max_failures: u32) -> Option<i64> {
    let over = failures - i64::from(max_failures);
    (over >= 0).then(|| 60i64.saturating_mul(1i64 << over.min(11)).min(24 * 3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_keyed_by_address_or_ipv6_prefix() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(client_key(ip("203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(client_key(ip("::ffff:203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(client_key(ip("2001:db8:1:2:aaaa::1")), client_key(ip("2001:db8:1:2:bbbb::2")));
        assert_ne!(client_key(ip("2001:db8:1:2::1")), client_key(ip("2001:db8:1:3::1")));
    }

    #[test]
    fn lock_grows_and_is_capped() {
        assert_eq!(lock_period(9, 10), None);
        assert_eq!(lock_period(10, 10), Some(60));
        assert_eq!(lock_period(11, 10), Some(120));
        assert_eq!(lock_period(40, 10), Some(24 * 3600));
    }
}
