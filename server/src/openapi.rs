//! The OpenAPI document's frame; paths and schemas are collected from the handlers.

use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Hongying (红鹰) API",
        description = "Party-branch life for members on phones: 三会一课, attendance and quorum, \
transfers, 服务面对面. Errors are `application/problem+json` with a stable `code`. POST, PUT and \
PATCH accept an `Idempotency-Key` header: a retry with the same key and body replays the first \
response. Lists use cursor pagination: pass `next_cursor` back as `cursor`.",
        license(name = "Apache-2.0")
    ),
    tags(
        (name = "ops", description = "Health and readiness"),
        (name = "orgs", description = "The organization tree (党组织) and committee posts"),
        (name = "grants", description = "Roles held at organizations (reaching their subtrees)"),
        (name = "members", description = "The roster (党员名册): members and applicants, masked personal data with audited reveal, the 发展党员 status pipeline, flags, history, roster import (CSV/xlsx)"),
        (name = "audit", description = "The hash-chained audit log: scoped reading, chain verification"),
        (name = "meetings", description = "三会一课: meetings and their lifecycle, observers, exclusions from E, attendance (secretary, QR check-in, absences) and quorum"),
        (name = "notices", description = "The caller's notices (meeting scheduled, rescheduled, cancelled, started)"),
        (name = "transfers", description = "组织关系转接: transfer requests and their approval steps, 市外转入 registration, introduction letters (介绍信) with their printout and the public QR check"),
        (name = "migrants", description = "流动党员: outflow and inflow registration, acceptance at the host (temporary on its rosters, no vote), contacts, the 失联 flag and its review, transfer suggestions"),
        (name = "motions", description = "Motions and votes at a meeting: ordinary, admission kinds (one candidate, written opinions), elections; ballots, show-of-hands tallies, results per QUORUM.md"),
        (name = "minutes", description = "The minutes record: points, resolutions, attendance table, sign-off, submission and review, attachments, JSON/HTML export"),
        (name = "compliance", description = "The compliance calendar: versioned meeting-frequency rules per locality and per-branch compliance for a period"),
        (name = "services", description = "服务面对面: experts (verified and enabled by org admins), public accounts, questions routed to the nearest experts of their field, the answer thread, escalation and assignment, attachments typed by content, anonymized FAQ, consultation slots and bookings, statistics"),
        (name = "auth", description = "Accounts and sessions: activation codes, login, token refresh, logout, password change, the caller's profile. Authenticated endpoints take `Authorization: Bearer <access token>`."),
    ),
    components(schemas(hongying_proto::Problem, hongying_proto::FieldError, hongying_proto::ErrorCode)),
    modifiers(&SecurityAddon)
)]
pub struct ApiDoc;

/// Declares the `bearer` scheme that authenticated endpoints name in their `security`:
/// an EdDSA-signed JWT access token from `/api/v1/auth/login`.
pub struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "Access token from /api/v1/auth/login, /auth/activate or /auth/refresh",
                    ))
                    .build(),
            ),
        );
    }
}

/// The answers every operation of a kind can give, whatever its handler declares: they come
/// from the shared extractors and middleware, so a handler cannot forget one. A client
/// generated from the document then knows them all.
fn declare_shared_answers(op: &mut utoipa::openapi::path::Operation, method: &str) {
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let mut add = |status: &str, description: &str| {
        op.responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| {
                ResponseBuilder::new()
                    .description(description)
                    .content(
                        crate::error::PROBLEM_JSON,
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("Problem")))
                            .build(),
                    )
                    .build()
                    .into()
            });
    };
    let has_body = op.request_body.is_some();
    let has_query = op
        .parameters
        .iter()
        .flatten()
        .any(|p| matches!(p.parameter_in, ParameterIn::Query));
    let has_path = op
        .parameters
        .iter()
        .flatten()
        .any(|p| matches!(p.parameter_in, ParameterIn::Path));
    // Every operation needs a signed-in caller unless its handler says `security(())`: the
    // few that do (health, login, activation, refresh, self-registration, the letter check)
    // are the ones tests/authz_matrix.rs finds open.
    let public = op.security.as_ref().is_some_and(|s| {
        s.iter()
            .all(|r| serde_json::to_value(r).is_ok_and(|v| v == serde_json::json!({})))
    });
    if op.security.is_none() {
        op.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
    if has_body {
        add(
            "400",
            "`malformed_json`, `invalid_body` (each wrong field named) or `nul_character`",
        );
        add("413", "`payload_too_large`: the body is over the limit");
        add(
            "415",
            "`unsupported_media_type`: the body is not of the declared type",
        );
    }
    if has_query || has_path {
        add("400", "`invalid_query` or `invalid_path`");
    }
    if !public {
        add("401", "`unauthenticated`: no valid access token");
    }
    if matches!(method, "post" | "put" | "patch") {
        add(
            "409",
            "`idempotency_key_in_progress`: the first request with this Idempotency-Key is still running",
        );
        add(
            "422",
            "`idempotency_key_reused` (the key was used for another request) or a validation failure",
        );
    }
}

/// Final touches once every handler's paths are collected: error responses that carry a
/// `Problem` are declared as `application/problem+json`, the content type they are sent
/// with (utoipa's default for a body is `application/json`), and the answers shared by
/// every operation of a kind are declared on each.
pub fn finish(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    for item in api.paths.paths.values_mut() {
        for (method, op) in [
            ("get", item.get.as_mut()),
            ("post", item.post.as_mut()),
            ("put", item.put.as_mut()),
            ("patch", item.patch.as_mut()),
            ("delete", item.delete.as_mut()),
        ]
        .into_iter()
        .filter_map(|(m, op)| Some((m, op?)))
        {
            declare_shared_answers(op, method);
            for response in op.responses.responses.values_mut() {
                let RefOr::T(response) = response else {
                    continue;
                };
                let is_problem = response.content.get("application/json").is_some_and(|c| {
                    matches!(&c.schema, Some(RefOr::Ref(r)) if r.ref_location.ends_with("/Problem"))
                });
                if is_problem && let Some(c) = response.content.shift_remove("application/json") {
                    response
                        .content
                        .insert(crate::error::PROBLEM_JSON.to_string(), c);
                }
            }
        }
    }
}
