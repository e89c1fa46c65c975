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
    ),
    components(schemas(hongying_proto::Problem, hongying_proto::FieldError, hongying_proto::ErrorCode))
)]
pub struct ApiDoc;
