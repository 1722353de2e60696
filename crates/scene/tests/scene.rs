//! Scene files: parsing errors with positions, semantic checks, the runner's verdicts and
//! messages, determinism, reports, discovery.

use facetwin_scene::{RunOptions, SceneError, Status, parse, run};

fn run_text(text: &str) -> facetwin_scene::SceneResult {
    let scene = parse(text, "test.ron").unwrap_or_else(|e| panic!("{e}"));
    run(&scene, &RunOptions::default())
}

#[test]
fn syntax_errors_name_file_line_and_column() {
    let text =
        "Scene(\n    duration_s: 1.0,\n    steps: [\n        (at: 0.5 do: Unplug),\n    ],\n)\n";
    let err = parse(text, "scenes/broken.ron").expect_err("missing comma");
    assert_eq!(err.position(), Some((4, 18)));
    let msg = err.to_string();
    assert!(msg.starts_with("scenes/broken.ron:4:18: "), "{msg}");
    assert!(msg.to_lowercase().contains("expected comma"), "{msg}");

    let err = parse("Scene(duration_s: 1.0, stepz: [])", "x.ron").expect_err("unknown field");
    let msg = err.to_string();
    assert!(msg.starts_with("x.ron:1:"), "{msg}");
    assert!(msg.contains("stepz") && msg.contains("steps"), "{msg}");

    let err = parse(
        "Scene(duration_s: 1.0, steps: [(at: 0.1, do: Explode)])",
        "x.ron",
    )
    .expect_err("unknown action");
    assert!(err.to_string().contains("Explode"), "{err}");
}

#[test]
fn unknown_names_are_reported_with_file_and_position() {
    let text = r#"Scene(
    duration_s: 1.0,
    poses: { "smile": { "zygomaticus_major_l": 0.5 } },
    steps: [
        (at: 0.1, do: Play(pose: "smiel", onset_ms: 10, offset_ms: 10)),
    ],
)"#;
    let err = parse(text, "scenes/typo.ron").expect_err("unknown pose");
    let msg = err.to_string();
    assert!(matches!(err, SceneError::Invalid { .. }));
    assert!(
        msg.starts_with("scenes/typo.ron:5:34: step 1: unknown pose `smiel`"),
        "{msg}"
    );
    assert!(msg.contains("did you mean `smile`"), "{msg}");

    let text = r#"Scene(
    duration_s: 1.0,
    expect: [ Position(channel: "jaww", at_s: 0.5, min: 0.0, max: 1.0) ],
)"#;
    let msg = parse(text, "e.ron")
        .expect_err("unknown channel")
        .to_string();
    assert!(
        msg.starts_with("e.ron:3:33: expectation 1 (Position): unknown channel `jaww`"),
        "{msg}"
    );

    let text = r#"Scene(duration_s: 1.0, expect: [ FaultRaised(channel: "jaw", fault: "stal", by_s: 1.0) ])"#;
    let msg = parse(text, "f.ron").expect_err("unknown fault").to_string();
    assert!(
        msg.contains("unknown fault `stal`") && msg.contains("stall"),
        "{msg}"
    );
}

#[test]
fn semantic_checks() {
    let bad = [
        ("Scene(duration_s: 0.0)", "duration_s"),
        (
            "Scene(duration_s: 1.0, command_rate_hz: 300)",
            "must divide 1000",
        ),
        (
            "Scene(duration_s: 1.0, steps: [(at: 2.0, do: Unplug)])",
            "outside the scene",
        ),
        (
            r#"Scene(duration_s: 1.0, head: Serial(path: "/dev/null"), steps: [(at: 0.5, do: Unplug)])"#,
            "in-process head",
        ),
        (
            "Scene(duration_s: 1.0, expect: [SafeStateAfterSilence(within_ms: 210, neutral_by_s: 1.0)])",
            "no Silence step",
        ),
        (
            r#"Scene(duration_s: 1.0, expect: [ApexWithin(channel: "jaw", tolerance_ms: 10, min_value: 0.1)])"#,
            "exactly one of",
        ),
        (
            "Scene(duration_s: 1.0, expect: [StaysConnected(from_s: 0.8, to_s: 0.2)])",
            "reversed",
        ),
    ];
    for (text, want) in bad {
        let msg = parse(text, "s.ron").expect_err(text).to_string();
        assert!(msg.starts_with("s.ron"), "{msg}");
        assert!(msg.contains(want), "{text}: {msg}");
    }
    // Integers are fine where seconds are expected; `at` may be left out after a `Wait`.
    let ok = parse(
        r#"Scene(duration_s: 1, steps: [(at: 0, do: SetMotors({"jaw": 1})), (do: Wait(ms: 300)),
            (do: SetMotors({"jaw": 0}))])"#,
        "ok.ron",
    )
    .expect("valid");
    assert_eq!(ok.name, "ok");
}

#[test]
fn wait_moves_the_cursor_and_positions_are_checked() {
    let r = run_text(
        r#"Scene(
    duration_s: 1.0,
    steps: [
        (at: 0.0, do: SetMotors({"jaw": 0.4})),
        (do: Wait(ms: 500)),
        (do: SetMotors({"jaw": 0.0})),
    ],
    expect: [
        Position(channel: "jaw", at_s: 0.45, min: 0.38, max: 0.42),
        Position(channel: "jaw", at_s: 0.95, min: -0.02, max: 0.02),
        Position(channel: "jaw", at_s: 0.95, min: 0.3, max: 0.5),
        Disconnected(by_s: 1.0),
        Image(at_s: 0.5, reference: "none.png"),
    ],
)"#,
    );
    let st: Vec<Status> = r.outcomes.iter().map(|o| o.status).collect();
    assert_eq!(
        st,
        [
            Status::Pass,
            Status::Pass,
            Status::Fail,
            Status::Fail,
            Status::Skipped
        ],
        "{:#?}",
        r.outcomes
    );
    assert!(
        r.outcomes[2].message.contains("outside 0.3..0.5"),
        "{}",
        r.outcomes[2].message
    );
    assert!(
        r.outcomes[3].message.contains("never noticed"),
        "{}",
        r.outcomes[3].message
    );
    assert_eq!(r.outcomes[4].message, "skipped: needs --render");
    assert!(!r.passed());
    assert!(r.realtime_factor > 0.0 && r.wall_s > 0.0);
}

#[test]
fn runs_are_deterministic_and_the_seed_and_link_matter() {
    let text = r#"Scene(
    duration_s: 0.6,
    telemetry_hz: 1000,
    steps: [
        (at: 0.0, do: CorruptLink(fraction: 0.01)),
        (at: 0.1, do: SetMotors({"jaw": 0.3, "zygomaticus_major_l": 0.5})),
        (at: 0.2, do: InjectFault(channel: "jaw", kind: EncoderGlitch)),
    ],
)"#;
    let a = run_text(text);
    let b = run_text(text);
    assert!(a.telemetry_frames > 20);
    assert_eq!(
        (a.telemetry_hash, a.telemetry_frames),
        (b.telemetry_hash, b.telemetry_frames)
    );
    let c = run_text(&text.replace("0.01", "0.02"));
    assert_ne!(a.telemetry_hash, c.telemetry_hash);
    let d = run_text(&text.replace("duration_s: 0.6,", "duration_s: 0.6, seed: 7,"));
    assert_ne!(
        a.telemetry_hash, d.telemetry_hash,
        "the seed drives the encoder glitches"
    );
}

#[test]
fn current_deviation_needs_a_real_deviation() {
    // A healthy channel draws what the healthy model draws: no deviation, the check fails.
    let text = r#"Scene(
    duration_s: 1.0,
    steps: [ (at: 0.1, do: SetMotors({"zygomaticus_major_l": 0.7})) ],
    expect: [
        CurrentDeviation(channel: "zygomaticus_major_l", from_s: 0.5, to_s: 1.0, min_ratio: 0.5),
    ],
)"#;
    let r = run_text(text);
    let o = &r.outcomes[0];
    assert_eq!(o.status, Status::Fail, "{}", o.message);
    assert!(o.message.contains("no deviation detected"), "{}", o.message);
    // The ratio is close to 1.
    let ratio: f64 = o
        .message
        .split("ratio ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .expect("ratio in the message");
    assert!((0.7..1.3).contains(&ratio), "{}", o.message);
}

#[test]
fn apex_timing_is_measured_from_telemetry() {
    let text = r#"Scene(
    command_rate_hz: 200,
    telemetry_hz: 1000,
    duration_s: 0.5,
    poses: { "flash": { "zygomaticus_major_l": 0.1 } },
    steps: [ (at: 0.1, do: Play(pose: "flash", onset_ms: 40, offset_ms: 40)) ],
    expect: [
        ApexWithin(channel: "zygomaticus_major_l", pose: "flash", tolerance_ms: 10, min_value: 0.08),
        ApexWithin(channel: "zygomaticus_major_l", at_s: 0.2, tolerance_ms: 10, min_value: 0.08),
    ],
)"#;
    let r = run_text(text);
    assert_eq!(
        r.outcomes[0].status,
        Status::Pass,
        "{}",
        r.outcomes[0].message
    );
    let t = r.outcomes[0].at_s.expect("time");
    assert!((t - 0.14).abs() <= 0.01, "apex at {t}");
    assert_eq!(
        r.outcomes[1].status,
        Status::Fail,
        "{}",
        r.outcomes[1].message
    );
    assert!(
        r.outcomes[1].message.contains("too far from the apex"),
        "{}",
        r.outcomes[1].message
    );
}

#[test]
fn reports_have_one_testcase_per_expectation() {
    let r = run_text(
        r#"Scene(duration_s: 0.3, expect: [
            NoFault(from_s: 0.0, to_s: 0.3),
            Position(channel: "jaw", at_s: 0.2, min: 0.5, max: 0.6),
        ])"#,
    );
    let bad = parse("Scene(", "bad \"file\".ron").expect_err("bad");
    let xml =
        facetwin_scene::report::junit_xml(std::slice::from_ref(&r), std::slice::from_ref(&bad));
    assert!(xml.starts_with("<?xml"));
    assert_eq!(xml.matches("<testcase ").count(), 3);
    assert_eq!(xml.matches("<failure ").count(), 1);
    assert_eq!(xml.matches("<error ").count(), 1);
    assert!(xml.contains("bad &quot;file&quot;.ron"));
    let json = facetwin_scene::report::json(std::slice::from_ref(&r), std::slice::from_ref(&bad));
    assert!(
        json.contains("\"passed\": 0,") && json.contains("\"failed\": 2,"),
        "{json}"
    );
    assert!(json.contains("\"status\": \"fail\""));
    assert!(json.contains("bad \\\"file\\\".ron"));
    assert!(json.contains(&format!("{:#018x}", r.telemetry_hash)));
}

#[test]
fn discovery_expands_folders_and_patterns() {
    let dir = std::env::temp_dir().join(format!("facetwin-discover-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).expect("dir");
    for f in ["b.ron", "a.ron", "notes.txt", "sub/c.ron"] {
        std::fs::write(dir.join(f), "").expect("write");
    }
    let d = dir.display().to_string();
    let names = |v: Vec<std::path::PathBuf>| -> Vec<String> {
        v.iter()
            .map(|p| p.strip_prefix(&dir).expect("in dir").display().to_string())
            .collect()
    };
    let found = facetwin_scene::discover(std::slice::from_ref(&d)).expect("folder");
    assert_eq!(names(found), ["a.ron", "b.ron"]);
    let found =
        facetwin_scene::discover(&[format!("{d}/*/*.ron"), format!("{d}/?.ron")]).expect("glob");
    assert_eq!(names(found), ["a.ron", "b.ron", "sub/c.ron"]);
    assert!(facetwin_scene::discover(&[format!("{d}/*.json")]).is_err());
    assert!(facetwin_scene::discover(&[format!("{d}/missing.ron")]).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_scene_drives_a_head_on_a_serial_port_in_real_time() {
    use facetwin_head::{HeadConfig, VirtualHead};
    use facetwin_link::pty::{PtyHead, PtyOptions};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let server = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut pty = match PtyHead::open(None) {
                Ok(p) => p,
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                    return;
                }
            };
            let _ = tx.send(Ok(pty.slave_path().to_owned()));
            let mut head = VirtualHead::new(HeadConfig::default_head());
            let _ = pty.serve(&mut head, &PtyOptions::default(), &stop);
        })
    };
    let path = match rx.recv().expect("server") {
        Ok(p) => p,
        Err(e) => {
            eprintln!("skipped: no pseudo-terminal ({e})");
            return;
        }
    };
    let text = format!(
        r#"Scene(
    head: Serial(path: "{path}", baud: 1000000),
    duration_s: 1.0,
    steps: [
        (at: 0.1, do: SetMotors({{"jaw": 0.4}})),
        (at: 0.2, do: InjectFault(channel: "mentalis", kind: Jam)),
        (at: 0.3, do: SetMotors({{"mentalis": 0.6}})),
    ],
    expect: [
        Position(channel: "jaw", at_s: 0.8, min: 0.37, max: 0.43),
        FaultRaised(channel: "mentalis", fault: "stall", by_s: 0.9),
        NoFault(channel: "jaw", from_s: 0.0, to_s: 1.0),
    ],
)"#
    );
    let scene = parse(&text, "serial.ron").expect("scene");
    let start = std::time::Instant::now();
    let r = run(&scene, &RunOptions::default());
    let wall = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    server.join().expect("server thread");
    assert!(r.passed(), "{r:#?}");
    assert!(wall >= 1.0, "a real head runs in real time: {wall} s");
    assert!(r.realtime_factor < 1.05);
}

#[test]
fn the_documented_example_is_a_valid_passing_scene() {
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/SCENES.md"),
    )
    .expect("docs/SCENES.md");
    let start = doc.find("```ron\n").expect("a ron block") + "```ron\n".len();
    let len = doc[start..].find("```").expect("block end");
    let r = run_text(&doc[start..start + len]);
    assert!(r.passed(), "{:#?}", r.outcomes);
}
