//! Recovery codes: [`COUNT`] single-use codes handed out once when TOTP is turned on, for the day
//! the authenticator app is lost.
//!
//! A code is [`CODE_CHARS`] characters from a 32-letter alphabet without look-alikes (no `0`,
//! `1`, `l`, `o`), so 80 random bits, shown as four groups of four (`abcd-efgh-jkmn-pqrs`). What
//! is typed is read without case, dashes or spaces. Only [`hash`] of a code is stored: a random
//! 80-bit secret needs no slow hash (as API tokens, see [`crate::opaque_token`]), and the user id
//! in the hashed text keeps two users' equal codes apart.

use rand::Rng as _;
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::secret::Secret;

/// Codes handed out at once.
pub const COUNT: usize = 10;
/// Characters of a code, without its dashes.
pub const CODE_CHARS: usize = 16;
/// The letters a code is made of (32, so each carries 5 bits).
const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";

/// [`COUNT`] new codes, as shown to the user (`abcd-efgh-jkmn-pqrs`).
pub fn generate() -> Vec<Secret> {
    let mut rng = rand::rng();
    (0..COUNT)
        .map(|_| {
            let chars: Vec<char> = (0..CODE_CHARS)
                .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
                .collect();
            let groups: Vec<String> = chars.chunks(4).map(|g| g.iter().collect()).collect();
            Secret::new(groups.join("-"))
        })
        .collect()
}

/// A typed recovery code without case, dashes and spaces; `None` unless that leaves exactly
/// [`CODE_CHARS`] letters of the alphabet.
pub fn normalize(text: &str) -> Option<Secret> {
    let code: String = text
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let valid = code.len() == CODE_CHARS && code.bytes().all(|b| ALPHABET.contains(&b));
    valid.then(|| Secret::new(code))
}

/// The stored form of code `normalized` (see [`normalize`]) of user `user`: SHA-256 of
/// `<user id>:<code>`, lowercase hex.
pub fn hash(user: Uuid, normalized: &Secret) -> String {
    crate::opaque_token::hash(&Zeroizing::new(format!("{user}:{}", normalized.expose())))
}
