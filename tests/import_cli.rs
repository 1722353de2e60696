//! `facetwin import livelink` as a designer runs it: the shipped capture becomes a clip file
//! the workbench loads; a broken capture gets a file:line error and a failing exit code.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("facetwin-import-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[test]
fn livelink_take_becomes_a_clip_that_loads_back() {
    let dir = scratch("ok");
    let out = dir.join("take.clip.ron");
    let result = Command::new(env!("CARGO_BIN_EXE_facetwin"))
        .args(["import", "livelink"])
        .arg(root().join("assets/captures/synthetic_take.csv"))
        .arg("-o")
        .arg(&out)
        .args(["--smooth-ms", "10", "--time-scale", "0.5"])
        .output()
        .expect("run facetwin import");
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(
        result.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(stdout.contains("tracks"), "{stdout}");
    let clip = facetwin_authoring::Clip::load(&out).expect("the written clip loads");
    assert!(!clip.tracks.is_empty());
    assert!(clip.tracks.iter().any(|t| t.keys.len() > 2));
    assert_eq!(clip.name, "synthetic_take");
    // Time scale 0.5: half as long as the unscaled import.
    let full = facetwin_authoring::import_livelink(
        &root().join("assets/captures/synthetic_take.csv"),
        &facetwin_authoring::ImportOptions::default(),
    )
    .expect("import");
    let half = f64::from(full.duration_ms) * 0.5;
    assert!(
        (f64::from(clip.duration_ms) - half).abs() <= 2.0,
        "{} vs {half}",
        clip.duration_ms
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_broken_capture_is_named_with_its_line_and_nothing_is_written() {
    let dir = scratch("bad");
    let text = std::fs::read_to_string(root().join("assets/captures/synthetic_take.csv"))
        .expect("capture");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut fields: Vec<String> = lines[4].split(',').map(str::to_owned).collect();
    fields[5] = "abc".into();
    lines[4] = fields.join(",");
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, lines.join("\n")).expect("write");
    let out = dir.join("bad.clip.ron");
    let result = Command::new(env!("CARGO_BIN_EXE_facetwin"))
        .args(["import", "livelink"])
        .arg(&bad)
        .arg("-o")
        .arg(&out)
        .output()
        .expect("run facetwin import");
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(!result.status.success());
    assert!(stderr.contains("bad.csv:5:"), "{stderr}");
    assert!(stderr.contains("bad number \"abc\""), "{stderr}");
    assert!(!out.exists());
    let _ = std::fs::remove_dir_all(dir);
}
