//! Shared harness of the integration tests: a real OpenSSH server and a throw-away unix user per
//! test (see [`sshd`]). Use it with `mod common;` from any file in `tests/`.

// Each test binary uses a different part of the harness.
#![allow(dead_code, unused_imports)]

pub mod sshd;

pub use sshd::{ClientKey, KeyKind, Sshd, TestHost, TestUser};
