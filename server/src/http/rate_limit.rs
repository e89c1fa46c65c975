//! Rate limits for guessing credentials: login and activation attempts per account (the
//! phone's blind index, so the key reveals no phone) and per client address.
//!
//! The limiters are GCRA (`governor`) keyed in memory on this node, timed by the service
//! [`Clock`] so tests can move time past a window. With several nodes behind a load
//! balancer each node counts on its own: the effective limit is the configured one
//! times the number of nodes that the attempts reach.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::HttpRequest;
use governor::clock::Reference;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::config::{AuthConfig, HttpConfig};
use crate::error::AppError;
use crate::state::Clock;

/// The service clock as a governor time source: nanoseconds since the epoch.
#[derive(Debug, Clone)]
pub struct ServiceClock(pub Clock);

impl governor::clock::Clock for ServiceClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        let t = self.0.now().and_utc();
        let nanos = t.timestamp_nanos_opt().unwrap_or(0).max(0) as u64;
        Nanos::from(std::time::Duration::from_nanos(nanos))
    }
}

type Keyed =
    RateLimiter<String, DefaultKeyedStateStore<String>, ServiceClock, NoOpMiddleware<Nanos>>;

/// Per-account and per-address limits on credential attempts.
pub struct LoginLimiter {
    per_account: Option<Keyed>,
    per_address: Option<Keyed>,
    clock: ServiceClock,
    checks: AtomicU64,
}

impl std::fmt::Debug for LoginLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginLimiter")
            .field("per_account", &self.per_account.is_some())
            .field("per_address", &self.per_address.is_some())
            .finish()
    }
}

/// How often (in checks) keys idle long enough to be full again are dropped, so the
/// maps do not grow with every address and phone ever tried.
const SWEEP_EVERY: u64 = 1024;

impl LoginLimiter {
    /// Limits from the configuration; a limit of 0 turns that limiter off.
    pub fn new(auth: &AuthConfig, clock: Clock) -> Self {
        let clock = ServiceClock(clock);
        let make = |per_minute: u32| {
            NonZeroU32::new(per_minute).map(|n| {
                RateLimiter::new(
                    Quota::per_minute(n),
                    DefaultKeyedStateStore::default(),
                    clock.clone(),
                )
            })
        };
        Self {
            per_account: make(auth.login_per_account_per_minute),
            per_address: make(auth.login_per_address_per_minute),
            clock,
            checks: AtomicU64::new(0),
        }
    }

    /// A limiter of one public endpoint per client address: `per_minute`; 0 turns it off.
    pub fn per_address(per_minute: u32, clock: Clock) -> Self {
        let clock = ServiceClock(clock);
        Self {
            per_account: None,
            per_address: NonZeroU32::new(per_minute).map(|n| {
                RateLimiter::new(
                    Quota::per_minute(n),
                    DefaultKeyedStateStore::default(),
                    clock.clone(),
                )
            }),
            clock,
            checks: AtomicU64::new(0),
        }
    }

    /// A limiter of self-registrations (服务面对面 `public` accounts): per client address
    /// only, `per_hour` a client address; 0 turns it off.
    pub fn registrations(per_hour: u32, clock: Clock) -> Self {
        let clock = ServiceClock(clock);
        Self {
            per_account: None,
            per_address: NonZeroU32::new(per_hour).map(|n| {
                RateLimiter::new(
                    Quota::per_hour(n),
                    DefaultKeyedStateStore::default(),
                    clock.clone(),
                )
            }),
            clock,
            checks: AtomicU64::new(0),
        }
    }

    /// Counts one attempt for `account` and `address`; 429 with the wait when either is
    /// over its limit. The address is checked first, so attempts refused for their
    /// address do not use up the account's allowance.
    pub fn check(&self, account: Option<&str>, address: Option<&str>) -> Result<(), AppError> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            for l in [&self.per_account, &self.per_address].into_iter().flatten() {
                l.retain_recent();
                l.shrink_to_fit();
            }
        }
        if let (Some(limiter), Some(addr)) = (&self.per_address, address) {
            self.check_one(limiter, addr)?;
        }
        if let (Some(limiter), Some(acc)) = (&self.per_account, account) {
            self.check_one(limiter, acc)?;
        }
        Ok(())
    }

    fn check_one(&self, limiter: &Keyed, key: &str) -> Result<(), AppError> {
        limiter.check_key(&key.to_string()).map_err(|not_until| {
            use governor::clock::Clock as _;
            let earliest = not_until.earliest_possible();
            let wait = earliest.duration_since(self.clock.now());
            let wait: std::time::Duration = wait.into();
            AppError::RateLimited {
                retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            }
        })
    }
}

/// The address to rate-limit a request by.
///
/// By default the TCP peer: `X-Forwarded-For` and `Forwarded` are set by whoever sends
/// the request, so trusting them lets a client pick a fresh address for every guess.
/// Behind a reverse proxy every request comes from the proxy's address; there set
/// `http.trust_forwarded = true`, and make sure the proxy overwrites (not appends to)
/// the client's `X-Forwarded-For` and that the node is reachable only through it.
///
/// IPv6 addresses are cut to their /64, the block one subscriber usually gets, so a
/// client cannot rotate through addresses it owns.
pub fn client_key(req: &HttpRequest, http: &HttpConfig) -> Option<String> {
    let raw = if http.trust_forwarded {
        req.connection_info()
            .realip_remote_addr()
            .map(str::to_string)
    } else {
        req.peer_addr().map(|a| a.ip().to_string())
    }?;
    Some(match parse_ip(&raw) {
        Some(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or(raw, |v4| v4.to_string()),
        Some(ip) => ip.to_string(),
        // Unparseable forwarded values still get a bucket of their own.
        None => raw,
    })
}

/// `1.2.3.4`, `1.2.3.4:5678`, `::1`, `[::1]:5678`.
fn parse_ip(raw: &str) -> Option<IpAddr> {
    if let Ok(ip) = raw.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sa) = raw.parse::<std::net::SocketAddr>() {
        return Some(sa.ip());
    }
    raw.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
        .ok()
}

/// Wrong passwords per account (the phone's blind index), answered with a delay that
/// doubles with each failure past the first few, up to a cap: a guesser slows to a few
/// tries an hour, while the owner is not locked out, because the login path skips this
/// check for a device that has signed in to the account before (and a guesser does not
/// know its random device id). The per-address limit still applies to everyone.
pub struct GuessThrottle {
    clock: Clock,
    free: u32,
    max_delay: chrono::Duration,
    /// key → (failures, no attempt before)
    state: std::sync::Mutex<std::collections::HashMap<String, (u32, chrono::NaiveDateTime)>>,
}

impl std::fmt::Debug for GuessThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuessThrottle")
            .field("free", &self.free)
            .finish()
    }
}

impl GuessThrottle {
    pub fn new(auth: &AuthConfig, clock: Clock) -> Self {
        Self {
            clock,
            free: auth.login_failures_before_delay,
            max_delay: chrono::Duration::seconds(auth.login_delay_max_secs as i64),
            state: Default::default(),
        }
    }

    fn map(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, (u32, chrono::NaiveDateTime)>>
    {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// 429 with the wait while the account's delay runs.
    pub fn check(&self, key: &str) -> Result<(), AppError> {
        let now = self.clock.now();
        match self.map().get(key) {
            Some((_, not_before)) if *not_before > now => Err(AppError::RateLimited {
                retry_after_secs: ((*not_before - now).num_milliseconds() as f64 / 1000.0)
                    .ceil()
                    .max(1.0) as u64,
            }),
            _ => Ok(()),
        }
    }

    /// A wrong password: from the `free`-th on, the next attempt waits 2, 4, 8 … seconds,
    /// at most the cap. Quiet for longer than the cap, the count starts again.
    pub fn failed(&self, key: &str) {
        let now = self.clock.now();
        let mut map = self.map();
        // Forget accounts quiet for long, so the map does not keep every phone tried.
        let stale = now - self.max_delay * 2;
        map.retain(|_, (_, nb)| *nb > stale);
        let entry = map.entry(key.to_string()).or_insert((0, now));
        if entry.1 + self.max_delay < now {
            *entry = (0, now);
        }
        entry.0 += 1;
        if self.free > 0 && entry.0 >= self.free {
            let doublings = (entry.0 - self.free + 1).min(30);
            let delay = chrono::Duration::seconds(1i64 << doublings).min(self.max_delay);
            entry.1 = now + delay;
        }
    }

    /// The right password from a device the delay applied to: the count starts again.
    pub fn succeeded(&self, key: &str) {
        self.map().remove(key);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn limiter(per_account: u32, per_address: u32) -> (LoginLimiter, Clock) {
        let clock = Clock::default();
        let auth = AuthConfig {
            login_per_account_per_minute: per_account,
            login_per_address_per_minute: per_address,
            ..AuthConfig::default()
        };
        (LoginLimiter::new(&auth, clock.clone()), clock)
    }

    #[test]
    fn the_sixth_attempt_in_a_minute_waits() {
        let (l, clock) = limiter(5, 30);
        for _ in 0..5 {
            l.check(Some("phone-a"), Some("1.2.3.4")).unwrap();
        }
        match l.check(Some("phone-a"), Some("1.2.3.4")) {
            Err(AppError::RateLimited { retry_after_secs }) => {
                assert!((1..=60).contains(&retry_after_secs), "{retry_after_secs}")
            }
            other => panic!("{other:?}"),
        }
        // Another account from the same address is not affected.
        l.check(Some("phone-b"), Some("1.2.3.4")).unwrap();
        clock.advance(chrono::Duration::seconds(13));
        l.check(Some("phone-a"), Some("1.2.3.4")).unwrap();
    }

    #[test]
    fn the_address_limit_spans_accounts_and_zero_disables() {
        let (l, _) = limiter(5, 3);
        for i in 0..3 {
            l.check(Some(&format!("p{i}")), Some("9.9.9.9")).unwrap();
        }
        assert!(matches!(
            l.check(Some("p9"), Some("9.9.9.9")),
            Err(AppError::RateLimited { .. })
        ));
        let (off, _) = limiter(0, 0);
        for _ in 0..100 {
            off.check(Some("p"), Some("a")).unwrap();
        }
    }

    #[test]
    fn addresses_parse_in_their_usual_shapes() {
        assert_eq!(parse_ip("1.2.3.4:80"), Some("1.2.3.4".parse().unwrap()));
        assert_eq!(parse_ip("[::1]:80"), Some("::1".parse().unwrap()));
        assert_eq!(parse_ip("[::1]"), Some("::1".parse().unwrap()));
        assert_eq!(parse_ip("not an ip"), None);
    }
}
