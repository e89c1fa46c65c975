//! The foundation as a client meets it: health, readiness and draining, the OpenAPI
//! document and docs UI, problem+json for every kind of bad request, compression,
//! request ids, metrics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use hongying_tests::{TestApp, Value, expect_problem, json};

#[tokio::test]
async fn healthz_answers_without_dependencies() {
    let app = TestApp::spawn().await;
    let resp = app.get("/healthz").await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-request-id"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn readyz_checks_the_database_and_flips_while_draining() {
    let mut app = TestApp::spawn_with(|c| c.shutdown.drain_delay_ms = 1_500).await;
    let resp = app.get("/readyz").await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["ready"], true);
    assert_eq!(body["checks"][0]["name"], "database");
    assert_eq!(body["checks"][0]["ok"], true);

    // Shut down in the background; during the drain delay the listener is still open
    // and readiness must already say 503.
    let url = app.url("/readyz");
    let client = app.client.clone();
    let stopper = tokio::spawn(async move { app.stop().await });
    let mut saw_draining = false;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let Ok(resp) = client.get(&url).send().await else {
            break;
        };
        if resp.status() == 503 {
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["draining"], true);
            assert_eq!(body["ready"], false);
            saw_draining = true;
            break;
        }
    }
    assert!(saw_draining, "readyz never answered 503 while draining");
    stopper.await.unwrap();
    assert!(
        client.get(&url).send().await.is_err(),
        "listener closed after drain"
    );
}

#[tokio::test]
async fn readyz_reports_an_unreachable_redis() {
    let app = TestApp::spawn_with(|c| {
        // A loopback port nothing listens on.
        c.redis.url = Some(hongying_server::config::Secret::new("redis://127.0.0.1:1/"));
    })
    .await;
    let resp = app.get("/readyz").await;
    assert_eq!(resp.status(), 503);
    let body: Value = resp.json().await.unwrap();
    let redis = body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "redis")
        .unwrap();
    assert_eq!(redis["ok"], false);
}

#[tokio::test]
async fn openapi_document_is_3_1_and_lists_the_routes() {
    let app = TestApp::spawn().await;
    let resp = app.get("/api/openapi.json").await;
    assert_eq!(resp.status(), 200);
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/healthz"]["get"].is_object());
    assert!(doc["paths"]["/readyz"]["get"].is_object());
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    // Every operation has an id and at least one response.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            assert!(
                op["operationId"].is_string(),
                "{method} {path} lacks operationId"
            );
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path}"
            );
        }
    }
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "$ref" {
                    out.push(v.as_str().unwrap_or_default().to_string());
                } else {
                    collect_refs(v, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn every_schema_reference_resolves() {
    let app = TestApp::spawn().await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    let missing: Vec<&String> = refs
        .iter()
        .filter(|r| {
            let name = r.trim_start_matches("#/components/schemas/");
            !r.starts_with("#/components/schemas/") || doc["components"]["schemas"][name].is_null()
        })
        .collect();
    assert!(missing.is_empty(), "unresolved $ref: {missing:?}");
}

#[tokio::test]
async fn docs_ui_is_served_offline() {
    let app = TestApp::spawn().await;
    let resp = app.get("/api/docs").await;
    assert!(resp.status().is_redirection());
    let resp = app.get("/api/docs/").await;
    assert_eq!(resp.status(), 200);
    let html = resp.text().await.unwrap();
    assert!(html.to_lowercase().contains("swagger"), "{html}");
    // The assets come from the binary, not a CDN.
    let css = app.get("/api/docs/swagger-ui.css").await;
    assert_eq!(css.status(), 200);
    let init = app.get("/api/docs/swagger-initializer.js").await;
    assert_eq!(init.status(), 200);
    assert!(init.text().await.unwrap().contains("/api/openapi.json"));
}

#[tokio::test]
async fn unknown_route_and_wrong_method_are_problems() {
    let app = TestApp::spawn().await;
    let body = expect_problem(app.get("/no/such/route").await, 404, "not_found").await;
    assert!(body["request_id"].is_string());
    assert!(body["type"].as_str().unwrap().ends_with("/not_found"));

    let resp = app.client.delete(app.url("/healthz")).send().await.unwrap();
    let allow = resp
        .headers()
        .get("allow")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(allow, "GET");
    expect_problem(resp, 405, "method_not_allowed").await;
}

/// The login endpoint is the simplest JSON write endpoint every deployment has.
const JSON_ENDPOINT: &str = "/api/v1/auth/login";

#[tokio::test]
async fn bad_bodies_get_their_own_codes() {
    let app = TestApp::spawn().await;
    let url = app.url(JSON_ENDPOINT);
    let c = &app.client;

    let resp = c
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"phone\": ")
        .send()
        .await
        .unwrap();
    expect_problem(resp, 400, "malformed_json").await;

    let resp = c
        .post(&url)
        .json(&json!({"phone": 13800138000u64, "password": "x", "device_id": "d"}))
        .send()
        .await
        .unwrap();
    let body = expect_problem(resp, 400, "invalid_body").await;
    assert_eq!(body["errors"][0]["field"], "phone");
    assert_eq!(body["errors"][0]["code"], "invalid_type");
    assert_eq!(body["errors"][0]["message"], "字段类型错误：应为文本。");

    // A NUL in any text is refused the same way on both databases.
    let resp = c
        .post(&url)
        .json(&json!({"phone": "138\u{0}00138000", "password": "x", "device_id": "d"}))
        .send()
        .await
        .unwrap();
    let body = expect_problem(resp, 400, "invalid_body").await;
    assert_eq!(body["errors"][0]["code"], "nul_character", "{body}");

    let resp = c
        .post(&url)
        .json(&json!({"phone": "13800138000", "password": "secret123", "device_id": "d", "admin": true}))
        .send()
        .await
        .unwrap();
    let body = expect_problem(resp, 400, "invalid_body").await;
    assert_eq!(body["errors"][0]["code"], "unknown_field");
    assert_eq!(body["errors"][0]["field"], "admin");

    let resp = c
        .post(&url)
        .json(&json!({"password": "secret123", "device_id": "d"}))
        .send()
        .await
        .unwrap();
    let body = expect_problem(resp, 400, "invalid_body").await;
    assert_eq!(body["errors"][0]["code"], "required");

    let resp = c
        .post(&url)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    expect_problem(resp, 415, "unsupported_media_type").await;

    let huge = format!("{{\"phone\": \"{}\"}}", "1".repeat(300 * 1024));
    let resp = c
        .post(&url)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    expect_problem(resp, 413, "payload_too_large").await;
}

#[tokio::test]
async fn bad_path_and_query_parameters_are_problems() {
    let app = TestApp::spawn().await;
    let admin = app.super_admin().await;
    let resp = app
        .client
        .get(app.url("/api/v1/orgs/00000000-0000-0000-0000-000000000000/children?limit=abc"))
        .header("authorization", admin.bearer())
        .send()
        .await
        .unwrap();
    expect_problem(resp, 400, "invalid_query").await;
}

#[tokio::test]
async fn responses_are_compressed_when_asked() {
    let app = TestApp::spawn().await;
    let raw = hongying_tests::reqwest::Client::builder()
        .no_gzip()
        .no_brotli()
        .build()
        .unwrap();
    for (enc, expect) in [("gzip", "gzip"), ("br", "br")] {
        let resp = raw
            .get(app.url("/api/openapi.json"))
            .header("accept-encoding", enc)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()
                .get("content-encoding")
                .unwrap()
                .to_str()
                .unwrap(),
            expect
        );
    }
    let plain = raw.get(app.url("/api/openapi.json")).send().await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
}

#[tokio::test]
async fn metrics_are_served_on_their_own_port() {
    let app = TestApp::spawn().await;
    let _ = app.get("/healthz").await;
    let _ = app.get("/no/such").await;
    let addr = app.metrics_addr.unwrap();
    assert_ne!(addr.port(), app.addr.port());
    let text = app
        .client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("hongying_http_requests_total"), "{text}");
    assert!(text.contains("route=\"/healthz\""), "{text}");
    assert!(text.contains("route=\"unmatched\""), "{text}");
    assert!(text.contains("hongying_db_pool_connections"), "{text}");
    // The public port does not serve metrics.
    assert_eq!(app.get("/metrics").await.status(), 404);
}

#[tokio::test]
async fn every_operation_id_is_unique() {
    // Two handlers of the same name in different modules get the same operationId, which
    // OpenAPI forbids and generated clients trip over.
    let app = TestApp::spawn().await;
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    let mut seen = std::collections::HashMap::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            if let Some(id) = op.get("operationId").and_then(Value::as_str)
                && let Some(other) = seen.insert(id.to_string(), format!("{method} {path}"))
            {
                panic!("operationId {id} on {method} {path} and {other}");
            }
        }
    }
    assert!(seen.len() > 100, "{}", seen.len());
}
