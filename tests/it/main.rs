//! testum's integration tests, in one binary: each module is one area, run against real
//! OpenSSH `sshd` servers on 127.0.0.1, a real database (SQLite, or PostgreSQL when
//! `TESTUM_TEST_DATABASE_URL` is set), real `testum` processes and headless Chromium. One
//! binary instead of one per file links once, which cuts the suite's build time by minutes.
//! Everything here shares one process: a test must not change process-wide state (the working
//! directory, environment variables, the global tracing subscriber) except through a helper
//! that is safe for the others ([`logs`]).

// Tests and benchmarks may unwrap, expect and panic: a failure is the point (Cargo.toml [lints]).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod app;
mod browser;
mod cluster;
mod common;
mod counting;
mod logs;
mod moto;

mod api_access;
mod api_basics;
mod api_hardening;
mod api_import;
mod api_known_hosts;
mod api_sessions;
mod api_ssh;
mod audit_chain;
mod backup;
mod cli;
mod cli_import;
mod deploy_remote;
mod doctor;
mod faults;
mod fleet_scale;
mod grants;
mod key_options;
mod keys_matrix;
mod ldap;
mod metrics;
mod notifications;
mod oidc;
mod output_archive;
mod peer_vectors;
mod platform_files;
mod platform_list;
mod rotation;
mod scale_out;
mod scan_access;
mod scan_cases;
mod schedules;
mod schemathesis;
mod secrets;
mod selectors;
mod ship;
mod ssh_engine;
mod task_targets;
mod totp;
mod ui_browser;
mod ui_grants;
mod ui_host_keys;
mod ui_import;
mod ui_keys_audit;
mod ui_narrow;
mod ui_platforms;
mod ui_tokens;
mod ui_totp;
mod upgrade;
