//! The event catalogue in `events/`: every file decodes (through upcasting) and round-trips, and
//! every event type has an example.

use member_ledger::codec::upcast;
use member_ledger::domain::Event;

#[test]
fn every_catalogued_event_decodes_and_round_trips() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let mut types = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("events/") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let mut value: serde_json::Value = serde_json::from_str(&text).expect("json");
        let version = value
            .as_object_mut()
            .and_then(|o| o.remove("schema_version"))
            .and_then(|v| v.as_u64())
            .expect("schema_version");
        let type_name = value["type"].as_str().expect("type").to_string();
        let data = upcast(
            u32::try_from(version).expect("u32"),
            &type_name,
            value.clone(),
        )
        .expect("upcast");
        let event: Event =
            serde_json::from_value(data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(event.type_name(), type_name);
        assert_eq!(
            serde_json::to_value(&event).expect("encode"),
            value,
            "{} does not round-trip",
            path.display()
        );
        types.push(type_name);
    }
    for t in Event::TYPE_NAMES {
        assert!(
            types.iter().any(|x| x == t),
            "events/ has no example of {t}"
        );
    }
}

#[test]
fn an_unknown_schema_version_is_refused_not_guessed() {
    assert!(upcast(99, "spent", serde_json::json!({})).is_err());
}
