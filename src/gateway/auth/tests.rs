//! The limiter under paused tokio time.

use super::*;
use std::net::{Ipv4Addr, Ipv6Addr};
use tokio::time::advance;

const REMOTE: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn peer(addr: IpAddr) -> Peer {
    Peer {
        addr,
        browser: false,
    }
}

fn browser(addr: IpAddr) -> Peer {
    Peer {
        addr,
        browser: true,
    }
}

fn fail(limiter: &AuthLimiter, peer: Peer, times: u32) {
    for _ in 0..times {
        limiter.record_failure(peer);
    }
}

#[tokio::test(start_paused = true)]
async fn ten_failures_in_a_minute_lock_an_address_out_for_five_minutes() {
    let limiter = AuthLimiter::default();
    fail(&limiter, peer(REMOTE), MAX_FAILURES - 1);
    assert_eq!(limiter.check(peer(REMOTE)), Ok(()));
    advance(Duration::from_secs(59)).await;
    fail(&limiter, peer(REMOTE), 1);
    assert_eq!(
        limiter.check(peer(REMOTE)),
        Err(Lockout {
            retry_after: LOCKOUT
        })
    );
    // Other addresses are not affected; the locked one is refused whatever it presents.
    let other = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 8));
    assert_eq!(limiter.check(peer(other)), Ok(()));
    assert!(limiter.check(browser(REMOTE)).is_err());
    advance(LOCKOUT - Duration::from_secs(1)).await;
    assert_eq!(
        limiter.check(peer(REMOTE)),
        Err(Lockout {
            retry_after: Duration::from_secs(1)
        })
    );
    // Failures during the lockout do not extend it.
    fail(&limiter, peer(REMOTE), 5);
    advance(Duration::from_secs(1)).await;
    assert_eq!(limiter.check(peer(REMOTE)), Ok(()));
    // After it, counting starts afresh.
    fail(&limiter, peer(REMOTE), MAX_FAILURES - 1);
    assert_eq!(limiter.check(peer(REMOTE)), Ok(()));
    fail(&limiter, peer(REMOTE), 1);
    assert!(limiter.check(peer(REMOTE)).is_err());
}

#[tokio::test(start_paused = true)]
async fn failures_spread_over_more_than_a_window_do_not_lock() {
    let limiter = AuthLimiter::default();
    fail(&limiter, peer(REMOTE), MAX_FAILURES - 1);
    advance(WINDOW).await;
    fail(&limiter, peer(REMOTE), MAX_FAILURES - 1);
    assert_eq!(limiter.check(peer(REMOTE)), Ok(()));
    fail(&limiter, peer(REMOTE), 1);
    assert!(limiter.check(peer(REMOTE)).is_err());
}

#[tokio::test(start_paused = true)]
async fn a_right_token_resets_the_count_unless_locked_out() {
    let limiter = AuthLimiter::default();
    fail(&limiter, peer(REMOTE), MAX_FAILURES - 1);
    limiter.record_success(REMOTE);
    fail(&limiter, peer(REMOTE), MAX_FAILURES - 1);
    assert_eq!(limiter.check(peer(REMOTE)), Ok(()));
    fail(&limiter, peer(REMOTE), 1);
    limiter.record_success(REMOTE);
    assert!(limiter.check(peer(REMOTE)).is_err());
}

#[tokio::test(start_paused = true)]
async fn the_local_cli_keeps_working_while_a_local_browser_is_locked_out() {
    let limiter = AuthLimiter::default();
    fail(&limiter, browser(LOOPBACK), MAX_FAILURES);
    assert!(limiter.check(browser(LOOPBACK)).is_err());
    // A loopback connection without Origin (the CLI) may still try its token ...
    assert_eq!(limiter.check(peer(LOOPBACK)), Ok(()));
    // ... and its success does not lift the lockout for the browser.
    limiter.record_success(LOOPBACK);
    assert!(limiter.check(browser(LOOPBACK)).is_err());
    // The same address written as IPv4-mapped IPv6 is the same client.
    let mapped = IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped());
    assert!(limiter.check(browser(mapped)).is_err());
    assert_eq!(limiter.check(peer(mapped)), Ok(()));
    // IPv6 loopback is exempt the same way; a remote address never is.
    let v6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
    fail(&limiter, browser(v6), MAX_FAILURES);
    assert!(limiter.check(browser(v6)).is_err());
    assert_eq!(limiter.check(peer(v6)), Ok(()));
    fail(&limiter, peer(REMOTE), MAX_FAILURES);
    assert!(limiter.check(peer(REMOTE)).is_err());
}

/// How many of `times` failures from `peer` were of each kind: (logged, counted quietly,
/// locked out, ignored).
fn tally(limiter: &AuthLimiter, peer: Peer, times: u32) -> (u32, u32, u32, u32) {
    let mut t = (0, 0, 0, 0);
    for _ in 0..times {
        match limiter.record_failure(peer) {
            Failure::Logged => t.0 += 1,
            Failure::Counted => t.1 += 1,
            Failure::LockedOut => t.2 += 1,
            Failure::Ignored => t.3 += 1,
        }
    }
    t
}

#[tokio::test(start_paused = true)]
async fn failures_are_logged_once_per_window_per_address() {
    let limiter = AuthLimiter::default();
    assert_eq!(tally(&limiter, peer(REMOTE), 3), (1, 2, 0, 0));
    assert_eq!(
        tally(&limiter, peer(LOOPBACK), 2),
        (1, 1, 0, 0),
        "another address logs once too"
    );
    advance(WINDOW).await;
    assert_eq!(
        tally(&limiter, peer(REMOTE), 3),
        (1, 2, 0, 0),
        "a new window logs again"
    );
    // The 10th failure of the window locks out (one more line); later ones are ignored.
    assert_eq!(
        tally(&limiter, peer(REMOTE), MAX_FAILURES - 3 + 20),
        (0, MAX_FAILURES - 4, 1, 20)
    );
}

#[tokio::test(start_paused = true)]
async fn memory_is_bounded_and_lockouts_outlive_eviction() {
    let limiter = AuthLimiter::default();
    fail(&limiter, peer(REMOTE), MAX_FAILURES);
    for i in 0..(MAX_ADDRESSES as u32 + 500) {
        advance(Duration::from_millis(1)).await;
        let addr = IpAddr::V6(Ipv6Addr::from(
            0x2001_0db8_0000_0000_0000_0000_0000_0000u128 + u128::from(i),
        ));
        limiter.record_failure(peer(addr));
    }
    assert_eq!(limiter.tracked(), MAX_ADDRESSES);
    assert!(
        limiter.check(peer(REMOTE)).is_err(),
        "the lockout was evicted"
    );
    // Stale entries go first: after a window, new addresses replace them all.
    advance(WINDOW).await;
    limiter.record_failure(peer(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1))));
    assert_eq!(limiter.tracked(), 2);
}
