//! The options field of an authorized_keys line: sshd's grammar (`parse_options`), the
//! structured form the API takes (`KeyOptions`) and rendering back.
//!
//! Invariants: nothing panics; parsed options rendered one by one (`render_option`) and joined
//! with commas parse back to the same options (a value with a control character may be refused,
//! nothing else); a `KeyOptions` read from a field renders to a field that parses back to it,
//! whenever its values pass the render checks, and that field is one whole options field of a
//! line (`split_options_field` does not cut it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use testum::authorized_keys::{KeyOptions, parse_options, render_option, split_options_field};

fuzz_target!(|field: &str| {
    if let Ok(options) = parse_options(field) {
        let rendered: Result<Vec<String>, _> = options
            .iter()
            .map(|o| render_option(&o.name, o.value.as_deref()))
            .collect();
        match rendered {
            Ok(items) => {
                let joined = items.join(",");
                assert_eq!(
                    parse_options(&joined).as_ref(),
                    Ok(&options),
                    "rendered options parse to other options"
                );
            }
            Err(e) => assert!(
                options.iter().any(|o| o
                    .value
                    .as_deref()
                    .is_some_and(|v| v.contains(char::is_control))),
                "render_option refused a parsed option: {e}"
            ),
        }
    }

    let Ok(parsed) = KeyOptions::parse(field) else {
        return;
    };
    match parsed.render() {
        Ok(None) => assert!(parsed.is_empty()),
        Ok(Some(rendered)) => {
            assert_eq!(KeyOptions::parse(&rendered).as_ref(), Ok(&parsed));
            let line = format!("{rendered} ssh-ed25519 AAAA");
            assert_eq!(
                split_options_field(&line).map(|(opts, _)| opts),
                Ok(rendered.as_str()),
                "the rendered field is not one options field"
            );
        }
        Err(e) => assert_ne!(
            e.option, "options",
            "a parsed field cannot be rendered back: {e}"
        ),
    }
});
