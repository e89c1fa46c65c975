//! Unknown routes, wrong methods, and any error response not already problem+json.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ResourceDef, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use hongying_proto::Problem;
use tracing_actix_web::RequestId;

use crate::error::{AppError, PROBLEM_JSON, problem_response};

/// Every route pattern with its methods, taken from the generated OpenAPI document (so it
/// cannot drift from the routes), to tell a wrong method (405) from an unknown path (404).
#[derive(Debug, Default)]
pub struct RouteTable {
    routes: Vec<(ResourceDef, Vec<String>)>,
}

impl RouteTable {
    pub fn from_openapi(api: &utoipa::openapi::OpenApi) -> Self {
        let mut routes = Vec::new();
        for (path, item) in &api.paths.paths {
            let mut methods: Vec<String> = Vec::new();
            let ops = [
                ("GET", item.get.is_some()),
                ("POST", item.post.is_some()),
                ("PUT", item.put.is_some()),
                ("PATCH", item.patch.is_some()),
                ("DELETE", item.delete.is_some()),
            ];
            for (name, present) in ops {
                if present {
                    methods.push(name.to_string());
                }
            }
            routes.push((ResourceDef::new(path.as_str()), methods));
        }
        Self { routes }
    }

    pub fn add(&mut self, pattern: &str, methods: &[&str]) {
        self.routes.push((
            ResourceDef::new(pattern),
            methods.iter().map(|m| m.to_string()).collect(),
        ));
    }

    /// The methods a path supports, or `None` when no route has this path.
    pub fn allowed(&self, path: &str) -> Option<Vec<String>> {
        let mut allowed: Vec<String> = Vec::new();
        let mut matched = false;
        for (def, methods) in &self.routes {
            if def.is_match(path) {
                matched = true;
                for m in methods {
                    if !allowed.contains(m) {
                        allowed.push(m.clone());
                    }
                }
            }
        }
        matched.then_some(allowed)
    }
}

/// The app's default service: 405 with `Allow` for a known path, 404 otherwise.
pub async fn no_route(req: HttpRequest, table: web::Data<RouteTable>) -> HttpResponse {
    match table.allowed(req.path()) {
        Some(allow) if !allow.is_empty() => AppError::MethodNotAllowed { allow }.error_response(),
        _ => AppError::NotFound.error_response(),
    }
}

/// Turns any error response that is not problem+json (actix's own 400s, a panic caught
/// as 500, …) into one, and stamps the request id into every problem body.
pub async fn problem_fallback(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let request_id = req.extensions().get::<RequestId>().map(|r| r.to_string());
    let res = match next.call(req).await {
        Ok(res) => res,
        Err(err) => {
            // An error that escaped every handler: render it as the service would.
            return Err(err);
        }
    };
    let status = res.status();
    if status.as_u16() < 400 {
        return Ok(res.map_into_boxed_body());
    }
    let content_type = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let is_problem = content_type.starts_with(PROBLEM_JSON);
    // A deliberate JSON error body (readiness answers 503 with its checks) is kept, and so
    // is a page rendered for a browser (a forged letter's QR code opens one). Nothing
    // actix renders by itself is HTML, so this lets no framework text through.
    if !is_problem
        && (content_type.starts_with("application/json") || content_type.starts_with("text/html"))
    {
        return Ok(res.map_into_boxed_body());
    }
    let (req, res) = res.into_parts();
    let (head, body) = res.into_parts();
    let bytes = actix_web::body::to_bytes(body).await.unwrap_or_default();
    let mut problem = if is_problem {
        serde_json::from_slice::<Problem>(&bytes).unwrap_or_else(|_| generic(status).problem())
    } else {
        generic(status).problem()
    };
    if problem.request_id.is_none() {
        problem.request_id = request_id;
    }
    let mut out = problem_response(&problem);
    *out.status_mut() = head.status();
    for (name, value) in head.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    Ok(ServiceResponse::new(req, out))
}

fn generic(status: StatusCode) -> AppError {
    match status.as_u16() {
        404 => AppError::NotFound,
        405 => AppError::MethodNotAllowed { allow: Vec::new() },
        413 => AppError::PayloadTooLarge { limit: 0 },
        415 => AppError::UnsupportedMediaType,
        429 => AppError::RateLimited {
            retry_after_secs: 1,
        },
        503 => AppError::Unavailable(String::new()),
        s if s >= 500 => AppError::Internal(anyhow::anyhow!("unrendered {status} response")),
        _ => AppError::BadRequest("请求无效。".into()),
    }
}
