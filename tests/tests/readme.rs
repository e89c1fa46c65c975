//! The README's curl lines, run as a reader would against a server with the demo city: a
//! README whose examples fail is the first thing a new user meets.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hongying_server::seed;
use hongying_tests::TestApp;

/// The shell blocks of the README that talk to the server (those with `curl`), in order.
fn curl_blocks(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut rest = readme;
    while let Some(start) = rest.find("```sh\n") {
        let body = &rest[start + 6..];
        let Some(end) = body.find("```") else { break };
        if body[..end].contains("curl ") {
            blocks.push(body[..end].to_string());
        }
        rest = &body[end + 3..];
    }
    blocks
}

#[tokio::test]
async fn the_readme_curl_lines_work_on_the_demo_city() {
    let app = TestApp::spawn().await;
    let state = app.state.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = state.db.get().unwrap();
        seed::seed_demo(&mut conn, &state.pii, state.clock.now()).unwrap()
    })
    .await
    .unwrap();

    let blocks = curl_blocks(include_str!("../../README.md"));
    assert!(!blocks.is_empty(), "the README shows no curl lines");
    for block in blocks {
        let script = block.replace("http://127.0.0.1:8080", &app.url(""));
        // Any HTTP error fails the line (and so the block), with the body shown.
        let out = tokio::process::Command::new("bash")
            .args(["-euo", "pipefail", "-c"])
            .arg(format!(
                "curl() {{ command curl --fail-with-body \"$@\"; echo; }}\n{script}"
            ))
            .output()
            .await
            .expect("bash and curl are needed to run the README's lines");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "README block failed:\n{block}\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Every curl line answered with JSON that is not a problem.
        for line in stdout.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {line}\nfrom:\n{block}"));
            assert!(v.get("code").is_none(), "a problem answer: {v}");
        }
    }
}
