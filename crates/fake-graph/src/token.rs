//! Opaque, tamper-evident tokens for `$skiptoken` and `$deltatoken`: the JSON payload is XORed with
//! a SHA-256 keystream and authenticated, so clients can neither read nor forge positions (Graph's
//! page tokens are opaque too).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};

fn keystream(key: &[u8; 32], nonce: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut counter = 0u32;
    while out.len() < len {
        let mut h = Sha256::new();
        h.update(key);
        h.update(nonce);
        h.update(counter.to_le_bytes());
        out.extend_from_slice(&h.finalize());
        counter += 1;
    }
    out.truncate(len);
    out
}

fn mac(key: &[u8; 32], nonce: &[u8], ct: &[u8]) -> [u8; 10] {
    let mut h = Sha256::new();
    h.update(b"mac");
    h.update(key);
    h.update(nonce);
    h.update(ct);
    let d = h.finalize();
    let mut m = [0u8; 10];
    m.copy_from_slice(&d[..10]);
    m
}

pub fn seal<T: Serialize>(key: &[u8; 32], nonce_seed: u64, payload: &T) -> String {
    let plain = serde_json::to_vec(payload).unwrap_or_default();
    let nonce = nonce_seed.to_le_bytes();
    let ks = keystream(key, &nonce, plain.len());
    let ct: Vec<u8> = plain.iter().zip(ks).map(|(a, b)| a ^ b).collect();
    let mut out = Vec::with_capacity(8 + ct.len() + 10);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out.extend_from_slice(&mac(key, &nonce, &ct));
    URL_SAFE_NO_PAD.encode(out)
}

pub fn open<T: DeserializeOwned>(key: &[u8; 32], token: &str) -> Option<T> {
    let raw = URL_SAFE_NO_PAD.decode(token.trim()).ok()?;
    if raw.len() < 18 {
        return None;
    }
    let (nonce, rest) = raw.split_at(8);
    let (ct, tag) = rest.split_at(rest.len() - 10);
    if mac(key, nonce, ct) != tag {
        return None;
    }
    let ks = keystream(key, nonce, ct.len());
    let plain: Vec<u8> = ct.iter().zip(ks).map(|(a, b)| a ^ b).collect();
    serde_json::from_slice(&plain).ok()
}
