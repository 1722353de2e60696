//! RON files: the shipped AU table and expressions, round trips, errors.

#![allow(clippy::unwrap_used)]

use facetwin_authoring::{
    AuTable, ChannelLayout, Clip, Expression, ExpressionLibrary, FileError, Handle, Key, Track,
    TrackTarget, blend, mirror,
};
use std::path::PathBuf;

fn assets() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets")
}

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("facetwin-authoring-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn ch(name: &str) -> usize {
    ChannelLayout::default_head().index(name).unwrap()
}

#[test]
fn shipped_au_table_file_loads_and_round_trips() {
    let t = AuTable::load(&assets().join("au/default.au.ron")).unwrap();
    assert_eq!(t, AuTable::builtin());
    let dir = scratch("au");
    let path = dir.join("copy.au.ron");
    t.save(&path).unwrap();
    assert_eq!(AuTable::load(&path).unwrap(), t);
}

#[test]
fn shipped_expressions_load_and_are_anatomically_sensible() {
    let table = AuTable::builtin();
    let lib = ExpressionLibrary::load_dir(&assets().join("expressions")).unwrap();
    let names: Vec<&str> = lib.names().collect();
    for want in [
        "neutral",
        "duchenne_smile",
        "social_smile",
        "sadness",
        "surprise",
        "fear",
        "anger",
        "disgust",
        "contempt",
        "blink",
        "wink_l",
        "micro_smile",
        "micro_contempt",
        "micro_surprise",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    for e in lib.iter() {
        e.check(&table)
            .unwrap_or_else(|u| panic!("{}: {u}", e.name));
    }
    let pose = |n: &str| lib.get(n).unwrap().pose(&table);
    let aus = |n: &str| -> Vec<String> {
        lib.get(n)
            .unwrap()
            .aus
            .iter()
            .map(|(a, _)| a.clone())
            .collect()
    };
    let has = |n: &str, list: &[&str]| {
        let a = aus(n);
        for au in list {
            assert!(a.iter().any(|x| x == au), "{n} lacks {au}: {a:?}");
        }
    };
    assert!(pose("neutral").iter().all(|v| *v == 0.0));
    // Duchenne = AU6 + AU12: eyes take part; social = AU12 only: they do not.
    has("duchenne_smile", &["AU6", "AU12"]);
    has("social_smile", &["AU12"]);
    assert!(!aus("social_smile").iter().any(|a| a.starts_with("AU6")));
    assert!(pose("duchenne_smile")[ch("orbicularis_oculi_l")] > 0.3);
    assert_eq!(pose("social_smile")[ch("orbicularis_oculi_l")], 0.0);
    assert!(pose("social_smile")[ch("zygomaticus_major_r")] > 0.3);
    has("surprise", &["AU1", "AU2", "AU5", "AU26"]);
    has("sadness", &["AU1", "AU4", "AU15"]);
    has("fear", &["AU1", "AU2", "AU4", "AU5", "AU20", "AU26"]);
    has("anger", &["AU4", "AU5", "AU7", "AU23"]);
    has("disgust", &["AU9", "AU15", "AU16"]);
    has("contempt", &["AU12L", "AU14L"]);
    let s = pose("surprise");
    assert!(s[ch("frontalis_inner_l")] > 0.5 && s[ch("jaw")] > 0.3);
    assert!(s[ch("levator_palpebrae_l")] > 0.1, "lids raised");
    // Contempt is unilateral.
    let c = pose("contempt");
    assert!(c[ch("risorius_l")] > 0.2 && c[ch("risorius_r")] == 0.0);
    assert!(c[ch("zygomaticus_major_l")] > 0.2 && c[ch("zygomaticus_major_r")] == 0.0);
    // Blink closes both lids; the left wink only the left one.
    let b = pose("blink");
    assert!(b[ch("levator_palpebrae_l")] < -0.9 && b[ch("levator_palpebrae_r")] < -0.9);
    let w = pose("wink_l");
    assert!(w[ch("levator_palpebrae_l")] < -0.9 && w[ch("levator_palpebrae_r")] == 0.0);
    // Micro-expressions are weaker than the full ones.
    assert!(
        pose("micro_smile")[ch("zygomaticus_major_l")]
            < pose("duchenne_smile")[ch("zygomaticus_major_l")]
    );
    // Every pose is within the travel limits.
    let l = ChannelLayout::default_head();
    for e in lib.iter() {
        for (i, v) in e.pose(&table).iter().enumerate() {
            let (lo, hi) = l.limits(i);
            assert!(*v >= lo && *v <= hi, "{}: {} = {v}", e.name, l.name(i));
        }
    }
}

#[test]
fn expression_round_trips_and_save_pose_as_expression() {
    let table = AuTable::builtin();
    let lib = ExpressionLibrary::load_dir(&assets().join("expressions")).unwrap();
    let dir = scratch("expr");
    for e in lib.iter() {
        let text = e.to_ron_string().unwrap();
        assert_eq!(&Expression::from_ron_str(&text, "x").unwrap(), e);
    }
    // The designer's current pose, saved as a new expression and reloaded.
    let mut pose = blend(
        &lib.get("duchenne_smile").unwrap().pose(&table),
        &lib.get("surprise").unwrap().pose(&table),
        0.3,
    );
    pose[ch("eyes_yaw")] = -0.4;
    let e = Expression::from_pose("my_pose", &pose);
    let path = dir.join(e.file_name());
    e.save(&path).unwrap();
    let back = Expression::load(&path).unwrap();
    assert_eq!(back, e);
    assert_eq!(back.pose(&table), pose);
    let again = ExpressionLibrary::load_dir(&dir).unwrap();
    assert_eq!(again.names().collect::<Vec<_>>(), vec!["my_pose"]);
}

#[test]
fn blend_and_mirror() {
    let table = AuTable::builtin();
    let lib = ExpressionLibrary::load_dir(&assets().join("expressions")).unwrap();
    let a = lib.get("sadness").unwrap().pose(&table);
    let b = lib.get("duchenne_smile").unwrap().pose(&table);
    assert_eq!(blend(&a, &b, 0.0), a);
    assert_eq!(blend(&a, &b, 1.0), b);
    let mid = blend(&a, &b, 0.5);
    for i in 0..25 {
        assert!((mid[i] - 0.5 * (a[i] + b[i])).abs() < 1e-6);
    }
    // Mirroring the left wink gives a right wink; twice is the identity.
    let wink_l = lib.get("wink_l").unwrap();
    let w = wink_l.pose(&table);
    let m = mirror(&w);
    assert_eq!(m[ch("levator_palpebrae_r")], w[ch("levator_palpebrae_l")]);
    assert_eq!(m[ch("levator_palpebrae_l")], 0.0);
    assert_eq!(mirror(&m), w);
    let wink_r = wink_l.mirrored("wink_r", &table);
    assert_eq!(wink_r.pose(&table), m);
    // eyes_yaw is negated, midline channels stay.
    let mut p = vec![0.0; 25];
    p[ch("eyes_yaw")] = 0.5;
    p[ch("jaw")] = 0.3;
    p[ch("corrugator_l")] = 0.7;
    let q = mirror(&p);
    assert_eq!(q[ch("eyes_yaw")], -0.5);
    assert_eq!(q[ch("jaw")], 0.3);
    assert_eq!(q[ch("corrugator_r")], 0.7);
    assert_eq!(q[ch("corrugator_l")], 0.0);
}

fn sample_clip() -> Clip {
    let mut clip = Clip::new("round_trip", 500);
    clip.tracks.push(Track {
        target: TrackTarget::Au("AU12".into()),
        keys: vec![
            Key::ease(0, 0.0, 20.0),
            Key::bezier(120, 0.8, Handle::new(-30.0, 0.1), Handle::new(40.0, -0.05)),
            Key::with_interp(300, 0.5, facetwin_authoring::Interpolation::Step),
            Key::new(480, 0.0),
        ],
    });
    clip.tracks.push(Track {
        target: TrackTarget::Channel("jaw".into()),
        keys: vec![Key::new(0, 0.1), Key::new(250, 0.33333334)],
    });
    clip.tracks
        .push(Track::new(TrackTarget::Channel("eyes_yaw".into())));
    clip
}

#[test]
fn clip_round_trips() {
    let clip = sample_clip();
    let text = clip.to_ron_string().unwrap();
    assert_eq!(Clip::from_ron_str(&text, "rt.clip.ron").unwrap(), clip);
    let dir = scratch("clip");
    let path = dir.join(clip.file_name());
    clip.save(&path).unwrap();
    assert_eq!(Clip::load(&path).unwrap(), clip);
    let micro = Clip::micro_expression_from(
        "micro_smile",
        &Expression::load(&assets().join("expressions/micro_smile.expr.ron")).unwrap(),
        60,
        100,
        140,
    );
    let text = micro.to_ron_string().unwrap();
    assert_eq!(Clip::from_ron_str(&text, "m").unwrap(), micro);
}

#[test]
fn clip_errors_name_file_line_and_column() {
    let text = sample_clip().to_ron_string().unwrap();
    // Syntax error on a known line.
    let lines: Vec<&str> = text.lines().collect();
    let (n, _) = lines
        .iter()
        .enumerate()
        .find(|(_, l)| l.contains("time_ms: 120"))
        .unwrap();
    let broken = text.replace("time_ms: 120", "time_ms: \"soon\"");
    let e = Clip::from_ron_str(&broken, "bad.clip.ron").unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!("bad.clip.ron:{}:", n + 1)),
        "{msg} (expected line {})",
        n + 1
    );
    assert!(matches!(e, FileError::Ron { .. }));
    // Unknown channel: reported with its location.
    let e = Clip::from_ron_str(&text.replace("\"jaw\"", "\"jaww\""), "ch.clip.ron").unwrap_err();
    match &e {
        FileError::UnknownChannel {
            path, line, name, ..
        } => {
            assert_eq!(path, "ch.clip.ron");
            assert_eq!(name, "jaww");
            assert!(lines[line - 1].contains("jaw"), "{e}");
        }
        other => panic!("{other}"),
    }
    // Key times must increase.
    let e = Clip::from_ron_str(&text.replace("time_ms: 250", "time_ms: 0"), "dup.clip.ron")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("dup.clip.ron:") && e.contains("does not come after"),
        "{e}"
    );
    // Unknown AU, when checked against a table.
    let e = Clip::from_ron_str_checked(
        &text.replace("\"AU12\"", "\"AU13\""),
        "au.clip.ron",
        &AuTable::builtin(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("au.clip.ron:") && e.contains("AU13"), "{e}");
    // Missing file.
    let e = Clip::load(&scratch("missing").join("nope.clip.ron")).unwrap_err();
    assert!(matches!(e, FileError::Io { .. }) && e.to_string().contains("nope.clip.ron"));
}

#[test]
fn expression_errors_name_the_channel() {
    let text = "(\n    name: \"x\",\n    channels: [(\"jaw\", 0.2), (\"tongue\", 1.0)],\n)";
    let e = Expression::from_ron_str(text, "x.expr.ron")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("x.expr.ron:3:") && e.contains("tongue"),
        "{e}"
    );
}
