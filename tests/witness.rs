//! Sealed checkpoints and witnesses (RELIABILITY.md, "Forgery and rollback"): a checkpoint
//! exported earlier shows a log restored from an older copy (rollback) and a history edited and
//! re-hashed by someone who can write the files (rewrite); the stored checkpoints show the
//! rewrite to `verify` itself; a dossier carries an inclusion proof of its member's last event.

use std::path::Path;
use std::sync::Arc;

use member_ledger::audit::dossier::verify_dossier;
use member_ledger::policy::PolicySet;
use member_ledger::store::seal::{SignedCheckpoint, Signer};
use member_ledger::store::{SledStore, StoreOptions};
use member_ledger::Ledger;

const M: &str = "00000000-0000-4000-8000-0000000000a1";

fn commands() -> Vec<String> {
    let mut lines = vec![format!(
        r#"{{"type":"enroll","member":"{M}","region":"luzhou","scheme":"employee","sex":"female","birth_date":"1970-01-01","date":"2024-01-01"}}"#
    )];
    for month in 1..=6 {
        lines.push(format!(
            r#"{{"type":"contribute","member":"{M}","month":"2024-{month:02}","wage":"900000.00","payer":"employer"}}"#
        ));
    }
    lines
}

fn spend() -> String {
    format!(
        r#"{{"type":"spend","member":"{M}","date":"2024-07-10","amount":"30000.00","purpose":"inpatient","key":"receipt-7"}}"#
    )
}

fn open(data: &Path, signer: &Signer) -> (Arc<SledStore>, Ledger) {
    let options = StoreOptions {
        signer: Some(signer.clone()),
        ..StoreOptions::default()
    };
    let store = Arc::new(SledStore::open_with(data, options).expect("open"));
    let ledger = Ledger::with_store(store.clone(), PolicySet::shipped());
    (store, ledger)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

#[tokio::test]
async fn a_witness_shows_a_rollback_and_a_rewrite_and_verify_shows_the_rewrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let signer = Signer::generate(&dir.path().join("signing.key")).expect("key");
    let data = dir.path().join("ledger");
    let yesterday = dir.path().join("yesterday");

    let (store, ledger) = open(&data, &signer);
    for line in commands() {
        ledger.submit_json(&line).await.expect("given");
    }
    let early = ledger.export_checkpoint().await.expect("export");
    let signed = SignedCheckpoint::parse(&early).expect("parses");
    assert_eq!(signed.checkpoint.size, 7);
    assert_eq!(signed.key, signer.public());
    drop(ledger);
    drop(store);
    copy_dir(&data, &yesterday);

    // Today: a spend of 30,000.00, acknowledged, and a checkpoint a witness keeps.
    let (store, ledger) = open(&data, &signer);
    ledger.submit_json(&spend()).await.expect("spend");
    let today = ledger.export_checkpoint().await.expect("export");
    for witnessed in [&early, &today] {
        let report = ledger
            .verify_witness(witnessed.clone())
            .await
            .expect("check");
        assert!(report.broken.is_none(), "{report}");
    }
    let clean = ledger.verify(|_, _| {}).await.expect("verify");
    assert!(clean.is_clean(), "{clean}");
    assert!(clean.checkpoints_checked >= 2, "{clean}");

    // A rewrite: the credit of 2024-01 raised, the member's chain, record and the head re-hashed.
    store
        .forge_rewrite(2, |record| {
            let at = record
                .windows(9)
                .position(|w| w == b"18000.00\x00" || w.starts_with(b"18000.00"))
                .expect("the credit is in the record");
            record[at] = b'9';
        })
        .expect("forge");
    let verdict = ledger.verify(|_, _| {}).await.expect("verify");
    let broken = verdict
        .broken
        .clone()
        .expect("the rewrite is found by the stored checkpoints");
    assert!(broken.reason.contains("rewritten"), "{}", broken.reason);
    let report = ledger.verify_witness(today.clone()).await.expect("check");
    assert!(
        report
            .broken
            .as_deref()
            .is_some_and(|b| b.contains("rewritten")),
        "{report}"
    );
    drop(ledger);
    drop(store);

    // A rollback: yesterday's copy restored. It opens and verifies clean by itself, the spend is
    // gone and its key would be taken again; the checkpoint a witness kept shows it.
    std::fs::remove_dir_all(&data).expect("remove");
    copy_dir(&yesterday, &data);
    let (_store, ledger) = open(&data, &signer);
    let alone = ledger.verify(|_, _| {}).await.expect("verify");
    assert!(alone.is_clean(), "{alone}");
    let report = ledger.verify_witness(today).await.expect("check");
    let why = report.broken.clone().expect("the rollback is found");
    assert!(
        why.contains("rolled back") && why.contains("7 events"),
        "{why}"
    );
    let report = ledger.verify_witness(early).await.expect("check");
    assert!(
        report.broken.is_none(),
        "the older checkpoint still holds: {report}"
    );
}

#[tokio::test]
async fn a_forged_checkpoint_or_one_of_another_ledger_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let signer = Signer::generate(&dir.path().join("signing.key")).expect("key");
    let (_store, ledger) = open(&dir.path().join("ledger"), &signer);
    for line in commands() {
        ledger.submit_json(&line).await.expect("given");
    }
    let text = ledger.export_checkpoint().await.expect("export");
    let forged = text.replace("size 7", "size 6");
    assert!(
        ledger.verify_witness(forged).await.is_err(),
        "a bad signature is refused"
    );

    let (_other_store, other) = open(&dir.path().join("other"), &signer);
    for line in commands() {
        other.submit_json(&line).await.expect("given");
    }
    let report = other.verify_witness(text).await.expect("check");
    assert!(
        report
            .broken
            .as_deref()
            .is_some_and(|b| b.contains("is of ledger")),
        "{report}"
    );
}

#[tokio::test]
async fn a_sealed_dossier_proves_its_members_last_event_is_under_a_signed_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let signer = Signer::generate(&dir.path().join("signing.key")).expect("key");
    let (_store, ledger) = open(&dir.path().join("ledger"), &signer);
    for line in commands() {
        ledger.submit_json(&line).await.expect("given");
    }
    let dossier = ledger
        .dossier(M.parse().expect("uuid"))
        .await
        .expect("dossier");
    let seal = dossier.seal.clone().expect("sealed");
    assert_eq!(seal.leaf_index, 6, "the member's last event, position 7");
    let report = verify_dossier(&dossier).expect("verifies");
    assert_eq!(report.sealed, Some((7, signer.public_hex())));

    let mut altered = dossier.clone();
    if let Some(seal) = altered.seal.as_mut() {
        seal.proof.reverse();
    }
    altered.digest = altered.compute_digest();
    assert!(
        verify_dossier(&altered).is_err(),
        "a proof that does not lead to the root fails"
    );
}

#[tokio::test]
async fn without_a_key_no_checkpoint_is_exported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ledger = Ledger::open(dir.path()).await.expect("open");
    for line in commands() {
        ledger.submit_json(&line).await.expect("given");
    }
    let refused = ledger.export_checkpoint().await.expect_err("no key");
    assert!(refused.to_string().contains("--signing-key"), "{refused}");
}

#[test]
fn the_command_line_makes_a_key_exports_a_checkpoint_and_checks_the_log_against_it() {
    let bin = env!("CARGO_BIN_EXE_member-ledger");
    let dir = tempfile::tempdir().expect("tempdir");
    let key = dir.path().join("signing.key");
    let data = dir.path().join("ledger");
    let run = |args: &[&str], input: Option<&str>| {
        use std::io::Write;
        let mut child = std::process::Command::new(bin)
            .args(args)
            .env_remove("MEMBER_LEDGER_SIGNING_KEY")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run");
        if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin.write_all(text.as_bytes()).expect("stdin");
        }
        let out = child.wait_with_output().expect("wait");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), text)
    };
    let (status, public) = run(&["keygen", key.to_str().expect("path")], None);
    assert_eq!(status, 0, "{public}");
    assert_eq!(public.lines().next().map(str::len), Some(64), "{public}");
    let data = data.to_str().expect("path");
    let key = key.to_str().expect("path");
    let (status, text) = run(
        &["--data", data, "--signing-key", key, "submit"],
        Some(&commands().join("\n")),
    );
    assert_eq!(status, 0, "{text}");
    let checkpoint = dir.path().join("checkpoint.txt");
    let checkpoint = checkpoint.to_str().expect("path");
    let (status, text) = run(
        &[
            "--data",
            data,
            "--signing-key",
            key,
            "checkpoint",
            "export",
            "--out",
            checkpoint,
        ],
        None,
    );
    assert_eq!(status, 0, "{text}");
    let (status, text) = run(&["--data", data, "verify", "--witness", checkpoint], None);
    assert_eq!(status, 0, "{text}");
    assert!(text.contains("witness: ok"), "{text}");
    let (status, text) = run(&["--data", data, "checkpoint", "export"], None);
    assert_eq!(
        status, 0,
        "the latest checkpoint still covers the log: {text}"
    );
    let (status, text) = run(&["--data", data, "submit"], Some(&spend()));
    assert_eq!(status, 0, "{text}");
    let (status, text) = run(&["--data", data, "checkpoint", "export"], None);
    assert_eq!(status, 2, "new events and no key: {text}");
    assert!(text.contains("--signing-key"), "{text}");
}
