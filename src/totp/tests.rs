use super::*;

/// The secret of RFC 6238 Appendix B's SHA-1 vectors: the ASCII bytes `12345678901234567890`.
fn rfc_secret() -> TotpSecret {
    TotpSecret(Zeroizing::new(b"12345678901234567890".to_vec()))
}

#[test]
fn codes_are_the_rfc_6238_vectors_cut_to_six_digits() {
    // RFC 6238 Appendix B (SHA-1, 8 digits): 94287082, 07081804, 14050471, 89005924; six digits
    // are the last six (RFC 4226 §5.3: the value modulo 10^6).
    let secret = rfc_secret();
    for (time, code) in [
        (59, "287082"),
        (1_111_111_109, "081804"),
        (1_111_111_111, "050471"),
        (1_234_567_890, "005924"),
    ] {
        assert_eq!(secret.code_at(time), code, "at {time}");
        assert_eq!(
            check(&secret, code, time, None),
            Check::Accepted {
                step: time / STEP_SECS
            }
        );
    }
}

#[test]
fn the_parameters_pass_the_crates_own_rfc_checks() {
    let secret = TotpSecret::generate();
    assert_eq!(secret.0.len(), SECRET_BYTES);
    let built = Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS as u8)
        .with_skew(SKEW_STEPS)
        .with_step_duration(STEP_SECS)
        .with_secret(secret.0.to_vec())
        .with_account_name("alice@example.com")
        .with_issuer(Some(ISSUER))
        .build()
        .unwrap();
    assert_eq!(built, totp(&secret, "alice@example.com"));
}

#[test]
fn adjacent_steps_are_accepted_and_farther_ones_are_not() {
    let secret = TotpSecret::generate();
    let now = 1_800_000_015; // 15 s into step 60 000 000.
    let step = now / STEP_SECS;
    let code_of = |s: u64| secret.code_at(s * STEP_SECS);
    assert_eq!(
        check(&secret, &code_of(step), now, None),
        Check::Accepted { step }
    );
    // The phone's clock a step behind or ahead.
    for near in [step - 1, step + 1] {
        let code = code_of(near);
        assert_eq!(
            check(&secret, &code, now, None),
            Check::Accepted { step: near },
            "step {near}"
        );
    }
    for far in [step - 2, step + 2, step - 100] {
        let code = code_of(far);
        if [step - 1, step, step + 1]
            .iter()
            .all(|s| code_of(*s) != code)
        {
            assert_eq!(check(&secret, &code, now, None), Check::Wrong, "step {far}");
        }
    }
}

#[test]
fn a_step_is_accepted_once() {
    let secret = TotpSecret::generate();
    let now = 1_800_000_000;
    let step = now / STEP_SECS;
    let code = secret.code_at(now);
    assert_eq!(check(&secret, &code, now, None), Check::Accepted { step });
    // The same code again, even 20 s later in the same step, or a step earlier's.
    assert_eq!(check(&secret, &code, now + 20, Some(step)), Check::Replayed);
    let earlier = secret.code_at(now - STEP_SECS);
    if earlier != code {
        assert_eq!(check(&secret, &earlier, now, Some(step)), Check::Replayed);
    }
    // The next step's code is new.
    let next = now + STEP_SECS;
    assert_eq!(
        check(&secret, &secret.code_at(next), next, Some(step)),
        Check::Accepted { step: step + 1 }
    );
}

#[test]
fn anything_but_six_digits_is_malformed() {
    let secret = rfc_secret();
    for text in [
        "",
        "28708",
        "2870820",
        "28708a",
        "+28708",
        "287 082",
        "２８７０８２",
        "-28708",
    ] {
        assert_eq!(check(&secret, text, 59, None), Check::Malformed, "{text:?}");
    }
}

#[test]
fn typed_second_factors_are_codes_or_recovery_codes() {
    assert_eq!(
        SecondFactor::parse(" 123 456 "),
        Some(SecondFactor::Code("123456".into()))
    );
    let code = recovery::generate().remove(0);
    let typed = code.expose().to_uppercase().replace('-', " ");
    assert_eq!(
        SecondFactor::parse(&typed),
        Some(SecondFactor::Recovery(Secret::new(
            code.expose().replace('-', "")
        )))
    );
    for text in ["12345", "1234567", "abcd-efgh", "abcd-efgh-jkmn-pqr0", ""] {
        assert_eq!(SecondFactor::parse(text), None, "{text:?}");
    }
}

#[test]
fn recovery_codes_are_distinct_well_formed_and_hashed_per_user() {
    let codes = recovery::generate();
    assert_eq!(codes.len(), recovery::COUNT);
    let mut seen = std::collections::HashSet::new();
    for code in &codes {
        let text = code.expose();
        assert_eq!(text.len(), recovery::CODE_CHARS + 3, "{text}");
        assert_eq!(text.matches('-').count(), 3, "{text}");
        assert!(seen.insert(text.to_string()), "twice: {text}");
        assert!(recovery::normalize(text).is_some(), "{text}");
    }
    let code = recovery::normalize(codes[0].expose()).unwrap();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    assert_eq!(recovery::hash(a, &code), recovery::hash(a, &code));
    assert_ne!(recovery::hash(a, &code), recovery::hash(b, &code));
    assert_eq!(recovery::hash(a, &code).len(), 64);
}

#[test]
fn the_enrolment_uri_names_testum_and_the_user_and_the_qr_code_is_svg() {
    let secret = rfc_secret();
    let enrolment = enrolment(&secret, "alice@example.com").unwrap();
    assert_eq!(
        enrolment.secret.expose(),
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    );
    assert_eq!(
        enrolment.uri.expose(),
        "otpauth://totp/testum:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=testum"
    );
    let svg = enrolment.qr_svg.expose();
    assert!(
        svg.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""),
        "{svg}"
    );
    assert!(svg.ends_with("</svg>"), "{svg}");
    assert!(
        !format!("{enrolment:?}").contains("GEZDG"),
        "Debug hides it"
    );
    assert!(!format!("{secret:?}").contains("1234"));
}

#[test]
fn sealed_secrets_open_only_for_their_row_and_user() {
    let key = MasterKey::generate();
    let secret = TotpSecret::generate();
    let (row, user) = (Uuid::new_v4(), Uuid::new_v4());
    let sealed = seal(&key, row, user, &secret);
    assert_eq!(open(&key, row, user, &sealed).unwrap().0, secret.0);
    assert!(open(&key, Uuid::new_v4(), user, &sealed).is_err());
    assert!(open(&key, row, Uuid::new_v4(), &sealed).is_err());
}

#[test]
fn the_policy_covers_admins_everyone_or_the_flagged() {
    use RequireTotpFor::{Admin, All, None};
    assert!(!None.requires(Some(Role::Admin), false));
    assert!(None.requires(Some(Role::Viewer), true));
    assert!(Admin.requires(Some(Role::Admin), false));
    assert!(!Admin.requires(Some(Role::Operator), false));
    assert!(!Admin.requires(Option::None, false));
    assert!(Admin.requires(Some(Role::Operator), true));
    assert!(All.requires(Option::None, false));
}
