//! Parameter file tests: RON round trip, error positions.

use facetwin_motor::{ChannelKind, ChannelParams, DEFAULT_PARAMS_RON, ParamsError};
use std::path::PathBuf;

fn temp_file(name: &str, contents: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "facetwin-motor-{}-{name}.motor.ron",
        std::process::id()
    ));
    std::fs::write(&path, contents).expect("write temp file");
    path
}

#[test]
fn shipped_file_is_the_default() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("params/default.motor.ron");
    let loaded = ChannelParams::load(&path).expect("shipped file loads");
    assert_eq!(loaded, ChannelParams::default());
    assert_eq!(
        ChannelParams::from_ron_str(DEFAULT_PARAMS_RON).expect("parses"),
        loaded
    );
    // Datasheet values survive.
    assert_eq!(loaded.motor.resistance_ohm, 21.2);
    assert_eq!(loaded.motor.torque_constant_nm_per_a, 4.12e-3);
    assert_eq!(loaded.spool.travel_mm, 8.0);
}

#[test]
fn ron_round_trip() {
    let mut p = ChannelParams {
        kind: ChannelKind::Bidirectional,
        ..ChannelParams::default()
    };
    p.skin.stiffness_n_per_mm = 0.123_456_789;
    p.limits.min_norm = -0.5;
    p.encoder.counts_per_rev = 1024;
    let text = p.to_ron_string().expect("serialises");
    let back = ChannelParams::from_ron_str(&text).expect("parses back");
    assert_eq!(back, p);
    // And through a file.
    let path = temp_file("roundtrip", &text);
    let loaded = ChannelParams::load(&path).expect("loads");
    let _ = std::fs::remove_file(&path);
    assert_eq!(loaded, p);
}

#[test]
fn syntax_error_names_file_line_and_column() {
    // Break line 3 of a small file: missing comma between fields.
    let text =
        "(\n    kind: Tendon,\n    motor: ( supply_voltage_v: 6.0 resistance_ohm: 21.2 ),\n)\n";
    let path = temp_file("syntax", text);
    let err = ChannelParams::load(&path).expect_err("must fail");
    let _ = std::fs::remove_file(&path);
    let msg = err.to_string();
    match &err {
        ParamsError::Ron { line, column, .. } => {
            assert_eq!(*line, 3, "{msg}");
            assert!(*column > 1, "{msg}");
        }
        other => panic!("unexpected error {other:?}"),
    }
    let expected_prefix = format!("{}:3:", path.display());
    assert!(msg.starts_with(&expected_prefix), "{msg}");
}

#[test]
fn type_error_and_unknown_field_name_line_and_column() {
    let bad_type = DEFAULT_PARAMS_RON.replace("ratio: 100.0,", "ratio: \"high\",");
    let line = bad_type
        .lines()
        .position(|l| l.contains("\"high\""))
        .expect("line")
        + 1;
    let err = ChannelParams::from_ron_str(&bad_type).expect_err("type error");
    assert!(
        err.to_string().starts_with(&format!("<string>:{line}:")),
        "{err}"
    );

    let typo = DEFAULT_PARAMS_RON.replace("travel_mm: 8.0,", "travel_nm: 8.0,");
    let line = typo
        .lines()
        .position(|l| l.contains("travel_nm"))
        .expect("line")
        + 1;
    let err = ChannelParams::from_ron_str(&typo).expect_err("unknown field");
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("<string>:{line}:")), "{msg}");
    assert!(msg.contains("travel_nm"), "{msg}");
}

#[test]
fn missing_file_and_invalid_values_are_errors() {
    let err =
        ChannelParams::load(std::path::Path::new("/nonexistent/x.motor.ron")).expect_err("missing");
    assert!(matches!(err, ParamsError::Io { .. }), "{err}");
    let bad = DEFAULT_PARAMS_RON.replace("counts_per_rev: 512,", "counts_per_rev: 0,");
    let err = ChannelParams::from_ron_str(&bad).expect_err("invalid");
    assert!(err.to_string().contains("encoder.counts_per_rev"), "{err}");
}
