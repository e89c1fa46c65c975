//! Thin handlers: extract, authorize, call a service, map to a proto response.

pub mod audit;
pub mod auth;
pub mod compliance;
pub mod grants;
pub mod me;
pub mod meet;
pub mod meetings;
pub mod members;
pub mod migrants;
pub mod minutes;
pub mod motions;
pub mod notices;
pub mod ops;
pub mod orgs;
pub mod services;
pub mod signaling;
pub mod transfers;

use utoipa_actix_web::service_config::ServiceConfig;

/// Everything under `/api/v1`.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.configure(orgs::configure);
    cfg.configure(grants::configure);
    cfg.configure(audit::configure);
    cfg.configure(members::configure);
    cfg.configure(auth::configure);
    cfg.configure(me::configure);
    cfg.configure(meetings::configure);
    cfg.configure(motions::configure);
    cfg.configure(minutes::configure);
    cfg.configure(compliance::configure);
    cfg.configure(notices::configure);
    cfg.configure(transfers::configure);
    cfg.configure(migrants::configure);
    cfg.configure(signaling::configure);
    cfg.configure(services::configure);
}
