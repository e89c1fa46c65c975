//! The Hongying server: configuration, the REST API, stores and the binary's commands.

pub mod app;
pub mod auth;
pub mod authz;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod http;
pub mod openapi;
pub mod routes;
pub mod state;
pub mod store;
pub mod telemetry;
