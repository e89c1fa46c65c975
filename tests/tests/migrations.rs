//! Both migration trees apply to an empty database and end at the same list; every
//! migration also goes down and up again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hongying_server::config::DatabaseConfig;
use hongying_server::config::Secret;
use hongying_server::db::{self, Backend, Db};
use hongying_tests::TestDb;

fn versions(names: &[String]) -> Vec<String> {
    names
        .iter()
        .map(|n| n.split('_').next().unwrap().replace('-', ""))
        .collect()
}

#[test]
fn migrations_apply_revert_and_reapply() {
    let test_db = TestDb::new();
    let cfg = DatabaseConfig {
        url: Secret::new(test_db.url.clone()),
        ..DatabaseConfig::default()
    };
    let db = Db::connect(&cfg).unwrap();
    let mut conn = db.get().unwrap();
    assert!(db::has_pending(&mut conn).unwrap());
    let applied = db::migrate(&mut conn).unwrap();
    let embedded = db::embedded_migration_names(db.backend());
    assert_eq!(applied.len(), embedded.len());
    // The same list on both backends: the trees have the same names.
    assert_eq!(
        db::applied_migrations(&mut conn).unwrap(),
        versions(&db::embedded_migration_names(Backend::Sqlite))
    );
    assert_eq!(
        db::embedded_migration_names(Backend::Sqlite),
        db::embedded_migration_names(Backend::Postgres)
    );
    assert!(!db::has_pending(&mut conn).unwrap());

    let reverted = db::revert_all(&mut conn).unwrap();
    assert_eq!(reverted.len(), embedded.len());
    assert!(db::applied_migrations(&mut conn).unwrap().is_empty());
    let again = db::migrate(&mut conn).unwrap();
    assert_eq!(again.len(), embedded.len());
    assert!(!db::has_pending(&mut conn).unwrap());
}
