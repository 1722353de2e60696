//! The shipped scenes (`scenes/*.ron`) through the scene library: they all pass, they are
//! deterministic, bad files are reported with their position, failures say what and when.

use facetwin_scene::{RunOptions, SceneError, Status};
use std::path::{Path, PathBuf};

fn scenes_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenes")
}

#[test]
fn every_shipped_scene_passes() {
    let paths = facetwin_scene::discover(&[scenes_dir().display().to_string()]).expect("scenes");
    assert!(paths.len() >= 10, "shipped scenes: {paths:?}");
    let scenes: Vec<_> = paths
        .iter()
        .map(|p| facetwin_scene::load(p).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    // Two threads: the scenes are independent.
    let (a, b) = scenes.split_at(scenes.len() / 2);
    let run_all = |list: &[facetwin_scene::LoadedScene]| -> Vec<_> {
        list.iter()
            .map(|s| facetwin_scene::run(s, &RunOptions::default()))
            .collect()
    };
    let (ra, rb) = std::thread::scope(|s| {
        let h = s.spawn(|| run_all(a));
        let rb = run_all(b);
        (h.join().expect("thread"), rb)
    });
    let mut report = String::new();
    let mut failed = 0;
    for r in ra.iter().chain(&rb) {
        report.push_str(&r.summary_line());
        report.push('\n');
        if let Some(e) = &r.error {
            report.push_str(&format!("    error: {e}\n"));
        }
        for f in r.failures() {
            report.push_str(&format!("    {}: {}\n", f.label, f.message));
        }
        failed += usize::from(!r.passed());
        assert!(r.telemetry_frames > 100, "{}: telemetry recorded", r.name);
    }
    println!("{report}");
    assert_eq!(failed, 0, "failing scenes:\n{report}");
}

#[test]
fn a_scene_run_twice_gives_identical_telemetry() {
    let scene = facetwin_scene::load(&scenes_dir().join("smile.ron")).expect("smile");
    let a = facetwin_scene::run(&scene, &RunOptions::default());
    let b = facetwin_scene::run(&scene, &RunOptions::default());
    assert!(a.telemetry_frames > 500);
    assert_eq!(a.telemetry_frames, b.telemetry_frames);
    assert_eq!(
        a.telemetry_hash, b.telemetry_hash,
        "same scene, same telemetry"
    );
    // ... and a different scene gives different telemetry.
    let other = facetwin_scene::load(&scenes_dir().join("blink.ron")).expect("blink");
    let c = facetwin_scene::run(&other, &RunOptions::default());
    assert_ne!(a.telemetry_hash, c.telemetry_hash);
}

#[test]
fn a_broken_scene_file_names_file_line_and_column() {
    let dir = std::env::temp_dir().join(format!("facetwin-scenes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("broken.ron");
    // Line 4: the comma after `at: 0.5` is missing.
    std::fs::write(
        &file,
        "Scene(\n    duration_s: 1.0,\n    steps: [\n        (at: 0.5 do: Unplug),\n    ],\n)\n",
    )
    .expect("write");
    let err = facetwin_scene::load(&file).expect_err("broken");
    let msg = err.to_string();
    assert!(matches!(err, SceneError::Parse { line: 4, .. }), "{msg}");
    assert!(
        msg.starts_with(&format!("{}:4:18:", file.display())),
        "file:line:column first: {msg}"
    );
    assert!(
        msg.to_lowercase().contains("comma"),
        "what was expected: {msg}"
    );

    // A semantic error: an unknown channel, named with the file and its position.
    std::fs::write(
        &file,
        "Scene(\n    duration_s: 1.0,\n    steps: [\n        (at: 0.5, do: SetMotors({\"zygomatic_l\": 0.5})),\n    ],\n)\n",
    )
    .expect("write");
    let msg = facetwin_scene::load(&file)
        .expect_err("unknown")
        .to_string();
    assert!(
        msg.starts_with(&format!("{}:4:34:", file.display())),
        "{msg}"
    );
    assert!(msg.contains("unknown channel `zygomatic_l`"), "{msg}");
    assert!(
        msg.contains("zygomaticus_major_l"),
        "suggests the right name: {msg}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failing_expectation_says_which_when_and_by_how_much() {
    let text = r#"Scene(
    duration_s: 1.0,
    poses: { "smile": { "zygomaticus_major_l": 0.8 } },
    steps: [ (at: 0.2, do: Play(pose: "smile", onset_ms: 200, hold_ms: 200, offset_ms: 200)) ],
    expect: [
        MaxTrackingError(channel: "zygomaticus_major_l", from_s: 0.0, to_s: 1.0, max_norm: 0.0001),
        Position(channel: "zygomaticus_major_l", at_s: 0.5, min: 0.7, max: 0.9),
    ],
)"#;
    let scene = facetwin_scene::parse(text, "impossible.ron").expect("parses");
    let r = facetwin_scene::run(&scene, &RunOptions::default());
    assert!(!r.passed());
    assert_eq!(r.outcomes.len(), 2);
    let fail = &r.outcomes[0];
    assert_eq!(fail.status, Status::Fail);
    assert!(
        fail.label
            .starts_with("MaxTrackingError(zygomaticus_major_l")
    );
    assert!(
        fail.at_s.is_some_and(|t| (0.2..=1.0).contains(&t)),
        "{fail:?}"
    );
    assert!(
        fail.message.contains("exceeds 0.0001") && fail.message.contains("at t = "),
        "{}",
        fail.message
    );
    assert_eq!(r.outcomes[1].status, Status::Pass, "{:?}", r.outcomes[1]);
    assert!(r.summary_line().starts_with("FAIL impossible.ron"));
    let junit = facetwin_scene::report::junit_xml(std::slice::from_ref(&r), &[]);
    assert!(junit.contains("<failure message=\""), "{junit}");
    assert_eq!(junit.matches("<testcase ").count(), 2);
}
