//! Enums whose values are fixed lowercase words, stored as text in the database and spelled the
//! same in the API (`tofu`, `private_key`, `deploy_keys`, ...). [`words!`](crate::words!)
//! defines one: the enum (serde and OpenAPI use the words), `as_str`, `Display` and `FromStr`
//! whose error lists the words. The store decodes every such column through `FromStr`, so a
//! value it does not know is an error ([`crate::store::StoreError::Corrupt`]), never a default.

/// A word that is not one of an enum's values; displays as "must be one of a, b".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be one of {}", .expected.join(", "))]
pub struct UnknownWord {
    /// The accepted words.
    pub expected: &'static [&'static str],
}

/// Define `enum $name { $variant => "word", ... }` as described in the module documentation.
///
/// The words are `tt`, not `literal`: a `literal` fragment reaches utoipa's derive wrapped in an
/// invisible group, which it does not read as `#[serde(rename)]`, so the OpenAPI document listed
/// the variant names (`PrivateKey`) instead of the words (`private_key`).
#[macro_export]
macro_rules! words {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $word:tt ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash,
            serde::Serialize, serde::Deserialize, utoipa::ToSchema,
        )]
        $vis enum $name {
            $( $(#[$vmeta])* #[serde(rename = $word)] $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word stored in the database and used in the API.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::words::UnknownWord;

            fn from_str(s: &str) -> Result<$name, $crate::words::UnknownWord> {
                match s {
                    $($word => Ok($name::$variant),)+
                    _ => Err($crate::words::UnknownWord {
                        expected: &[$($word),+],
                    }),
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::words! {
        /// Two words for the test.
        enum Sample {
            First => "first_word",
            Second => "second",
        }
    }

    #[test]
    fn serde_and_openapi_use_the_words() {
        assert_eq!(
            serde_json::to_value(Sample::First).unwrap(),
            serde_json::json!("first_word")
        );
        let schema = serde_json::to_value(<Sample as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(
            schema["enum"],
            serde_json::json!(["first_word", "second"]),
            "{schema}"
        );
        assert_eq!("second".parse::<Sample>(), Ok(Sample::Second));
        assert_eq!(Sample::ALL.len(), 2);
    }
}
