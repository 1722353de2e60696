//! Live Link Face import: the synthetic take, bad inputs, the bounded fit.

#![allow(clippy::unwrap_used)]

use facetwin_authoring::livelink::{
    ArkitMapping, FRAME_VALUES, ImportError, ImportOptions, LIVELINK_BLENDSHAPES, Retargeter,
    Smoothing, frame_index, import_livelink, import_livelink_str, parse_livelink_csv,
    synthetic_take_csv,
};
use facetwin_authoring::{AuTable, BoundedFit, ChannelLayout, Clip};
use proptest::prelude::*;
use std::path::PathBuf;

fn take_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/captures/synthetic_take.csv")
}

fn ch(name: &str) -> usize {
    ChannelLayout::default_head().index(name).unwrap()
}

/// `FACETWIN_BLESS=1 cargo test -p facetwin-authoring --test livelink`
/// rewrites the committed take after a deliberate change.
#[test]
fn synthetic_take_file_is_current() {
    let text = synthetic_take_csv();
    if std::env::var_os("FACETWIN_BLESS").is_some() {
        std::fs::write(take_path(), &text).unwrap();
    }
    let committed = std::fs::read_to_string(take_path()).unwrap();
    assert!(
        committed == text,
        "assets/captures/synthetic_take.csv is stale: rerun with FACETWIN_BLESS=1"
    );
    assert_eq!(
        text.lines().count(),
        122,
        "header + 121 frames (2 s at 60 fps)"
    );
    let header = text.lines().next().unwrap();
    assert!(header.starts_with("Timecode,BlendShapeCount,EyeBlinkLeft,EyeLookDownLeft,"));
    assert!(header.ends_with(",HeadYaw,HeadPitch,HeadRoll,LeftEyeYaw,LeftEyePitch,LeftEyeRoll,RightEyeYaw,RightEyePitch,RightEyeRoll"));
}

fn import(opts: &ImportOptions) -> Clip {
    import_livelink(&take_path(), opts).unwrap()
}

fn sample(clip: &Clip, t_ms: f32) -> Vec<f32> {
    clip.sample(&AuTable::builtin(), t_ms)
}

#[test]
fn synthetic_take_imports_smile_blink_jaw() {
    let clip = import(&ImportOptions::default());
    assert_eq!(clip.name, "synthetic_take");
    assert_eq!(clip.duration_ms, 2000);
    // Smile frames (held 0.55–0.90 s).
    for t in [600.0, 700.0, 850.0] {
        let p = sample(&clip, t);
        assert!(p[ch("zygomaticus_major_l")] > 0.3, "{t}: {p:?}");
        assert!(p[ch("zygomaticus_major_r")] > 0.3, "{t}: {p:?}");
        assert!(p[ch("orbicularis_oculi_l")] > 0.2, "cheek squint → AU6");
        if t <= 700.0 {
            // 0.1 rad of eye yaw over a 30° range.
            assert!(
                (p[ch("eyes_yaw")] - 0.19).abs() < 0.01,
                "glance: {}",
                p[ch("eyes_yaw")]
            );
        }
        assert!(
            p[ch("levator_palpebrae_l")] > -0.2,
            "eyes open while smiling"
        );
    }
    // Blink frames (closed 1.06–1.14 s).
    for t in [1067.0, 1100.0, 1133.0] {
        let p = sample(&clip, t);
        assert!(p[ch("levator_palpebrae_l")] < -0.5, "{t}: {p:?}");
        assert!(p[ch("levator_palpebrae_r")] < -0.5, "{t}: {p:?}");
    }
    // Jaw open (held 1.45–1.65 s).
    let p = sample(&clip, 1550.0);
    assert!(p[ch("jaw")] > 0.35, "{p:?}");
    assert!(p[ch("levator_palpebrae_l")] > -0.1);
    // Neutral at both ends (the slight nod aside).
    for t in [0.0, 2000.0] {
        let p = sample(&clip, t);
        for (i, v) in p.iter().enumerate() {
            if i != ch("neck_pitch") {
                assert!(v.abs() < 0.02, "{t} ms: channel {i} = {v}");
            }
        }
    }
    // Decimated: far fewer keys than frames, within the limits.
    let keys: usize = clip.tracks.iter().map(|t| t.keys.len()).sum();
    assert!(keys < clip.tracks.len() * 121 / 2, "{keys} keys");
    assert!(clip.validate().is_ok());
}

#[test]
fn smoothing_and_time_scale() {
    let smooth = import(&ImportOptions {
        smoothing: Smoothing::OnePole { tau_ms: 15.0 },
        ..ImportOptions::default()
    });
    assert!(sample(&smooth, 700.0)[ch("zygomaticus_major_l")] > 0.3);
    assert!(sample(&smooth, 1100.0)[ch("levator_palpebrae_l")] < -0.5);
    let slow = import(&ImportOptions {
        time_scale: 2.0,
        smoothing: Smoothing::MovingAverage { window_ms: 30.0 },
        name: Some("slow".into()),
        ..ImportOptions::default()
    });
    assert_eq!(slow.name, "slow");
    assert_eq!(slow.duration_ms, 4000);
    assert!(sample(&slow, 1400.0)[ch("zygomaticus_major_l")] > 0.3);
    assert!(sample(&slow, 2200.0)[ch("levator_palpebrae_l")] < -0.5);
}

fn take_lines() -> Vec<String> {
    synthetic_take_csv().lines().map(str::to_owned).collect()
}

fn import_text(text: &str) -> Result<Clip, ImportError> {
    import_livelink_str(
        text,
        "take.csv",
        "x",
        &ImportOptions::default(),
        &Retargeter::builtin(),
    )
}

#[test]
fn bad_csv_inputs_give_clear_errors() {
    let e = import_text("").unwrap_err().to_string();
    assert_eq!(e, "take.csv: empty file");
    let lines = take_lines();
    let e = import_text(&lines[0]).unwrap_err().to_string();
    assert_eq!(e, "take.csv: no frames after the header");

    // A missing column: named, on the header line.
    let drop_col = |line: &str, col: usize| -> String {
        line.split(',')
            .enumerate()
            .filter(|(i, _)| *i != col)
            .map(|(_, f)| f)
            .collect::<Vec<_>>()
            .join(",")
    };
    let smile_col = lines[0]
        .split(',')
        .position(|c| c == "MouthSmileLeft")
        .unwrap();
    let text: Vec<String> = lines.iter().map(|l| drop_col(l, smile_col)).collect();
    let e = import_text(&text.join("\n")).unwrap_err().to_string();
    assert_eq!(e, "take.csv:1: missing column \"MouthSmileLeft\"");

    // A bad number: file, line and column.
    let mut bad = lines.clone();
    let mut fields: Vec<String> = bad[5].split(',').map(str::to_owned).collect();
    fields[smile_col] = "0.5x".into();
    bad[5] = fields.join(",");
    let e = import_text(&bad.join("\n")).unwrap_err().to_string();
    assert_eq!(
        e,
        "take.csv:6: column \"MouthSmileLeft\": bad number \"0.5x\""
    );

    // Non-monotonic timecodes.
    let mut bad = lines.clone();
    bad.swap(10, 11);
    let e = import_text(&bad.join("\n")).unwrap_err();
    assert!(
        matches!(e, ImportError::NonMonotonic { line: 12, .. }),
        "{e}"
    );
    assert_eq!(
        e.to_string(),
        "take.csv:12: column \"Timecode\": 10:00:00:09.000 does not come after 10:00:00:10.000"
    );
    // A repeated timecode is not an increase either.
    let mut bad = lines.clone();
    bad[11] = bad[10].clone();
    assert!(matches!(
        import_text(&bad.join("\n")).unwrap_err(),
        ImportError::NonMonotonic { line: 12, .. }
    ));

    // A bad timecode.
    let mut bad = lines.clone();
    bad[3] = bad[3].replacen("10:00:00:02.000", "10:00:00", 1);
    let e = import_text(&bad.join("\n")).unwrap_err().to_string();
    assert!(
        e.starts_with("take.csv:4: column \"Timecode\": bad timecode \"10:00:00\""),
        "{e}"
    );

    // A short row.
    let mut bad = lines.clone();
    bad[7] = bad[7].rsplitn(4, ',').last().unwrap().to_owned();
    let e = import_text(&bad.join("\n")).unwrap_err().to_string();
    assert!(e.starts_with("take.csv:8: ") && e.contains("fields"), "{e}");

    // Missing file.
    let e = import_livelink(
        &take_path().with_file_name("nope.csv"),
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, ImportError::Io { .. }) && e.to_string().contains("nope.csv"));
}

#[test]
fn columns_are_found_by_name_and_midnight_wraps() {
    let lines = take_lines();
    // Reverse the column order (except nothing): the import must not care.
    let rev: Vec<String> = lines
        .iter()
        .map(|l| l.split(',').rev().collect::<Vec<_>>().join(","))
        .collect();
    let a = import_text(&lines.join("\n")).unwrap();
    let b = import_text(&rev.join("\n")).unwrap();
    assert_eq!(a, b);
    // Passing midnight keeps time increasing.
    let text = lines
        .iter()
        .map(|l| {
            l.replacen("10:00:00:", "23:59:59:", 1)
                .replacen("10:00:01:", "00:00:00:", 1)
                .replacen("10:00:02:", "00:00:01:", 1)
        })
        .collect::<Vec<_>>()
        .join("\n");
    let c = parse_livelink_csv(&text, "wrap.csv", 60.0).unwrap();
    assert!((c.times_ms.last().unwrap() - 2000.0).abs() < 1e-6);
}

#[test]
fn mapping_errors_are_located() {
    let table = AuTable::builtin();
    let text = "(\n    rules: [\n        (shape: \"mouthSmileLeft\", aus: [(\"AU12L\", 1.0)]),\n        (shape: \"mouthGrin\", aus: []),\n    ],\n)";
    let e = ArkitMapping::from_ron_str(text, "map.ron", &table)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("map.ron:4:") && e.contains("mouthGrin"),
        "{e}"
    );
    let text = "(rules: [(shape: \"jawOpen\", aus: [(\"AU99\", 1.0)])])";
    let e = ArkitMapping::from_ron_str(text, "map.ron", &table)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("map.ron:1:") && e.contains("AU99"), "{e}");
    // The shipped mapping covers the shapes the brief names.
    let m = ArkitMapping::load(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/au/arkit_to_au.ron"),
        &table,
    )
    .unwrap();
    for (shape, au) in [
        ("mouthSmileLeft", "AU12L"),
        ("cheekSquintLeft", "AU6L"),
        ("browInnerUp", "AU1"),
        ("browOuterUpLeft", "AU2L"),
        ("browDownLeft", "AU4L"),
        ("eyeWideLeft", "AU5L"),
        ("eyeBlinkLeft", "AU45L"),
        ("noseSneerLeft", "AU9L"),
        ("mouthUpperUpLeft", "AU10L"),
        ("mouthDimpleLeft", "AU14L"),
        ("mouthFrownLeft", "AU15L"),
        ("mouthLowerDownLeft", "AU16L"),
        ("mouthShrugLower", "AU17"),
        ("mouthPucker", "AU18"),
        ("mouthStretchLeft", "AU20L"),
        ("mouthPressLeft", "AU23"),
        ("jawOpen", "AU26"),
    ] {
        assert!(
            m.rules
                .iter()
                .any(|r| r.shape == shape && r.aus.iter().any(|(a, _)| a == au)),
            "{shape} → {au}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Any AU-derived target (however far out of range) fits inside the
    /// travel limits, no worse in AU space than plain clamping.
    #[test]
    fn fit_respects_bounds(intensities in prop::collection::vec(0.0f32..=1.0, 40), warm in prop::collection::vec(-2.0f32..2.0, 25)) {
        let table = AuTable::builtin();
        let fit = BoundedFit::new(&table);
        let mut p = vec![0.0; 25];
        for ((id, _), s) in table.basis().zip(&intensities) {
            table.accumulate(id, *s, &mut p);
        }
        let mut x = warm.clone();
        let stats = fit.fit(&p, &mut x);
        prop_assert!(stats.converged, "{:?}", stats);
        let layout = table.layout();
        for (i, v) in x.iter().enumerate() {
            let (lo, hi) = layout.limits(i);
            prop_assert!(*v >= lo && *v <= hi, "{} = {}", layout.name(i), v);
        }
        let mut clamped = p.clone();
        layout.clamp(&mut clamped);
        prop_assert!(fit.objective(&p, &x) <= fit.objective(&p, &clamped) + 1e-6);
    }

    /// Whole frames with random blendshapes and rotations retarget inside
    /// the limits.
    #[test]
    fn retargeted_frames_respect_bounds(values in prop::collection::vec(0.0f32..=1.0, LIVELINK_BLENDSHAPES.len()), rot in prop::collection::vec(-3.0f32..3.0, 9)) {
        let r = Retargeter::builtin();
        let mut frame = [0.0f32; FRAME_VALUES];
        frame[..52].copy_from_slice(&values);
        frame[52..].copy_from_slice(&rot);
        let mut x = vec![0.0; 25];
        r.retarget_frame(&frame, &ImportOptions::default(), &mut x);
        let layout = r.table().layout();
        for (i, v) in x.iter().enumerate() {
            let (lo, hi) = layout.limits(i);
            prop_assert!(*v >= lo && *v <= hi);
        }
        prop_assert!(frame_index("MouthSmileLeft") == Some(23));
    }
}
