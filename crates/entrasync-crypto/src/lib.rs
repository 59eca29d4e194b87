//! ring as the process's crypto for rustls and jsonwebtoken.
//!
//! Both crates default to aws-lc-rs, whose C library (aws-lc-sys) was the longest single build
//! step of a cold release build. ring is smaller and already what rustls' webpki verifies with.
//! jsonwebtoken has no ring backend, so this crate supplies one through its `CryptoProvider`
//! hook: RS256/384/512 and PS256/384/512 signing and verification, and HS256/384/512. The rest
//! (ECDSA, EdDSA) is refused, as nothing in entrasync or fake-graph uses it.

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::{hmac, rand::SystemRandom, signature as sig};

/// Installs ring as the process-wide provider of rustls and jsonwebtoken. Idempotent; call it
/// before building an HTTP client or a TLS config and before signing or checking a JWT.
pub fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Either may already be installed by the embedding program: keep theirs.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let _ = JWT_PROVIDER.install_default();
    });
}

/// rustls' ring provider, for configs built with an explicit provider.
pub fn rustls_provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}

static JWT_PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    key_utils: KeyUtils::new_unimplemented(),
};

/// The signing encoding and the verification parameters of an RSA JWT algorithm.
fn rsa(alg: Algorithm) -> Option<(&'static dyn sig::RsaEncoding, &'static sig::RsaParameters)> {
    Some(match alg {
        Algorithm::RS256 => (&sig::RSA_PKCS1_SHA256, &sig::RSA_PKCS1_2048_8192_SHA256),
        Algorithm::RS384 => (&sig::RSA_PKCS1_SHA384, &sig::RSA_PKCS1_2048_8192_SHA384),
        Algorithm::RS512 => (&sig::RSA_PKCS1_SHA512, &sig::RSA_PKCS1_2048_8192_SHA512),
        Algorithm::PS256 => (&sig::RSA_PSS_SHA256, &sig::RSA_PSS_2048_8192_SHA256),
        Algorithm::PS384 => (&sig::RSA_PSS_SHA384, &sig::RSA_PSS_2048_8192_SHA384),
        Algorithm::PS512 => (&sig::RSA_PSS_SHA512, &sig::RSA_PSS_2048_8192_SHA512),
        _ => return None,
    })
}

fn hmac_alg(alg: Algorithm) -> Option<hmac::Algorithm> {
    match alg {
        Algorithm::HS256 => Some(hmac::HMAC_SHA256),
        Algorithm::HS384 => Some(hmac::HMAC_SHA384),
        Algorithm::HS512 => Some(hmac::HMAC_SHA512),
        _ => None,
    }
}

fn unsupported() -> Error {
    ErrorKind::InvalidAlgorithm.into()
}

struct RsaSigner {
    alg: Algorithm,
    encoding: &'static dyn sig::RsaEncoding,
    key: sig::RsaKeyPair,
}

struct HmacSigner {
    alg: Algorithm,
    key: hmac::Key,
}

fn new_signer(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    if let Some(h) = hmac_alg(*alg) {
        if key.family() != AlgorithmFamily::Hmac {
            return Err(ErrorKind::InvalidKeyFormat.into());
        }
        return Ok(Box::new(HmacSigner {
            alg: *alg,
            key: hmac::Key::new(h, key.as_bytes()),
        }));
    }
    let (encoding, _) = rsa(*alg).ok_or_else(unsupported)?;
    if key.family() != AlgorithmFamily::Rsa {
        return Err(ErrorKind::InvalidKeyFormat.into());
    }
    // jsonwebtoken keeps RSA private keys as PKCS#1 DER, whatever PEM they came from.
    let key = sig::RsaKeyPair::from_der(key.as_bytes())
        .map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()))?;
    Ok(Box::new(RsaSigner {
        alg: *alg,
        encoding,
        key,
    }))
}

impl Signer<Vec<u8>> for RsaSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let mut out = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(self.encoding, &SystemRandom::new(), msg, &mut out)
            .map_err(|_| signature::Error::new())?;
        Ok(out)
    }
}

impl JwtSigner for RsaSigner {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

impl Signer<Vec<u8>> for HmacSigner {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        Ok(hmac::sign(&self.key, msg).as_ref().to_vec())
    }
}

impl JwtSigner for HmacSigner {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

enum VerifyKey {
    Hmac(hmac::Key),
    /// PKCS#1 RSAPublicKey DER.
    RsaDer(&'static sig::RsaParameters, Vec<u8>),
    RsaComponents(&'static sig::RsaParameters, Vec<u8>, Vec<u8>),
}

struct AnyVerifier {
    alg: Algorithm,
    key: VerifyKey,
}

fn new_verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    let key = if let Some(h) = hmac_alg(*alg) {
        if key.family() != AlgorithmFamily::Hmac {
            return Err(ErrorKind::InvalidKeyFormat.into());
        }
        VerifyKey::Hmac(hmac::Key::new(h, key.try_get_as_bytes()?))
    } else {
        let (_, params) = rsa(*alg).ok_or_else(unsupported)?;
        if key.family() != AlgorithmFamily::Rsa {
            return Err(ErrorKind::InvalidKeyFormat.into());
        }
        match key.kind() {
            DecodingKeyKind::SecretOrDer(der) => VerifyKey::RsaDer(params, der.clone()),
            DecodingKeyKind::RsaModulusExponent { n, e } => {
                VerifyKey::RsaComponents(params, n.clone(), e.clone())
            }
        }
    };
    Ok(Box::new(AnyVerifier { alg: *alg, key }))
}

impl Verifier<Vec<u8>> for AnyVerifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        match &self.key {
            VerifyKey::Hmac(key) => hmac::verify(key, msg, signature),
            VerifyKey::RsaDer(params, der) => {
                sig::UnparsedPublicKey::new(*params, der).verify(msg, signature)
            }
            VerifyKey::RsaComponents(params, n, e) => {
                sig::RsaPublicKeyComponents { n, e }.verify(params, msg, signature)
            }
        }
        .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for AnyVerifier {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Header, Validation, decode, encode};

    fn claims() -> serde_json::Value {
        serde_json::json!({"sub": "x", "exp": jsonwebtoken::get_current_timestamp() + 60})
    }

    #[test]
    fn rsa_signs_and_verifies_and_refuses_a_tampered_token() {
        install();
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
        let enc = EncodingKey::from_rsa_pem(key.serialize_pem().as_bytes()).unwrap();
        let public = DecodingKey::from_rsa_pem(key.public_key_pem().as_bytes()).unwrap();
        for alg in [Algorithm::RS256, Algorithm::PS256, Algorithm::RS512] {
            let token = encode(&Header::new(alg), &claims(), &enc).unwrap();
            let got = decode::<serde_json::Value>(&token, &public, &Validation::new(alg));
            assert_eq!(got.unwrap().claims["sub"], "x", "{alg:?}");
            let mut bad = token.clone().into_bytes();
            let last = bad.len() - 2;
            bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
            let bad = String::from_utf8(bad).unwrap();
            let err = decode::<serde_json::Value>(&bad, &public, &Validation::new(alg));
            assert_eq!(
                err.unwrap_err().kind(),
                &ErrorKind::InvalidSignature,
                "{alg:?}"
            );
        }
    }

    #[test]
    fn hmac_round_trips_and_a_wrong_secret_fails() {
        install();
        let token = encode(
            &Header::default(),
            &claims(),
            &EncodingKey::from_secret(b"k1"),
        )
        .unwrap();
        let v = Validation::new(Algorithm::HS256);
        assert!(decode::<serde_json::Value>(&token, &DecodingKey::from_secret(b"k1"), &v).is_ok());
        let err = decode::<serde_json::Value>(&token, &DecodingKey::from_secret(b"k2"), &v);
        assert_eq!(err.unwrap_err().kind(), &ErrorKind::InvalidSignature);
    }

    #[test]
    fn algorithms_it_does_not_implement_are_refused_not_panicked() {
        install();
        let err = encode(
            &Header::new(Algorithm::ES256),
            &claims(),
            &EncodingKey::from_secret(b"k"),
        );
        assert!(err.is_err());
    }
}
