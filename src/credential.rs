//! A platform's login credential as stored: JSON sealed under the master key with the platform's
//! id as associated data (see [`crate::crypto`]).

use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::crypto::{CryptoError, MasterKey};
use crate::secret::Secret;
use crate::ssh::Credential;

#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    private_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    passphrase: Option<String>,
}

impl Drop for Stored {
    fn drop(&mut self) {
        use zeroize::Zeroize as _;
        self.password.zeroize();
        self.private_key.zeroize();
        self.passphrase.zeroize();
    }
}

/// Associated data binding a sealed credential to its platform row.
pub(crate) fn aad(platform: Uuid) -> Vec<u8> {
    format!("platform:{platform}:credential").into_bytes()
}

/// Seal `credential` for platform `platform`.
pub fn seal(key: &MasterKey, platform: Uuid, credential: &Credential) -> Vec<u8> {
    let stored = match credential {
        Credential::Password(p) => Stored {
            password: Some(p.expose().to_string()),
            private_key: None,
            passphrase: None,
        },
        Credential::PrivateKey {
            private_key,
            passphrase,
        } => Stored {
            password: None,
            private_key: Some(private_key.expose().to_string()),
            passphrase: passphrase.as_ref().map(|p| p.expose().to_string()),
        },
    };
    let json = Zeroizing::new(serde_json::to_vec(&stored).unwrap_or_default());
    key.seal(&json, &aad(platform))
}

/// Open the sealed credential of platform `platform`.
pub fn open(key: &MasterKey, platform: Uuid, sealed: &[u8]) -> Result<Credential, CryptoError> {
    let json = key.open(sealed, &aad(platform))?;
    let mut stored: Stored = serde_json::from_slice(&json).map_err(|_| CryptoError::Damaged)?;
    match (stored.password.take(), stored.private_key.take()) {
        (Some(password), None) => Ok(Credential::Password(Secret::new(password))),
        (None, Some(private_key)) => Ok(Credential::PrivateKey {
            private_key: Secret::new(private_key),
            passphrase: stored.passphrase.take().map(Secret::new),
        }),
        _ => Err(CryptoError::Damaged),
    }
}
