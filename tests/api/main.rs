//! Integration tests over real HTTP, each run on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod abuse;
mod assets;
mod audit;
mod auth;
mod cli;
mod concurrency;
pub mod connections;
mod exec;
mod faults;
mod hangups;
mod helpers;
mod history;
mod identity;
mod in_flight;
mod key_list;
mod key_usage;
mod keys;
mod layering;
mod lifecycle;
pub mod mcp;
mod metrics;
mod openapi;
mod proxies;
mod replicas;
mod secrets;
mod startup;
mod telemetry;
mod unknown_keys;
mod usage;
mod validation;
mod watchdog;
mod web;
mod webhooks;
