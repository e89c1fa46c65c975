//! The idempotency store on the real backends: concurrent first attempts, replay,
//! mismatch, takeover of a dead attempt, expiry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::Duration;
use hongying_server::config::{DatabaseConfig, Secret};
use hongying_server::db::{self, Db};
use hongying_server::store::idempotency::{self, Begin, Claim, StoredResponse};
use hongying_tests::TestDb;

fn open() -> (TestDb, Db) {
    let test_db = TestDb::new();
    let cfg = DatabaseConfig {
        url: Secret::new(test_db.url.clone()),
        pool_size: 8,
        ..DatabaseConfig::default()
    };
    let db = Db::connect(&cfg).unwrap();
    db::migrate(&mut db.get().unwrap()).unwrap();
    (test_db, db)
}

fn claim<'a>(key: &'a str, fp: &'a str, now: chrono::NaiveDateTime) -> Claim<'a> {
    Claim {
        principal: "account:1",
        key,
        fingerprint: fp,
        now,
        locked_until: now + Duration::seconds(60),
        expires_at: now + Duration::hours(24),
    }
}

#[test]
fn exactly_one_of_concurrent_first_attempts_starts() {
    let (_t, db) = open();
    let now = db::now();
    let outcomes: Vec<Begin> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let db = db.clone();
                s.spawn(move || {
                    let mut conn = db.get().unwrap();
                    idempotency::begin(&mut conn, &claim("same", "fp", now)).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let started = outcomes.iter().filter(|o| **o == Begin::Started).count();
    assert_eq!(started, 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Begin::Started | Begin::InProgress))
    );
}

#[test]
fn replay_mismatch_takeover_and_expiry() {
    let (_t, db) = open();
    let mut conn = db.get().unwrap();
    let now = db::now();
    assert_eq!(
        idempotency::begin(&mut conn, &claim("k", "fp", now)).unwrap(),
        Begin::Started
    );
    let stored = StoredResponse {
        status: 201,
        headers: r#"[["location","/x/1"]]"#.into(),
        body: b"{\"id\":1}".to_vec(),
    };
    idempotency::complete(&mut conn, "account:1", "k", &stored).unwrap();
    assert_eq!(
        idempotency::begin(&mut conn, &claim("k", "fp", now)).unwrap(),
        Begin::Replay(stored)
    );
    assert_eq!(
        idempotency::begin(&mut conn, &claim("k", "other", now)).unwrap(),
        Begin::Mismatch
    );

    // A first attempt that died: in progress until its lock lapses, then taken over.
    assert_eq!(
        idempotency::begin(&mut conn, &claim("dead", "fp", now)).unwrap(),
        Begin::Started
    );
    assert_eq!(
        idempotency::begin(&mut conn, &claim("dead", "fp", now)).unwrap(),
        Begin::InProgress
    );
    let later = now + Duration::seconds(61);
    assert_eq!(
        idempotency::begin(&mut conn, &claim("dead", "fp", later)).unwrap(),
        Begin::Started
    );

    // After expiry the key is free again, even with another body, and purge removes it.
    let much_later = now + Duration::hours(25);
    assert_eq!(
        idempotency::begin(&mut conn, &claim("k", "other", much_later)).unwrap(),
        Begin::Started
    );
    let purged = idempotency::purge_expired(&mut conn, now + Duration::hours(50)).unwrap();
    assert!(purged >= 2, "{purged}");
}
