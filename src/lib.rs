#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
// An `unsafe fn`'s body is not one unsafe block: each operation says why it is sound.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod api;
pub mod audit;
pub mod auth;
pub mod caller;
pub mod cli;
pub mod clock;
pub mod config;
pub mod connections;
pub mod directory;
pub mod domain;
pub mod error;
pub mod keys;
pub mod policy;
pub mod secret;
pub mod security;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod web;
pub mod webhooks;
pub mod wire;
