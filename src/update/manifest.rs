//! Signed update manifests.
//!
//! A release is a manifest (JSON: version, and per target triple the artifact's file name,
//! size in bytes and SHA-256) wrapped in an envelope that carries the manifest bytes verbatim
//! (base64), the signer's public key and an Ed25519 signature (RFC 8032,
//! <https://www.rfc-editor.org/rfc/rfc8032>) over `"hearth-update-manifest/1\n"` followed by
//! those bytes. Signing the exact bytes avoids any JSON canonicalisation; the domain prefix
//! keeps a Hearth update key from signing anything else by accident. Keys: a PKCS#8 v2
//! document (RFC 8410) for the secret, `ed25519:<base64 of 32 bytes>` for the public key.
//! Cryptography is ring's.

use super::UpdateError;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The envelope's `format` value.
pub const FORMAT: &str = "hearth-update/1";
const DOMAIN: &[u8] = b"hearth-update-manifest/1\n";
const SECRET_HEADER: &str = "hearth-update-secret-key/1";
/// Largest manifest envelope read, in bytes.
pub const MAX_ENVELOPE_BYTES: u64 = 1 << 20;

/// What a release contains.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The release version, SemVer (`0.2.0`, `1.0.0-rc1`), ordered by
    /// [`super::compare_versions`].
    pub version: String,
    /// When it was signed, Unix seconds.
    pub created_unix: u64,
    /// Artifacts by Rust target triple (e.g. `aarch64-unknown-linux-musl`).
    pub targets: BTreeMap<String, Artifact>,
}

/// One binary of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Artifact {
    /// File name relative to the manifest's location, or an absolute `http(s)://` URL.
    pub file: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
}

/// The signed file `hearth update --from` reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Always [`FORMAT`].
    pub format: String,
    /// The manifest's JSON bytes, base64.
    pub manifest: String,
    /// The signer's public key, `ed25519:<base64>`.
    pub key: String,
    /// The Ed25519 signature, base64 (64 bytes).
    pub signature: String,
}

/// An Ed25519 public key (32 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// Parses `ed25519:<base64>` (surrounding whitespace and `#` comment lines ignored).
    ///
    /// # Errors
    /// [`UpdateError::Invalid`] naming what is wrong.
    pub fn parse(text: &str) -> Result<PublicKey, UpdateError> {
        let line = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .unwrap_or("");
        let b64 = line.strip_prefix("ed25519:").ok_or_else(|| {
            UpdateError::Invalid(format!(
                "public key {line:?} does not start with \"ed25519:\""
            ))
        })?;
        let bytes = B64
            .decode(b64)
            .map_err(|e| UpdateError::Invalid(format!("public key is not base64: {e}")))?;
        let arr: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            UpdateError::Invalid(format!("public key has {} bytes, not 32", b.len()))
        })?;
        Ok(PublicKey(arr))
    }

    /// `ed25519:<base64>`.
    pub fn to_text(&self) -> String {
        format!("ed25519:{}", B64.encode(self.0))
    }

    /// Reads every `*.pub` file in `dir`.
    ///
    /// # Errors
    /// [`UpdateError::Io`] when the directory cannot be read, [`UpdateError::Invalid`] for a
    /// malformed key file (with its path).
    pub fn load_dir(dir: &Path) -> Result<Vec<PublicKey>, UpdateError> {
        let rd = std::fs::read_dir(dir).map_err(UpdateError::io(format!(
            "cannot read the trusted keys in {}",
            dir.display()
        )))?;
        let mut keys = Vec::new();
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "pub") {
                let text = std::fs::read_to_string(&p)
                    .map_err(UpdateError::io(format!("cannot read {}", p.display())))?;
                keys.push(PublicKey::parse(&text).map_err(|e| {
                    UpdateError::Invalid(format!("{}: {}", p.display(), e.message()))
                })?);
            }
        }
        Ok(keys)
    }
}

/// Generates a key pair: the secret key file's text (PKCS#8, base64) and the public key.
///
/// # Errors
/// [`UpdateError::Invalid`] if the system RNG fails.
pub fn keygen() -> Result<(String, PublicKey), UpdateError> {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| UpdateError::Invalid("the system random number generator failed".into()))?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|e| UpdateError::Invalid(format!("generated key rejected: {e}")))?;
    let public = PublicKey(
        pair.public_key()
            .as_ref()
            .try_into()
            .map_err(|_| UpdateError::Invalid("Ed25519 public key is not 32 bytes".into()))?,
    );
    let text = format!("{SECRET_HEADER}\n{}\n", B64.encode(pkcs8.as_ref()));
    Ok((text, public))
}

fn parse_secret(text: &str) -> Result<Ed25519KeyPair, UpdateError> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    if lines.next() != Some(SECRET_HEADER) {
        return Err(UpdateError::Invalid(format!(
            "not a Hearth update secret key (first line must be {SECRET_HEADER:?})"
        )));
    }
    let der = B64
        .decode(lines.next().unwrap_or(""))
        .map_err(|e| UpdateError::Invalid(format!("secret key is not base64: {e}")))?;
    Ed25519KeyPair::from_pkcs8(&der)
        .map_err(|e| UpdateError::Invalid(format!("secret key is not Ed25519 PKCS#8: {e}")))
}

/// Signs `manifest` with the secret key file's text; returns the envelope's JSON.
///
/// # Errors
/// [`UpdateError::Invalid`] for a malformed secret key.
pub fn sign(manifest: &Manifest, secret_key_text: &str) -> Result<String, UpdateError> {
    let pair = parse_secret(secret_key_text)?;
    let bytes = serde_json::to_vec_pretty(manifest)
        .map_err(|e| UpdateError::Invalid(format!("manifest: {e}")))?;
    let mut msg = DOMAIN.to_vec();
    msg.extend_from_slice(&bytes);
    let sig = pair.sign(&msg);
    let key = PublicKey(
        pair.public_key()
            .as_ref()
            .try_into()
            .map_err(|_| UpdateError::Invalid("public key is not 32 bytes".into()))?,
    );
    let env = Envelope {
        format: FORMAT.into(),
        manifest: B64.encode(&bytes),
        key: key.to_text(),
        signature: B64.encode(sig.as_ref()),
    };
    let mut out = serde_json::to_string_pretty(&env)
        .map_err(|e| UpdateError::Invalid(format!("envelope: {e}")))?;
    out.push('\n');
    Ok(out)
}

/// Checks an envelope against the trusted keys and returns its manifest.
///
/// # Errors
/// [`UpdateError::Signature`] when the key is not trusted or the signature does not verify;
/// [`UpdateError::Invalid`] for a malformed envelope or manifest (after the signature
/// passed, so nothing unsigned is ever parsed as a manifest).
pub fn verify(envelope_bytes: &[u8], trusted: &[PublicKey]) -> Result<Manifest, UpdateError> {
    let env: Envelope = serde_json::from_slice(envelope_bytes)
        .map_err(|e| UpdateError::Invalid(format!("not an update manifest envelope: {e}")))?;
    if env.format != FORMAT {
        return Err(UpdateError::Invalid(format!(
            "unknown envelope format {:?} (this Hearth reads {FORMAT:?})",
            env.format
        )));
    }
    let key = PublicKey::parse(&env.key)?;
    if !trusted.contains(&key) {
        return Err(UpdateError::Signature(format!(
            "signed by {}, which is not a trusted update key",
            key.to_text()
        )));
    }
    let bytes = B64
        .decode(&env.manifest)
        .map_err(|e| UpdateError::Invalid(format!("manifest is not base64: {e}")))?;
    let sig = B64
        .decode(&env.signature)
        .map_err(|e| UpdateError::Invalid(format!("signature is not base64: {e}")))?;
    let mut msg = DOMAIN.to_vec();
    msg.extend_from_slice(&bytes);
    UnparsedPublicKey::new(&ED25519, key.0)
        .verify(&msg, &sig)
        .map_err(|_| {
            UpdateError::Signature(format!(
                "the signature does not match the manifest (key {})",
                key.to_text()
            ))
        })?;
    let m: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| UpdateError::Invalid(format!("signed manifest is malformed: {e}")))?;
    for (t, a) in &m.targets {
        if a.sha256.len() != 64 || !a.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(UpdateError::Invalid(format!(
                "target {t}: sha256 {:?} is not 64 hex digits",
                a.sha256
            )));
        }
        if a.file.is_empty() || a.file.contains("..") {
            return Err(UpdateError::Invalid(format!(
                "target {t}: file {:?} is empty or climbs out of the release directory",
                a.file
            )));
        }
    }
    Ok(m)
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            version: "1.2.3".into(),
            created_unix: 1,
            targets: BTreeMap::from([(
                "aarch64-unknown-linux-musl".into(),
                Artifact {
                    file: "hearth-aarch64".into(),
                    size: 3,
                    sha256: sha256_hex(b"abc"),
                },
            )]),
        }
    }

    #[test]
    fn sign_verify_and_tamper() {
        let (secret, public) = keygen().unwrap();
        let env = sign(&manifest(), &secret).unwrap();
        assert_eq!(
            verify(env.as_bytes(), std::slice::from_ref(&public)).unwrap(),
            manifest()
        );
        // Another key is not trusted.
        let (_, other) = keygen().unwrap();
        let e = verify(env.as_bytes(), &[other]).unwrap_err();
        assert!(matches!(e, UpdateError::Signature(_)), "{e}");
        // A changed manifest fails the signature.
        let mut v: Envelope = serde_json::from_str(&env).unwrap();
        let mut m = manifest();
        m.version = "9.9.9".into();
        v.manifest = B64.encode(serde_json::to_vec_pretty(&m).unwrap());
        let e = verify(
            &serde_json::to_vec(&v).unwrap(),
            std::slice::from_ref(&public),
        )
        .unwrap_err();
        assert!(matches!(e, UpdateError::Signature(_)), "{e}");
        // Garbage.
        assert!(matches!(
            verify(b"{", std::slice::from_ref(&public)),
            Err(UpdateError::Invalid(_))
        ));
        assert_eq!(PublicKey::parse(&public.to_text()).unwrap(), public);
        assert!(PublicKey::parse("ed25519:AAAA").is_err());
        assert!(parse_secret("nope").is_err());
    }

    #[test]
    fn sha256_matches_the_standard_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
