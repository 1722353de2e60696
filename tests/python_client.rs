//! The spec is complete: a Python client written from docs/PROTOCOL.md alone checks itself
//! against the golden vectors, then handshakes with `facetwin head --pty`, drives all 25
//! channels, reads telemetry, and exercises ping, bad CRC, watchdog and emergency stop.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn python() -> Command {
    let exe = if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    let mut c = Command::new(exe);
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn run(mut c: Command, what: &str) {
    let out = c
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run python3: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed:\n{text}");
    assert!(
        text.contains(" passed, 0 failed"),
        "{what}: no summary line:\n{text}"
    );
}

#[test]
fn python_client_matches_the_golden_vectors() {
    let mut c = python();
    c.args([
        "tests/python/test_client.py",
        "--vectors",
        "crates/protocol/vectors/golden.txt",
    ]);
    run(c, "vectors");
}

#[test]
fn python_client_drives_the_virtual_head_over_a_pty() {
    let link = std::env::temp_dir().join(format!("facetwin-py-{}", std::process::id()));
    let mut head = Command::new(env!("CARGO_BIN_EXE_facetwin"))
        .args(["head", "--pty", "--seconds", "60", "--link"])
        .arg(&link)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start facetwin head --pty");
    let start = Instant::now();
    while !link.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "virtual head did not come up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let _cleanup = KillOnDrop(&mut head, &link);
    let mut c = python();
    c.arg("tests/python/test_client.py").arg(&link);
    run(c, "live client");
}

/// Stops the virtual head and removes its link however the test ends.
struct KillOnDrop<'a>(&'a mut std::process::Child, &'a Path);

impl Drop for KillOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_file(self.1);
    }
}
