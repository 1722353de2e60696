//! `facetwin bench`: the core figures as a table. Build with `--release` for real numbers.

use facetwin_link::{HostConfig, HostLink, LinkState};
use facetwin_protocol::{Decoder, MAX_WIRE_FRAME, Message, Targets, encode_frame};
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Duration of the closed loop over a pseudo-terminal, seconds.
    #[arg(long, default_value_t = 10.0)]
    pub loop_seconds: f64,
    /// Command rate of the closed loop, Hz.
    #[arg(long, default_value_t = 1000)]
    pub loop_rate: u32,
    /// Skip the closed loop (no pseudo-terminal available).
    #[arg(long)]
    pub no_loop: bool,
}

fn row(what: &str, value: String, goal: &str) {
    println!("| {what:<52} | {value:>22} | {goal:<18} |");
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    if cfg!(debug_assertions) {
        eprintln!(
            "note: debug build; run `cargo run --release -- bench` for representative numbers"
        );
    }
    println!("| {:<52} | {:>22} | {:<18} |", "figure", "measured", "goal");
    println!("|{}|{}|{}|", "-".repeat(54), "-".repeat(24), "-".repeat(20));
    let head = facetwin_head::VirtualHead::new(facetwin_head::HeadConfig::default_head());
    let mut buf = [0u8; MAX_WIRE_FRAME];
    let targets = Message::SetTargets(Targets::from_norm(&[0.37; 25], 10));
    let n_targets = encode_frame(0, &targets, &mut buf)?;
    row(
        "set-targets frame, 25 channels (wire bytes)",
        n_targets.to_string(),
        "<= 60",
    );
    let telemetry = Message::Telemetry(head.telemetry());
    let n_tel = encode_frame(0, &telemetry, &mut buf)?;
    row(
        "telemetry frame, 25 channels (wire bytes)",
        n_tel.to_string(),
        "report",
    );
    for (name, msg) in [("set-targets", targets), ("telemetry", telemetry)] {
        let rate = codec_rate(&msg);
        row(
            &format!("encode + decode {name}, one core (frames/s)"),
            format!("{rate:.0}"),
            "report",
        );
    }
    let rtf = facetwin_motor::realtime_factor(25, 1.0);
    row(
        "motor model, 25 ch @ 10 kHz (sim s per wall s)",
        format!("{rtf:.1}x"),
        ">= 50x",
    );
    let deform = crate::app::deform_cost_ms();
    match deform {
        Ok((ms, verts)) => row(
            &format!("deformation, {verts} vertices, 25 muscles (ms)"),
            format!("{ms:.3}"),
            "<= 0.5",
        ),
        Err(e) => row("deformation", format!("unavailable: {e}"), "<= 0.5"),
    }
    if !args.no_loop {
        closed_loop(args)?;
    }
    Ok(())
}

fn codec_rate(msg: &Message) -> f64 {
    let mut buf = [0u8; MAX_WIRE_FRAME];
    let mut decoder = Decoder::new();
    let start = Instant::now();
    let mut frames = 0u64;
    while start.elapsed() < Duration::from_millis(400) {
        for seq in 0..=255u8 {
            if let Ok(n) = encode_frame(seq, msg, &mut buf) {
                decoder.feed(&buf[..n], |r| {
                    if r.is_ok() {
                        frames += 1;
                    }
                });
            }
        }
    }
    frames as f64 / start.elapsed().as_secs_f64()
}

/// Spawns `facetwin head --pty` and drives it at `loop_rate` with telemetry streaming back.
fn closed_loop(args: &BenchArgs) -> anyhow::Result<()> {
    let link_path = std::env::temp_dir().join(format!("facetwin-bench-{}", std::process::id()));
    let exe = std::env::current_exe()?;
    let mut child = std::process::Command::new(exe)
        .args(["head", "--pty", "--link"])
        .arg(&link_path)
        .args(["--seconds", &format!("{}", args.loop_seconds + 5.0)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while !link_path.exists() {
        anyhow::ensure!(Instant::now() < deadline, "virtual head did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    let port = link_path.display().to_string();
    let config = HostConfig {
        command_rate_hz: args.loop_rate,
        telemetry_hz: 200,
        ping_period: Some(Duration::from_millis(10)),
        ..HostConfig::default()
    };
    let link = HostLink::start(super::probe::serial_connector(port, 1_000_000), config);
    let deadline = Instant::now() + Duration::from_secs(3);
    while link.view().state != LinkState::Connected {
        anyhow::ensure!(
            Instant::now() < deadline,
            "no handshake with the virtual head"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let v0 = link.view();
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < args.loop_seconds {
        // A moving pose so the head really works.
        let t = start.elapsed().as_secs_f32();
        let pose: Vec<f32> = (0..25)
            .map(|i| 0.3 + 0.2 * (t * 3.0 + i as f32 * 0.3).sin())
            .collect();
        link.set_desired(&pose);
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = start.elapsed().as_secs_f64();
    let v1 = link.view();
    link.stop();
    let _ = child.kill();
    let _ = child.wait();
    let s0 = &v0.stats;
    let s1 = &v1.stats;
    let frames = s1.target_frames - s0.target_frames;
    let sent = frames as f64 / elapsed;
    let tel = (s1.telemetry_frames - s0.telemetry_frames) as f64 / elapsed;
    row(
        &format!("closed loop over pty: commands/s ({frames} in {elapsed:.1} s)"),
        format!("{sent:.1}"),
        &format!(">= 1000 ({} Hz)", args.loop_rate),
    );
    row(
        "closed loop over pty: telemetry frames/s back",
        format!("{tel:.0}"),
        "200 asked",
    );
    row(
        "closed loop: decode errors / disconnects",
        format!(
            "{} / {}",
            s1.decoder.errors(),
            s1.reconnects.saturating_sub(1)
        ),
        "0 / 0",
    );
    let p = |q| {
        s1.rtt_percentile_us(q)
            .map_or("-".into(), |us| format!("{:.3} ms", f64::from(us) / 1e3))
    };
    row(
        "closed loop: round trip p50 (ping -> pong)",
        p(50.0),
        "report",
    );
    row(
        "closed loop: round trip p99 (ping -> pong)",
        p(99.0),
        "report",
    );
    Ok(())
}
