//! Every end-to-end test file, compiled as one binary (see `autotests = false` in
//! Cargo.toml). Add a new file here; `every_test_file_is_listed` fails otherwise.

mod audit;
mod auth;
mod authz_matrix;
mod browser;
mod compliance;
mod foundation;
mod grants;
mod idempotency;
mod idempotency_store;
mod import;
mod interop;
mod media;
mod media_resilience;
mod meetings;
mod members;
mod migrants;
mod migrations;
mod minutes;
mod motions;
mod orgs;
mod readme;
mod revocation;
mod seed;
mod services;
mod signaling;
mod story_village_congress;
mod transfers;
mod turn;
mod ws;

#[test]
fn every_test_file_is_listed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let me = include_str!("e2e.rs");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if let Some(stem) = name.strip_suffix(".rs")
            && stem != "e2e"
            && !me.contains(&format!("mod {stem};"))
        {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "test files not compiled: {missing:?}");
}
