//! Integration tests: every test starts a real fake-graph on 127.0.0.1 and talks HTTP to it.

mod admin;
mod auth;
mod batch;
mod changes;
mod cli;
mod common;
mod delta;
mod endpoints;
mod examples;
mod fidelity;
mod generation;
mod odata;
mod pinned;
mod throttle;
