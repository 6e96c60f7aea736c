//! `keygen`, `checkpoint export` and `verify --witness`: signed checkpoints of the log handed to
//! witnesses, and the check of the log against one (a rollback or a rewrite shows).

use std::path::Path;

use super::{fail, EXIT_FAILURE, EXIT_OK, EXIT_REJECTED};
use member_ledger::store::seal::{Signer, CHECKPOINT_BYTES_MAX};

/// The environment variable naming the signing key file when `--signing-key` is not given.
pub const SIGNING_KEY_ENV: &str = "MEMBER_LEDGER_SIGNING_KEY";

/// `keygen FILE`: a new signing key (mode 0600), its public key printed.
pub(super) fn keygen(path: &Path) -> u8 {
    match Signer::generate(path) {
        Ok(signer) => {
            println!("{}", signer.public_hex());
            eprintln!(
                "keygen: signing key written to {} (readable by its owner only); keep it outside the data directory and publish the public key above",
                path.display()
            );
            EXIT_OK
        }
        Err(e) => fail(format!("cannot write a key to {}: {e}", path.display())),
    }
}

/// The signing key named by `--signing-key` or the environment, loaded.
pub(super) fn load_signer(flag: Option<&Path>) -> Result<Option<Signer>, String> {
    let env = std::env::var_os(SIGNING_KEY_ENV);
    let path = flag.map(Path::to_path_buf).or_else(|| env.map(Into::into));
    match path {
        None => Ok(None),
        Some(path) => Signer::load(&path)
            .map(Some)
            .map_err(|e| format!("cannot read the signing key {}: {e}", path.display())),
    }
}

/// `checkpoint export [--out FILE]`: the latest signed checkpoint of the whole log.
pub(super) async fn export(data: &Path, out: Option<&Path>) -> u8 {
    let ledger = match super::common::open(data).await {
        Ok(l) => l,
        Err(status) => return status,
    };
    let text = match ledger.export_checkpoint().await {
        Ok(text) => text,
        Err(e) => return fail(e),
    };
    match out {
        Some(path) => match std::fs::write(path, &text) {
            Ok(()) => {
                eprintln!("checkpoint: written to {}", path.display());
                EXIT_OK
            }
            Err(e) => fail(format!("cannot write {}: {e}", path.display())),
        },
        None => {
            print!("{text}");
            EXIT_OK
        }
    }
}

/// `verify --witness FILE`: whether the log continues a checkpoint exported earlier.
pub(super) async fn verify_witness(data: &Path, file: &Path) -> u8 {
    let text = match member_ledger::files::read_bounded(file, CHECKPOINT_BYTES_MAX) {
        Ok(text) => text,
        Err(e) => {
            return fail(format!(
                "cannot read the checkpoint {}: {e}",
                file.display()
            ))
        }
    };
    let ledger = match super::common::open(data).await {
        Ok(l) => l,
        Err(status) => return status,
    };
    match ledger.verify_witness(text).await {
        Ok(report) => {
            println!("{report}");
            if report.broken.is_none() {
                EXIT_OK
            } else {
                EXIT_REJECTED
            }
        }
        Err(e) => {
            eprintln!("member-ledger: {e}");
            EXIT_FAILURE
        }
    }
}
