//! Rendered-image tests: `facetwin shot` renders the neutral face and a smile on a real
//! renderer (a GPU, or Mesa's lavapipe under Xvfb in CI) and the pictures are compared with the
//! committed references within a tolerance. Set `FACETWIN_BLESS=1` to rewrite the references.

use std::path::{Path, PathBuf};
use std::process::Command;

const SIZE: u32 = 360;

/// Makes sure there is an X display: the one given, or an Xvfb started for the tests.
fn display() -> String {
    if let Ok(d) = std::env::var("DISPLAY")
        && !d.is_empty()
    {
        return d;
    }
    static XVFB: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    XVFB.get_or_init(|| {
        let d = format!(":{}", 90 + std::process::id() % 7);
        let child = Command::new("Xvfb")
            .args([
                d.as_str(),
                "-screen",
                "0",
                "1280x1024x24",
                "-nolisten",
                "tcp",
            ])
            .spawn();
        assert!(
            child.is_ok(),
            "no DISPLAY and no Xvfb: install xvfb and mesa-vulkan-drivers, or run .ci/run"
        );
        std::thread::sleep(std::time::Duration::from_millis(800));
        d
    })
    .clone()
}

fn shot(name: &str, motors: &[&str]) -> PathBuf {
    let out =
        std::env::temp_dir().join(format!("facetwin-render-{}-{name}.png", std::process::id()));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_facetwin"));
    cmd.env("DISPLAY", display())
        .args(["shot", "--out"])
        .arg(&out)
        .args([
            "--width",
            &SIZE.to_string(),
            "--height",
            &SIZE.to_string(),
            "--frames",
            "30",
        ]);
    for m in motors {
        cmd.args(["--motor", m]);
    }
    let result = cmd.output().expect("run facetwin shot");
    assert!(
        result.status.success() && out.exists(),
        "facetwin shot failed: {}\n{}",
        result.status,
        String::from_utf8_lossy(&result.stderr)
    );
    out
}

fn load_rgb(path: &Path) -> (u32, u32, Vec<u8>) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .expect("png header");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("png data");
    let channels = info.color_type.samples();
    let rgb = buf[..info.buffer_size()]
        .chunks(channels)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, rgb)
}

/// Mean absolute difference per channel, 0..255.
fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(x.abs_diff(*y)))
        .sum::<f64>()
        / a.len() as f64
}

fn reference(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/reference")
        .join(format!("{name}.png"))
}

fn check(name: &str, got: &Path) -> Vec<u8> {
    let want = reference(name);
    if std::env::var_os("FACETWIN_BLESS").is_some() {
        std::fs::copy(got, &want).expect("bless reference");
    }
    let (w, h, got_rgb) = load_rgb(got);
    let (rw, rh, want_rgb) = load_rgb(&want);
    assert_eq!((w, h), (rw, rh), "{name}: size differs from the reference");
    let diff = mean_abs_diff(&got_rgb, &want_rgb);
    assert!(
        diff < 0.15,
        "{name}: mean difference {diff:.2}/255 from {} (bless with FACETWIN_BLESS=1 if intended)",
        want.display()
    );
    got_rgb
}

#[test]
fn neutral_and_smile_match_their_references() {
    let neutral = shot("neutral", &[]);
    let smile = shot(
        "smile",
        &[
            "zygomaticus_major_l=0.9",
            "zygomaticus_major_r=0.9",
            "orbicularis_oculi_l=0.5",
            "orbicularis_oculi_r=0.5",
            "jaw=0.15",
        ],
    );
    let n = check("neutral", &neutral);
    let s = check("smile", &smile);
    // The comparison can tell the two apart: a smile is far from neutral.
    let apart = mean_abs_diff(&n, &s);
    assert!(
        apart > 0.4,
        "smile and neutral differ by only {apart:.2}/255"
    );
    // Not a blank frame: the face covers a good part of the picture.
    let bg = n[0];
    let covered = n.chunks(3).filter(|p| p[0].abs_diff(bg) > 30).count();
    assert!(
        covered > (SIZE * SIZE / 10) as usize,
        "face covers {covered} pixels"
    );
}
