//! The minimal meeting page (`server/web/`): plain HTML + JS embedded in the binary, so the
//! server serves it from any working directory. Outside the OpenAPI table on purpose, like
//! `/ws`: it is a page, not an API. Tokens travel in the URL fragment, which never reaches
//! the server or its logs.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

const MEETING_HTML: &str = include_str!("../../web/meeting.html");
const MEETING_JS: &str = include_str!("../../web/meeting.js");

/// The page may load only its own script and talk only to its own origin (the socket).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; \
                   connect-src 'self'; media-src 'self' blob: mediastream:; img-src 'self' data:; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn page(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body)
}

async fn meeting_html() -> HttpResponse {
    page("text/html; charset=utf-8", MEETING_HTML)
}

async fn meeting_js() -> HttpResponse {
    page("text/javascript; charset=utf-8", MEETING_JS)
}

/// `GET /meet` (the page) and `GET /meet/meeting.js`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/meet").route(web::get().to(meeting_html)))
        .service(web::resource("/meet/meeting.js").route(web::get().to(meeting_js)));
}
