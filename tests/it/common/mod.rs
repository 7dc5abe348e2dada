//! Shared harness of the integration tests: a real OpenSSH server and a throw-away unix user per
//! test (see [`sshd`]). Use it with `mod common;` from any file in `tests/`.

// Each test binary uses a different part of the harness.
#![allow(dead_code, unused_imports)]

pub mod oidc;
pub mod slapd;
pub mod sshd;

pub use sshd::{ClientKey, KeyKind, Sshd, TestHost, TestUser};

/// A loopback port with nothing listening on it (connections are refused): a platform there is
/// unreachable. The port is free again once this returns; a test that needs it to stay closed
/// must not start servers on random ports meanwhile (the kernel rarely hands it out again so
/// soon).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
