//! The hash chain and the signed checkpoints of the evidence log: what
//! makes an edit, a removal, a reordering or a truncation of the log
//! visible (see `docs/evidence.md` for the format, and
//! [`super::verify`] for the check).
//!
//! Every line of the log begins with its place in the chain:
//!
//! ```text
//! {"chain":{"n":1042,"prev":"sha256:<hex>"},"schema":"witness.evidence/1",...}
//! ```
//!
//! `n` counts lines from the chain's first (1), across rotations and
//! restarts; `prev` is the previous line's hash ([`hash`]: SHA-256 over
//! its position, its own `prev` and the digest of the rest of its bytes),
//! `null` on the first line of a chain. Every so often a
//! `"record":"checkpoint"` line states the kernel's counters and the
//! configuration in force and is signed with the collector's Ed25519 key:
//! its last two members are `"key":"ed25519:<base64>"` and
//! `"signature":"<base64>"`, and the signature covers the line's bytes
//! with the `,"signature":...` member removed. A checkpoint's `prev`
//! covers every line before it, so one signature vouches for the whole
//! chain up to it.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};
use thiserror::Error;

/// A line's hash.
pub type Hash = [u8; 32];

/// A line's hash in the chain: SHA-256 over a domain tag, its position,
/// its `prev` (32 zero bytes for `null`) and the SHA-256 of the rest of
/// the line (its bytes after the `chain` member and its comma). Binding
/// position and `prev` outside the rest's digest lets a bundle replace a
/// line it must not disclose by `{"chain":{...},"redacted":"sha256:<the
/// rest's digest>"}` and still be verified ([`redacted`]). A line without
/// a chain prefix gets the plain SHA-256 of its bytes (it fails
/// verification anyway).
pub fn hash(line: &[u8]) -> Hash {
    match split(line) {
        Some((n, prev, rest)) => {
            let digest = redacted_digest(rest).unwrap_or_else(|| Sha256::digest(rest).into());
            link_hash(n, prev.as_ref(), &digest)
        }
        None => Sha256::digest(line).into(),
    }
}

fn link_hash(n: u64, prev: Option<&Hash>, rest: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(b"witness.chain/1\0");
    h.update(n.to_be_bytes());
    h.update(prev.unwrap_or(&[0; 32]));
    h.update(rest);
    h.finalize().into()
}

/// A line's position, `prev` and the rest of its bytes, if it begins with
/// a chain prefix exactly as [`Head::write_link`] writes it.
pub fn split(line: &[u8]) -> Option<(u64, Option<Hash>, &[u8])> {
    let rest = line.strip_prefix(b"{\"chain\":{\"n\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let n: u64 = std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()?;
    let rest = rest[digits..].strip_prefix(b",\"prev\":")?;
    let (prev, rest) = if let Some(rest) = rest.strip_prefix(b"null") {
        (None, rest)
    } else {
        let rest = rest.strip_prefix(b"\"sha256:")?;
        let hex = rest.get(..64)?;
        (Some(unhex(hex)?), rest[64..].strip_prefix(b"\"")?)
    };
    Some((n, prev, rest.strip_prefix(b"},")?))
}

/// The digest a redacted line's rest states: `"redacted":"sha256:<hex>"}`.
fn redacted_digest(rest: &[u8]) -> Option<Hash> {
    let hex = rest.strip_prefix(b"\"redacted\":\"sha256:")?.strip_suffix(b"\"}")?;
    (hex.len() == 64).then(|| unhex(hex)).flatten()
}

/// `line` with everything but its chain prefix replaced by the digest of
/// what it held: the line a bundle gives for events it must not disclose.
/// None for a line without a chain prefix.
pub fn redacted(line: &[u8]) -> Option<Vec<u8>> {
    let (_, _, rest) = split(line)?;
    let digest = redacted_digest(rest).unwrap_or_else(|| Sha256::digest(rest).into());
    let mut out = line[..line.len() - rest.len()].to_vec();
    out.extend_from_slice(b"\"redacted\":\"sha256:");
    hex_into(&digest, &mut out);
    out.extend_from_slice(b"\"}");
    Some(out)
}

fn unhex(hex: &[u8]) -> Option<Hash> {
    let mut out = [0u8; 32];
    if hex.len() != 64 {
        return None;
    }
    for (o, pair) in out.iter_mut().zip(hex.chunks(2)) {
        let digit = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        *o = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// Where the chain stands: the last line written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Head {
    /// Its position (0: no line yet).
    pub n: u64,
    /// Its hash (None: no line yet).
    pub hash: Option<Hash>,
}

impl Head {
    /// Writes the opening of the next line, `{"chain":{"n":N,"prev":...}}`,
    /// to `out`; the caller then writes the line's own object with its `{`
    /// turned into `,` (see [`join`]).
    pub fn write_link(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"chain\":{\"n\":");
        out.extend_from_slice(itoa(self.n + 1, &mut [0; 20]));
        match &self.hash {
            Some(h) => {
                out.extend_from_slice(b",\"prev\":\"sha256:");
                hex_into(h, out);
                out.extend_from_slice(b"\"}");
            }
            None => out.extend_from_slice(b",\"prev\":null}"),
        }
    }

    /// Moves the head to the line just written after [`Head::write_link`],
    /// given the rest of its bytes (after the link and its comma): its
    /// hash is computed from what the head knows, without parsing the link
    /// again.
    pub fn advance(&mut self, rest: &[u8]) {
        self.n += 1;
        let digest: Hash = Sha256::digest(rest).into();
        self.hash = Some(link_hash(self.n, self.hash.as_ref(), &digest));
    }
}

/// Joins a line's own JSON object, written at `at` right after the link,
/// to the link: its opening `{` becomes `,`. False if what was written is
/// not an object with at least one member.
pub fn join(out: &mut [u8], at: usize) -> bool {
    if out.len() < at + 2 || out[at] != b'{' || out[at + 1] == b'}' {
        return false;
    }
    out[at] = b',';
    true
}

fn itoa(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        // CAST: a decimal digit.
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return &buf[i..];
        }
    }
}

fn hex_into(bytes: &[u8], out: &mut Vec<u8>) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)]);
        out.push(DIGITS[usize::from(b & 15)]);
    }
}

/// The member a signature is written as, up to its value.
pub const SIGNATURE_MEMBER: &[u8] = b",\"signature\":\"";

/// The member naming the key, up to its value.
pub const KEY_MEMBER: &[u8] = b",\"key\":\"";

/// How a public key is named in checkpoint lines and printed by
/// `witness evidence pubkey`: `ed25519:` and the base64 of its 32 bytes.
pub fn key_name(key: &VerifyingKey) -> String {
    format!("ed25519:{}", BASE64.encode(key.as_bytes()))
}

/// A public key from its name ([`key_name`]), a PEM public key (`BEGIN
/// PUBLIC KEY`), or a file holding either.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    use ed25519_dalek::pkcs8::DecodePublicKey;
    let text = text.trim();
    if let Some(b64) = text.strip_prefix("ed25519:") {
        let bytes = BASE64.decode(b64).map_err(|e| format!("not base64 after ed25519: ({e})"))?;
        let bytes: [u8; 32] =
            bytes.try_into().map_err(|b: Vec<u8>| format!("an Ed25519 key has 32 bytes, not {}", b.len()))?;
        return VerifyingKey::from_bytes(&bytes).map_err(|e| format!("not an Ed25519 public key ({e})"));
    }
    if text.starts_with("-----BEGIN PUBLIC KEY-----") {
        return VerifyingKey::from_public_key_pem(text).map_err(|e| format!("not an Ed25519 public key PEM ({e})"));
    }
    let path = Path::new(text);
    if path.exists() {
        let contents = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if contents.trim().starts_with("-----BEGIN PRIVATE KEY-----") {
            return Err(format!("{}: a private key; give the public key (witness evidence pubkey)", path.display()));
        }
        return parse_public_key(&contents).map_err(|e| format!("{}: {e}", path.display()));
    }
    Err(format!("{text:?}: neither ed25519:<base64>, a PEM public key, nor a file"))
}

/// Why a signing key could not be had.
#[derive(Debug, Error)]
#[error("evidence key {path}: {what}")]
pub struct KeyError {
    /// The key file.
    pub path: PathBuf,
    /// What is wrong.
    pub what: String,
}

/// The key checkpoints are signed with.
pub struct Signer {
    key: SigningKey,
    /// [`key_name`] of its public half.
    pub name: String,
    /// The file it came from.
    pub path: PathBuf,
    /// Whether it was created now (the first run).
    pub created: bool,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("name", &self.name).field("path", &self.path).finish_non_exhaustive()
    }
}

impl Signer {
    /// Loads the PKCS#8 PEM Ed25519 key at `path`, or creates one there
    /// (mode 0600, and its directory if missing) when there is no file.
    /// A key readable by others is refused: anyone who can read it can
    /// sign a forged log.
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
        let err = |what: String| KeyError { path: path.into(), what };
        match fs::read_to_string(path) {
            Ok(pem) => {
                let mode = fs::metadata(path).map_err(|e| err(e.to_string()))?.mode();
                if mode & 0o077 != 0 {
                    return Err(err(format!(
                        "mode {:04o} lets others read it; it must be readable by its owner only (chmod 600)",
                        mode & 0o7777
                    )));
                }
                let key = SigningKey::from_pkcs8_pem(&pem)
                    .map_err(|e| err(format!("not a PKCS#8 PEM Ed25519 private key ({e})")))?;
                Ok(Self::new(key, path, false))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let mut secret = [0u8; 32];
                rustix::rand::getrandom(&mut secret, rustix::rand::GetRandomFlags::empty())
                    .map_err(|e| err(format!("reading random bytes: {e}")))
                    .and_then(|n| if n == 32 { Ok(()) } else { Err(err("too few random bytes".into())) })?;
                let key = SigningKey::from_bytes(&secret);
                secret.fill(0);
                let pem = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| err(format!("encoding: {e}")))?;
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    fs::create_dir_all(dir).map_err(|e| err(format!("creating {}: {e}", dir.display())))?;
                }
                // create_new: two collectors starting at once do not
                // overwrite each other's key.
                let mut file = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(|e| err(format!("creating: {e}")))?;
                file.write_all(pem.as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|e| err(format!("writing: {e}")))?;
                Ok(Self::new(key, path, true))
            }
            Err(e) => Err(err(e.to_string())),
        }
    }

    fn new(key: SigningKey, path: &Path, created: bool) -> Self {
        let name = key_name(&key.verifying_key());
        Self { key, name, path: path.into(), created }
    }

    /// The public key as PEM (`BEGIN PUBLIC KEY`).
    pub fn public_pem(&self) -> String {
        self.key.verifying_key().to_public_key_pem(LineEnding::LF).unwrap_or_default()
    }

    /// Signs the checkpoint line in `out[start..]` (an object, without its
    /// newline): adds the key member, signs, then adds the signature
    /// member, both before the closing `}`.
    pub fn seal(&self, out: &mut Vec<u8>, start: usize) {
        debug_assert_eq!(out.last(), Some(&b'}'));
        out.pop();
        out.extend_from_slice(KEY_MEMBER);
        out.extend_from_slice(self.name.as_bytes());
        out.extend_from_slice(b"\"}");
        let signature = self.key.sign(&out[start..]);
        out.pop();
        out.extend_from_slice(SIGNATURE_MEMBER);
        out.extend_from_slice(BASE64.encode(signature.to_bytes()).as_bytes());
        out.extend_from_slice(b"\"}");
    }
}

/// The message a sealed line's signature covers, and the signature: the
/// line without its `,"signature":"..."` member. None if the line does not
/// end with one.
pub fn unseal(line: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let at = line.windows(SIGNATURE_MEMBER.len()).rposition(|w| w == SIGNATURE_MEMBER)?;
    let value = line[at + SIGNATURE_MEMBER.len()..].strip_suffix(b"\"}")?;
    if value.contains(&b'"') {
        return None;
    }
    let mut message = line[..at].to_vec();
    message.push(b'}');
    Some((message, value))
}

/// Whether `signature` (base64) is `key`'s signature of `message`.
pub fn verify_signature(key: &VerifyingKey, message: &[u8], signature: &[u8]) -> Result<(), String> {
    let bytes = BASE64.decode(signature).map_err(|e| format!("the signature is not base64 ({e})"))?;
    let bytes: [u8; 64] =
        bytes.try_into().map_err(|b: Vec<u8>| format!("a signature has 64 bytes, not {}", b.len()))?;
    key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&bytes))
        .map_err(|_| "the signature does not verify".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("witness-chain-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir.join("keys").join("evidence.key")
    }

    #[test]
    fn links_chain_lines() {
        let mut head = Head::default();
        let mut line = Vec::new();
        head.write_link(&mut line);
        let at = line.len();
        line.extend_from_slice(b"{\"a\":1}");
        assert!(join(&mut line, at));
        assert_eq!(line, b"{\"chain\":{\"n\":1,\"prev\":null},\"a\":1}");
        head.advance(&line[at + 1..]);
        let first = hash(&line);
        assert_eq!(head.hash, Some(first), "the writer's hash is the reader's");
        assert_eq!(split(&line), Some((1, None, &b"\"a\":1}"[..])));
        // A redacted line keeps its hash.
        let stub = redacted(&line).unwrap();
        assert!(
            stub.ends_with(
                b"\"redacted\":\"sha256:7359ed179b73607a508f58d80384e26f3fb1dff905ddcb13218a93363abce3a0\"}"
            ),
            "{}",
            String::from_utf8_lossy(&stub)
        );
        assert_eq!(hash(&stub), first);
        assert_eq!(redacted(&stub).unwrap(), stub, "redacting twice changes nothing");
        let mut other = stub.clone();
        let at = other.len() - 3;
        other[at] ^= 1;
        assert_ne!(hash(&other), first, "a stub with another digest is another line");
        let mut next = Vec::new();
        head.write_link(&mut next);
        let text = String::from_utf8(next).unwrap();
        assert_eq!(text, format!("{{\"chain\":{{\"n\":2,\"prev\":\"sha256:{}\"}}", crate::text::hex(&first)));
        assert!(!join(&mut b"{}".to_vec(), 0), "an empty object cannot be joined");
        assert!(!join(&mut b"[1]".to_vec(), 0));
    }

    #[test]
    fn keys_are_created_private_and_loaded_again() {
        use std::os::unix::fs::PermissionsExt;
        let path = temp("create");
        let created = Signer::load_or_create(&path).unwrap();
        assert!(created.created);
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let loaded = Signer::load_or_create(&path).unwrap();
        assert!(!loaded.created);
        assert_eq!(created.name, loaded.name);
        assert_eq!(parse_public_key(&created.name).unwrap(), parse_public_key(&created.public_pem()).unwrap());
        // Readable by others: refused, naming the file and the fix.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let e = Signer::load_or_create(&path).unwrap_err().to_string();
        assert!(e.contains("evidence.key: mode 0644") && e.contains("chmod 600"), "{e}");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&path, "not a key").unwrap();
        let e = Signer::load_or_create(&path).unwrap_err().to_string();
        assert!(e.contains("not a PKCS#8 PEM Ed25519 private key"), "{e}");
        let e = parse_public_key(path.to_str().unwrap()).unwrap_err();
        assert!(e.contains("evidence.key"), "{e}");
        assert!(parse_public_key("ed25519:AAAA").unwrap_err().contains("32 bytes"));
    }

    #[test]
    fn sealed_lines_verify_and_edits_do_not() {
        let signer = Signer::load_or_create(&temp("seal")).unwrap();
        let mut out = b"previous line\n".to_vec();
        let start = out.len();
        out.extend_from_slice(b"{\"chain\":{\"n\":2,\"prev\":null},\"record\":\"checkpoint\"}");
        signer.seal(&mut out, start);
        let line = &out[start..];
        let text = std::str::from_utf8(line).unwrap();
        let v: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(v["key"], signer.name.as_str());
        let key = parse_public_key(&signer.name).unwrap();
        let (message, signature) = unseal(line).unwrap();
        verify_signature(&key, &message, signature).unwrap();
        let edited = text.replace("checkpoint", "checkpoinT");
        let (message, signature) = unseal(edited.as_bytes()).unwrap();
        assert_eq!(verify_signature(&key, &message, signature).unwrap_err(), "the signature does not verify");
        assert!(unseal(b"{\"a\":1}").is_none());
    }
}
