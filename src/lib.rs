//! testum: a self-hosted SSH key and fleet-command service.
//!
//! The pure core ([`authorized_keys`], [`keys`]) has no I/O and carries most tests. The shell around
//! it is the SSH engine ([`ssh`], [`deploy`]), the store ([`store`]), the task queue and workers
//! ([`tasks`]), the HTTP/WebSocket API ([`api`]), the web UI ([`ui`]) and the command line ([`cli`]).

pub mod admin;
pub mod api;
pub mod archive;
pub mod audit_key;
pub mod authorized_keys;
pub mod backup;
pub mod cli;
pub mod client;
pub mod config;
pub mod credential;
pub mod crypto;
pub mod deploy;
pub mod doctor;
pub mod grants;
pub mod import;
pub mod keys;
pub mod known_hosts;
pub mod ldap;
mod master_key_check;
pub mod metrics;
pub mod notify;
pub mod oidc;
pub mod opaque_token;
#[cfg(test)]
mod peer_vectors;
pub mod role;
pub mod schedule;
pub mod secret;
pub mod selector;
pub mod server;
pub mod shell;
pub mod ssh;
pub mod store;
pub mod tasks;
pub mod totp;
pub mod ui;
pub mod validate;
pub mod words;
