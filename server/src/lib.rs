//! The Hongying server: configuration, the REST API, stores and the binary's commands.

pub mod accounts;
pub mod app;
pub mod auth;
pub mod authz;
pub mod cli;
pub mod compliance;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod grants;
pub mod http;
pub mod import;
pub mod meetings;
pub mod members;
pub mod minutes;
pub mod motions;
pub mod notices;
pub mod openapi;
pub mod orgs;
pub mod routes;
pub mod seed;
pub mod signaling;
pub mod state;
pub mod store;
pub mod telemetry;
