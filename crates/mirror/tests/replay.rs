//! Replay of recorded lockstep sessions: ordering, scrubbing, playback pace, and the recorded
//! commands played on a fresh simulated head.

mod common;

use common::{Rig, moving_pose, perturbed_head};
use facetwin_head::{HeadConfig, VirtualHead};
use facetwin_link::Player;
use facetwin_mirror::record::{RecordKind, Recorder, RecorderOptions};
use facetwin_mirror::replay::Replay;
use facetwin_mirror::shadow::ShadowConfig;
use facetwin_protocol::FaultKind;
use std::path::PathBuf;
use std::time::Duration;

/// Records `ms` of a moving-pose session on `head`, tearing channel 12's tendon at
/// `tear_at_ms` if given.
fn record_session(
    name: &str,
    head: HeadConfig,
    ms: u64,
    tear_at_ms: Option<u64>,
) -> (common::TempDir, PathBuf) {
    let dir = common::TempDir::new(&format!("replay-{name}"));
    let prefix = dir.join("session");
    let mut rec = Recorder::with_options(
        &prefix,
        RecorderOptions {
            fsync: false,
            ..RecorderOptions::default()
        },
    )
    .expect("recorder");
    let mut rig = Rig::new(VirtualHead::new(head));
    let pose_cfg = HeadConfig::default_head();
    for ms_now in 1..=ms {
        if Some(ms_now) == tear_at_ms {
            rig.shared
                .lock()
                .head
                .inject(12, FaultKind::TornTendon, true);
            rec.record_event(rig.t.as_nanos() as u64, "tendon 12 torn")
                .expect("event");
        }
        for f in rig.step_ms(|core, t| core.set_desired(&moving_pose(&pose_cfg, t))) {
            rec.record_tapped(&f).expect("record");
        }
        rec.flush_if_due(rig.t.as_nanos() as u64).expect("flush");
    }
    rec.finish().expect("finish");
    (dir, prefix)
}

#[test]
fn records_come_back_in_order_and_scrub_and_play_at_any_speed() {
    let (_dir, prefix) = record_session("order", HeadConfig::default_head(), 3000, None);
    let replay = Replay::open(&prefix).expect("open");
    let d = replay.duration();
    assert!(
        d > Duration::from_millis(2900) && d <= Duration::from_millis(3000),
        "{d:?}"
    );
    let recs = replay.records();
    assert!(recs.windows(2).all(|w| w[0].t_ns <= w[1].t_ns));

    // Scrubbing: the frame at t is the latest at or before t.
    let t = Duration::from_millis(1234);
    let frame = replay.telemetry_at(t).expect("telemetry");
    let abs = replay.start_ns() + t.as_nanos() as u64;
    let (at, _, _) = replay
        .recording()
        .telemetry()
        .filter(|(tt, _, _)| *tt <= abs)
        .last()
        .expect("earlier frame");
    let (next, _, _) = replay
        .recording()
        .telemetry()
        .find(|(tt, _, _)| *tt > abs)
        .expect("later frame");
    assert!(at <= abs && next > abs);
    assert_eq!(
        replay.telemetry_at(Duration::from_nanos(at - replay.start_ns())),
        Some(frame)
    );
    // Interpolation halfway between two frames is the average.
    let (a, b) = (at - replay.start_ns(), next - replay.start_ns());
    let mid = replay
        .positions_at(Duration::from_nanos((a + b) / 2))
        .expect("positions");
    let pa = replay.positions_at(Duration::from_nanos(a)).expect("a");
    let pb = replay.positions_at(Duration::from_nanos(b)).expect("b");
    for i in 0..25 {
        assert!((mid[i] - (pa[i] + pb[i]) / 2.0).abs() < 1e-4, "channel {i}");
    }
    assert!(
        pa.iter().zip(&pb).any(|(x, y)| x != y),
        "the head moved between frames"
    );

    // Playback: every record exactly once, 4x takes a quarter of the wall time.
    for speed in [1.0, 4.0] {
        let mut pb = replay.playback(speed);
        let mut seen = 0;
        let mut wall = Duration::ZERO;
        while !pb.is_finished() {
            let r = pb.advance(&replay, Duration::from_millis(10));
            assert_eq!(r.start, seen, "contiguous");
            seen = r.end;
            wall += Duration::from_millis(10);
            assert!(wall < Duration::from_secs(10));
        }
        seen = pb.advance(&replay, Duration::from_millis(10)).end.max(seen);
        assert_eq!(seen, recs.len());
        let expect = d.as_secs_f64() / speed;
        assert!(
            (wall.as_secs_f64() - expect).abs() < 0.02,
            "{speed}x: {wall:?} vs {expect}"
        );
    }
    let mut pb = replay.playback(1.0);
    pb.seek(&replay, Duration::from_millis(2000));
    let r = pb.advance(&replay, Duration::from_millis(100));
    assert!(r.clone().all(|i| {
        let t = replay.relative(&recs[i]);
        t >= Duration::from_millis(2000) && t <= Duration::from_millis(2100)
    }));
    assert!(!r.is_empty());

    // The command player replays the recorded command poses on the command clock.
    let mut player = replay.command_player(2.0);
    let mut out = Vec::new();
    assert!(player.sample(Duration::from_millis(600), &mut out));
    assert_eq!(
        out.as_slice(),
        replay
            .commanded_at(Duration::from_millis(1200))
            .expect("pose")
    );
    assert!(
        !player.sample(Duration::from_secs(2), &mut out),
        "ends after the recording"
    );
}

#[test]
fn a_healthy_recording_matches_the_simulation() {
    let (_dir, prefix) = record_session("healthy", perturbed_head(), 4000, None);
    let replay = Replay::open(&prefix).expect("open");
    let report = replay.simulate(HeadConfig::default_head(), ShadowConfig::default());
    assert!(
        report.commands_played > 300 && report.telemetry_compared > 700,
        "{report:?}"
    );
    assert!(report.events.is_empty(), "{:?}", report.events);
    let worst = report
        .channels
        .iter()
        .map(|c| c.max_position)
        .fold(0.0, f32::max);
    assert!(worst < 0.03, "max position divergence {worst}");
}

#[test]
fn a_recording_with_a_torn_tendon_diverges_on_that_channel() {
    let (_dir, prefix) = record_session("torn", perturbed_head(), 4000, Some(2500));
    let replay = Replay::open(&prefix).expect("open");
    assert!(
        replay
            .records()
            .iter()
            .any(|r| matches!(&r.kind, RecordKind::Event { text, .. } if text == "tendon 12 torn"))
    );
    let report = replay.simulate(HeadConfig::default_head(), ShadowConfig::default());
    assert_eq!(report.alarmed, vec![12], "{:?}", report.events);
    let c12 = report.channels[12].rms_current_ma;
    let others = report
        .channels
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 12)
        .map(|(_, c)| c.rms_current_ma)
        .fold(0.0, f32::max);
    assert!(
        c12 > 2.0 * others,
        "current divergence: channel 12 {c12} mA, others up to {others} mA"
    );
}
