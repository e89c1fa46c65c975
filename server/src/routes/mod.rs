//! Thin handlers: extract, authorize, call a service, map to a proto response.

pub mod ops;

use utoipa_actix_web::service_config::ServiceConfig;

/// Everything under `/api/v1`.
pub fn configure(_cfg: &mut ServiceConfig) {}
