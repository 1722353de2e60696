//! The rig description: the bundled default rig, and errors for broken rig files.

use facetwin_rig::rig::{
    Actuator, Anchor, DEFAULT_RIG_RON, Lip, MuscleModel, Region, Rig, RigError, RigidPart,
};

const CHANNELS: [&str; 25] = [
    "frontalis_inner_l",
    "frontalis_inner_r",
    "frontalis_outer_l",
    "frontalis_outer_r",
    "corrugator_l",
    "corrugator_r",
    "levator_palpebrae_l",
    "levator_palpebrae_r",
    "orbicularis_oculi_l",
    "orbicularis_oculi_r",
    "levator_labii_l",
    "levator_labii_r",
    "zygomaticus_major_l",
    "zygomaticus_major_r",
    "risorius_l",
    "risorius_r",
    "depressor_anguli_oris_l",
    "depressor_anguli_oris_r",
    "depressor_labii",
    "mentalis",
    "orbicularis_oris",
    "jaw",
    "eyes_yaw",
    "eyes_pitch",
    "neck_pitch",
];

fn parse(src: &str) -> Result<Rig, RigError> {
    Rig::from_ron_str(src, "test.rig.ron")
}

/// A valid one-actuator rig with `model` and limits.
fn single(name: &str, channel: u8, min: f32, max: f32, model: &str) -> String {
    format!(
        r#"(
    name: "t",
    actuators: [
        (
            name: "{name}",
            channel: {channel},
            region: Cheeks,
            muscle: "m",
            action_units: ["AU12"],
            min_norm: {min:?},
            max_norm: {max:?},
            model: {model},
        ),
    ],
)"#
    )
}

const LINEAR: &str = r#"Linear(
                origin: (landmark: "cheekbone_l", offset: (0.012, 0.0, -0.012)),
                insertion: (landmark: "mouth_corner_l"),
                zone_deg: 22.0,
                falloff_start: 1.0,
                falloff_end: 1.25,
                max_displacement_m: 0.01,
            )"#;

#[test]
fn default_rig_has_the_25_channels_in_protocol_order() {
    let rig = Rig::from_ron_str(DEFAULT_RIG_RON, "default.rig.ron").expect("default rig");
    assert_eq!(rig, Rig::default_rig());
    assert_eq!(rig.actuators.len(), 25);
    assert_eq!(rig.channel_count(), 25);
    for (i, name) in CHANNELS.iter().enumerate() {
        let a = rig.actuator_on(i).expect("channel present");
        assert_eq!(a.name, *name, "channel {i}");
        assert!(!a.muscle.is_empty() && !a.action_units.is_empty(), "{name}");
        assert!(
            a.min_norm < 0.0 || a.name == "jaw",
            "{name}: some negative allowance"
        );
    }
    let get = |n: &str| rig.actuator(n).expect(n);
    assert_eq!((get("jaw").min_norm, get("jaw").max_norm), (0.0, 1.0));
    assert_eq!(
        (
            get("levator_palpebrae_l").min_norm,
            get("levator_palpebrae_l").max_norm
        ),
        (-1.0, 0.3)
    );
    for rigid in ["eyes_yaw", "eyes_pitch", "neck_pitch"] {
        let a = get(rigid);
        assert_eq!((a.min_norm, a.max_norm), (-1.0, 1.0));
        assert!(matches!(a.model, MuscleModel::Rigid { .. }), "{rigid}");
    }
    assert!(matches!(
        get("eyes_yaw").model,
        MuscleModel::Rigid {
            part: RigidPart::Eyes,
            ..
        }
    ));
    assert!(matches!(
        get("neck_pitch").model,
        MuscleModel::Rigid {
            part: RigidPart::Head,
            ..
        }
    ));
    assert!(matches!(get("jaw").model, MuscleModel::JawRotation { .. }));
    assert!(matches!(
        get("orbicularis_oris").model,
        MuscleModel::Sphincter { .. }
    ));
    assert!(matches!(
        get("orbicularis_oculi_r").model,
        MuscleModel::Sphincter { .. }
    ));
    assert!(matches!(
        get("levator_palpebrae_r").model,
        MuscleModel::Lid { .. }
    ));
    assert!(matches!(
        get("levator_labii_l").model,
        MuscleModel::Linear {
            lip: Some(Lip::Upper),
            ..
        }
    ));
    assert_eq!(get("jaw").region, Region::Jaw);
    assert_eq!(get("neck_pitch").region, Region::Neck);
    assert_eq!(get("frontalis_inner_l").region, Region::Brows);
    // Every pair is mirrored: same parameters with the offsets' x negated.
    for a in &rig.actuators {
        if let Some(base) = a.name.strip_suffix("_l") {
            let b = get(&format!("{base}_r"));
            let mirrored = mirror(a);
            assert_eq!(mirrored.model, b.model, "{} vs {}", a.name, b.name);
        }
    }
}

fn mirror(a: &Actuator) -> Actuator {
    fn m(an: &Anchor) -> Anchor {
        let swap = |s: &str| {
            s.strip_suffix("_l")
                .map_or_else(|| s.to_owned(), |b| format!("{b}_r"))
        };
        Anchor {
            landmark: swap(&an.landmark),
            blend: an.blend.as_ref().map(|b| facetwin_rig::rig::Blend {
                landmark: swap(&b.landmark),
                t: b.t,
            }),
            offset: [-an.offset[0], an.offset[1], an.offset[2]],
        }
    }
    let mut out = a.clone();
    match &mut out.model {
        MuscleModel::Linear {
            origin, insertion, ..
        } => {
            *origin = m(origin);
            *insertion = m(insertion);
        }
        MuscleModel::Sphincter { centre, .. } => *centre = m(centre),
        MuscleModel::Lid { eye, lid, .. } => {
            *eye = m(eye);
            *lid = m(lid);
        }
        _ => {}
    }
    out
}

#[test]
fn rig_round_trips_through_ron() {
    let rig = Rig::default_rig();
    let text = rig.to_ron_string().expect("serialises");
    let back = parse(&text).expect("parses back");
    assert_eq!(back, rig);
}

#[test]
fn syntax_errors_name_file_line_and_column() {
    // Line 4 lacks the comma after `actuators: [`'s first entry field.
    let src =
        "(\n    name: \"t\",\n    actuators: [\n        (name: \"a\" channel: 0),\n    ],\n)\n";
    let err = parse(src).expect_err("must fail");
    let msg = err.to_string();
    match &err {
        RigError::Parse { line, column, .. } => {
            assert_eq!(*line, 4, "{msg}");
            assert!(*column > 1, "{msg}");
        }
        other => panic!("expected a parse error, got {other:?}"),
    }
    assert!(msg.starts_with("test.rig.ron:4:"), "{msg}");
}

#[test]
fn unknown_fields_and_variants_are_errors_with_position() {
    let bad_field = single("a", 0, -0.1, 1.0, LINEAR).replace("zone_deg", "zone_degrees");
    let msg = parse(&bad_field).expect_err("unknown field").to_string();
    assert!(
        msg.starts_with("test.rig.ron:") && msg.contains("zone_degrees"),
        "{msg}"
    );

    let bad_region = single("a", 0, -0.1, 1.0, LINEAR).replace("Cheeks", "Ears");
    let msg = parse(&bad_region).expect_err("unknown region").to_string();
    assert!(msg.starts_with("test.rig.ron:7:"), "{msg}");
    assert!(msg.contains("Ears"), "{msg}");

    let missing = single("a", 0, -0.1, 1.0, LINEAR).replace("falloff_end: 1.25,", "");
    let msg = parse(&missing).expect_err("missing field").to_string();
    assert!(msg.contains("falloff_end"), "{msg}");
}

#[test]
fn a_single_valid_actuator_parses() {
    let rig = parse(&single("zyg", 3, -0.1, 1.0, LINEAR)).expect("valid");
    assert_eq!(rig.actuators[0].channel, 3);
    assert_eq!(rig.channel_count(), 4);
    assert!(rig.actuator_on(0).is_none());
}

#[test]
fn duplicate_channels_are_refused() {
    let src = DEFAULT_RIG_RON.replace("channel: 13,", "channel: 12,");
    let err = parse(&src).expect_err("duplicate");
    let msg = err.to_string();
    assert!(matches!(err, RigError::Invalid { .. }), "{err:?}");
    assert!(msg.contains("duplicate channel 12"), "{msg}");
    assert!(
        msg.contains("zygomaticus_major_l") && msg.contains("zygomaticus_major_r"),
        "{msg}"
    );
    // Located at the offending actuator's name.
    let line = src
        .lines()
        .position(|l| l.contains("\"zygomaticus_major_r\""))
        .expect("present")
        + 1;
    assert!(msg.starts_with(&format!("test.rig.ron:{line}:")), "{msg}");
}

#[test]
fn duplicate_names_are_refused() {
    let src = DEFAULT_RIG_RON.replace("name: \"risorius_r\"", "name: \"risorius_l\"");
    let msg = parse(&src).expect_err("duplicate name").to_string();
    assert!(
        msg.contains("risorius_l") && msg.contains("duplicate actuator name"),
        "{msg}"
    );
}

#[test]
fn unknown_landmarks_are_named() {
    let src = single(
        "zyg",
        0,
        -0.1,
        1.0,
        &LINEAR.replace("cheekbone_l", "cheekbone_left"),
    );
    let msg = parse(&src).expect_err("unknown landmark").to_string();
    assert!(msg.contains("unknown landmark `cheekbone_left`"), "{msg}");
    assert!(msg.contains("zyg") && msg.contains("origin"), "{msg}");
}

#[test]
fn out_of_range_channels_and_bad_limits_are_refused() {
    let msg = parse(&single("a", 40, -0.1, 1.0, LINEAR))
        .expect_err("channel 40")
        .to_string();
    assert!(msg.contains("channel 40 is out of range"), "{msg}");

    let msg = parse(&single("a", 0, 1.0, 1.0, LINEAR))
        .expect_err("min == max")
        .to_string();
    assert!(
        msg.contains("`min_norm` (1) must be less than `max_norm` (1)"),
        "{msg}"
    );
    let msg = parse(&single("a", 0, 0.5, 0.2, LINEAR))
        .expect_err("min > max")
        .to_string();
    assert!(msg.contains("must be less than"), "{msg}");
    let msg = parse(&single("a", 0, 0.2, 1.0, LINEAR))
        .expect_err("no neutral")
        .to_string();
    assert!(msg.contains("neutral"), "{msg}");
}

#[test]
fn bad_model_parameters_are_refused() {
    let src = single(
        "a",
        0,
        -0.1,
        1.0,
        &LINEAR.replace("falloff_end: 1.25", "falloff_end: 0.5"),
    );
    let msg = parse(&src).expect_err("falloff").to_string();
    assert!(msg.contains("falloff_end"), "{msg}");
    let src = single(
        "a",
        0,
        -0.1,
        1.0,
        &LINEAR.replace("zone_deg: 22.0", "zone_deg: -3.0"),
    );
    let msg = parse(&src).expect_err("zone").to_string();
    assert!(msg.contains("zone_deg"), "{msg}");
    let lip = LINEAR.replace(
        "max_displacement_m: 0.01,",
        "max_displacement_m: 0.01,\n                lip: Upper,",
    );
    let msg = parse(&single("a", 0, -0.1, 1.0, &lip))
        .expect_err("lip without jaw")
        .to_string();
    assert!(msg.contains("JawRotation"), "{msg}");
}

#[test]
fn empty_rigs_and_two_jaws_are_refused() {
    let msg = parse("(name: \"e\", actuators: [])")
        .expect_err("empty")
        .to_string();
    assert!(msg.contains("no actuators"), "{msg}");

    let rig = Rig::default_rig();
    let mut two = rig.clone();
    let mut jaw2 = rig.actuator("jaw").expect("jaw").clone();
    jaw2.name = "jaw2".to_owned();
    jaw2.channel = 30;
    two.actuators.push(jaw2);
    let msg = two.validate("x").expect_err("two jaws").to_string();
    assert!(msg.contains("at most one"), "{msg}");
}

#[test]
fn load_reports_the_path() {
    let dir = std::env::temp_dir().join(format!("facetwin-deform-rig-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let missing = dir.join("nope.rig.ron");
    let msg = Rig::load(&missing).expect_err("missing").to_string();
    assert!(msg.contains("nope.rig.ron"), "{msg}");

    let broken = dir.join("broken.rig.ron");
    std::fs::write(
        &broken,
        "(\n  name: \"b\",\n  actuators: [\n    oops\n  ],\n)\n",
    )
    .expect("write");
    let msg = Rig::load(&broken).expect_err("broken").to_string();
    assert!(
        msg.starts_with(&format!("{}:4:", broken.display())),
        "{msg}"
    );

    let good = dir.join("good.rig.ron");
    std::fs::write(&good, DEFAULT_RIG_RON).expect("write");
    assert_eq!(Rig::load(&good).expect("loads"), Rig::default_rig());
    let _ = std::fs::remove_dir_all(&dir);
}
