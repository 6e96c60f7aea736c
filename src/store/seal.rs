//! Sealed checkpoints: a tree head of the log ([`super::merkle`]), signed with an Ed25519 key
//! kept outside the data directory, as small text that anyone can check with the public key and
//! no database (the signed-note habit of Certificate Transparency and transparency-dev).
//!
//! ```text
//! member-ledger checkpoint v1
//! origin 0abc…      (the ledger's tag: which log)
//! size 123456       (events under the head)
//! root 5dc9…        (the tree's root, hex)
//! time 2026-11-30T21:00:00Z
//! key 3b6a…         (the public key, hex)
//! signature 8f1e…   (Ed25519 over the five lines above, each ending in a newline)
//! ```
//!
//! A witness keeps a checkpoint it was given; later, `verify --witness` shows the log is a
//! continuation of it (a consistency proof), so a log restored from an older copy, or rewritten
//! and re-hashed by someone who can write the files, is found out — unless that someone also
//! holds the signing key (RELIABILITY.md).

use std::io::Write;
use std::path::Path;

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use super::merkle::Hash;

/// The first line of every checkpoint of this version.
pub const CHECKPOINT_HEADER: &str = "member-ledger checkpoint v1";
/// Longest checkpoint text read, bytes.
pub const CHECKPOINT_BYTES_MAX: usize = 1024;

/// A tree head of a ledger's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The ledger's tag (hex): which log the head is of.
    pub origin: String,
    /// Events under the head.
    pub size: u64,
    /// The tree's root.
    pub root: Hash,
    /// When it was made (RFC 3339, UTC).
    pub time: String,
}

impl Checkpoint {
    /// The signed body: the header and the four fields, each line ending in a newline.
    pub fn body(&self) -> String {
        format!(
            "{CHECKPOINT_HEADER}\norigin {}\nsize {}\nroot {}\ntime {}\n",
            self.origin,
            self.size,
            hex::encode(self.root),
            self.time
        )
    }
}

/// A checkpoint with its public key and signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The head.
    pub checkpoint: Checkpoint,
    /// The public key that signed it.
    pub key: [u8; 32],
    /// The Ed25519 signature over [`Checkpoint::body`].
    pub signature: [u8; 64],
}

impl SignedCheckpoint {
    /// The text form.
    pub fn to_text(&self) -> String {
        format!(
            "{}key {}\nsignature {}\n",
            self.checkpoint.body(),
            hex::encode(self.key),
            hex::encode(self.signature)
        )
    }

    /// Reads the text form, strictly (every line, in order, bounded); checks nothing else.
    pub fn parse(text: &str) -> Result<SignedCheckpoint, String> {
        if text.len() > CHECKPOINT_BYTES_MAX {
            return Err(format!(
                "a checkpoint is at most {CHECKPOINT_BYTES_MAX} bytes"
            ));
        }
        let mut lines = text.lines();
        let mut field = |name: &str| -> Result<String, String> {
            let line = lines
                .next()
                .ok_or_else(|| format!("the line '{name}' is missing"))?;
            line.strip_prefix(name)
                .and_then(|rest| rest.strip_prefix(' '))
                .map(str::to_string)
                .ok_or_else(|| format!("expected '{name} …', found '{line}'"))
        };
        let header = field("member-ledger")?;
        if format!("member-ledger {header}") != CHECKPOINT_HEADER {
            return Err(format!("not a '{CHECKPOINT_HEADER}'"));
        }
        let origin = field("origin")?;
        let size = field("size")?
            .parse()
            .map_err(|_| "size is not a number".to_string())?;
        let root = decode_fixed::<32>(&field("root")?, "root")?;
        let time = field("time")?;
        let key = decode_fixed::<32>(&field("key")?, "key")?;
        let signature = decode_fixed::<64>(&field("signature")?, "signature")?;
        Ok(SignedCheckpoint {
            checkpoint: Checkpoint {
                origin,
                size,
                root,
                time,
            },
            key,
            signature,
        })
    }

    /// Whether the signature is the key's over the body.
    pub fn verify_signature(&self) -> Result<(), String> {
        let key = VerifyingKey::from_bytes(&self.key).map_err(|e| format!("the key: {e}"))?;
        key.verify_strict(
            self.checkpoint.body().as_bytes(),
            &Signature::from_bytes(&self.signature),
        )
        .map_err(|_| {
            "the signature does not match the checkpoint: it was altered or forged".to_string()
        })
    }
}

fn decode_fixed<const N: usize>(text: &str, what: &str) -> Result<[u8; N], String> {
    hex::decode(text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("{what} is not {N} bytes of hex"))
}

/// The key checkpoints are signed with.
#[derive(Clone)]
pub struct Signer {
    key: SigningKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("public", &self.public_hex())
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A new key, written to `path` (which must not exist) readable by its owner only; returns
    /// the signer.
    pub fn generate(path: &Path) -> std::io::Result<Signer> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| std::io::Error::other(e.to_string()))?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(path)?;
        writeln!(file, "{}", hex::encode(seed))?;
        file.sync_all()?;
        Ok(Signer {
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// The key in `path` (as [`Signer::generate`] writes it).
    pub fn load(path: &Path) -> std::io::Result<Signer> {
        let text = crate::files::read_bounded(path, 256)?;
        let seed = decode_fixed::<32>(text.trim(), "the signing key").map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {e}", path.display()),
            )
        })?;
        Ok(Signer {
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// The public key.
    pub fn public(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The public key, hex.
    pub fn public_hex(&self) -> String {
        hex::encode(self.public())
    }

    /// Signs a checkpoint.
    pub fn sign(&self, checkpoint: Checkpoint) -> SignedCheckpoint {
        let signature = self.key.sign(checkpoint.body().as_bytes()).to_bytes();
        SignedCheckpoint {
            checkpoint,
            key: self.public(),
            signature,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_checkpoint_reads_back_and_any_edit_breaks_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key");
        let signer = Signer::generate(&path).expect("generate");
        assert!(
            Signer::generate(&path).is_err(),
            "an existing key is never overwritten"
        );
        assert_eq!(Signer::load(&path).expect("load").public(), signer.public());
        let signed = signer.sign(Checkpoint {
            origin: "0abc".into(),
            size: 42,
            root: [7; 32],
            time: "2026-11-30T21:00:00Z".into(),
        });
        let text = signed.to_text();
        let read = SignedCheckpoint::parse(&text).expect("parses");
        assert_eq!(read, signed);
        assert!(read.verify_signature().is_ok());
        let forged = SignedCheckpoint::parse(&text.replace("size 42", "size 41")).expect("parses");
        assert!(forged.verify_signature().is_err());
        assert!(SignedCheckpoint::parse(&text.replace("root ", "rot ")).is_err());
        assert!(SignedCheckpoint::parse(&"x".repeat(CHECKPOINT_BYTES_MAX + 1)).is_err());
    }
}
