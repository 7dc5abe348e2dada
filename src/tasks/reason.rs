//! Why a target failed, without what names its platform, so that targets failing the same way
//! read as one reason: the task page groups them by it (with their output), and `testum tasks
//! show` counts them by it.

/// The reason of a target's `error`: its first and last `": "`-separated parts when it has more
/// than two (`connection failed: 10.0.0.5:22: Connection refused` → `connection failed:
/// Connection refused`), its first when it has two (`host key changed: pinned ..., presented ...`
/// → `host key changed`), else the whole error.
pub fn failure_reason(error: &str) -> String {
    let parts: Vec<&str> = error.split(": ").collect();
    match parts.as_slice() {
        [first, .., last] if parts.len() > 2 => format!("{first}: {last}"),
        [first, _] => (*first).to_string(),
        _ => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::failure_reason;

    #[test]
    fn the_address_is_left_out_of_a_reason() {
        assert_eq!(
            failure_reason("connection failed: 10.0.0.5:22: Connection refused"),
            "connection failed: Connection refused"
        );
        assert_eq!(
            failure_reason("host key changed: pinned SHA256:a, presented ssh-ed25519 SHA256:b"),
            "host key changed"
        );
        assert_eq!(failure_reason("timed out"), "timed out");
    }
}
