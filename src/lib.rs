#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
pub mod auth;
pub mod caller;
pub mod cli;
pub mod config;
pub mod connections;
pub mod directory;
pub mod domain;
pub mod error;
pub mod keys;
pub mod secret;
pub mod security;
pub mod startup;
pub mod state;
pub mod store;
pub mod web;
