//! Guided calibration end to end: HostCore + lockstep virtual head, replies through a tap.

mod common;

use common::Rig;
use facetwin_head::{HeadConfig, VirtualHead};
use facetwin_mirror::calibrate::*;
use facetwin_protocol::{FaultKind, Message, norm_to_q15};
use std::time::Duration;

struct Outcome {
    result: Result<ChannelCalibration, CalibrationError>,
    /// Lowest current limit channel 12 had during the run, A.
    min_limit_a: f32,
    /// Largest deviation of channel 3 from its held position.
    held_dev: f32,
    elapsed: Duration,
    rig: Rig,
}

/// Connects, poses channel 3 at 0.4 and channel 12 at 0.2, then calibrates `channel`.
fn calibrate(mut rig: Rig, channel: usize, opts: CalibrationOptions, setup: &[Message]) -> Outcome {
    let mut pose = vec![0.0; 25];
    pose[3] = 0.4;
    pose[12] = 0.2;
    rig.core.set_desired(&pose);
    for m in setup {
        rig.core.queue(*m);
    }
    rig.run_ms(1500);
    assert!(rig.core.view().state.is_connected());
    // The production path: the session runs the calibrator on its command clock.
    let cal = SharedCalibrator::new(Calibrator::new(channel, opts));
    rig.core.run_procedure(Some(cal.procedure()));
    let start = rig.t;
    let mut min_limit_a = f32::MAX;
    let mut held_dev = 0.0f32;
    while !cal.lock().is_done() && rig.t - start < Duration::from_secs(60) {
        rig.run_ms(1);
        let p = rig.shared.lock();
        min_limit_a = min_limit_a.min(
            p.head
                .channel(channel)
                .expect("ch")
                .config()
                .current_limit_a,
        );
        let s3 = p.head.channel(3).expect("ch3").state();
        held_dev = held_dev.max((s3.position_norm - 0.4).abs());
    }
    let elapsed = rig.t - start;
    let result = cal.lock().result().expect("calibration finished");
    assert!(
        !rig.core.view().procedure,
        "the session dropped it once done"
    );
    // Let the last commands land.
    rig.run_ms(300);
    Outcome {
        result,
        min_limit_a,
        held_dev,
        elapsed,
        rig,
    }
}

#[test]
fn calibrating_channel_12_finds_its_travel_ends_and_restores_the_current_limit() {
    let rig = Rig::new(VirtualHead::new(HeadConfig::default_head()));
    let out = calibrate(rig, 12, CalibrationOptions::default(), &[]);
    let cal = out.result.expect("calibration succeeds");
    eprintln!("{cal:?} in {:?}", out.elapsed);
    assert_eq!(cal.name, "zygomaticus_major_l");
    assert!(
        (cal.max_norm - 1.0).abs() < 0.03,
        "upper end {}",
        cal.max_norm
    );
    assert!(
        (cal.min_norm + 0.1).abs() < 0.03,
        "lower end {}",
        cal.min_norm
    );
    assert!(
        cal.neutral_norm.abs() < 0.06,
        "rest position {}",
        cal.neutral_norm
    );
    assert_eq!(cal.direction, 1);
    let mut full = Calibration::from_view(out.rig.core.view());
    full.set(12, cal.clone());
    full.validate("calibrated head")
        .expect("a calibration fit to save");
    assert!(
        out.min_limit_a <= 0.2 + 1e-6,
        "current limit lowered during the search: {}",
        out.min_limit_a
    );
    let p = out.rig.shared.lock();
    let ch = p.head.channel(12).expect("ch12");
    assert!(
        (ch.config().current_limit_a - 0.25).abs() < 1e-6,
        "restored: {}",
        ch.config().current_limit_a
    );
    assert!(ch.state().torque_enabled, "torque back on");
    assert!(
        (ch.state().position_norm - 0.2).abs() < 0.05,
        "back at its pose: {}",
        ch.state().position_norm
    );
    assert!(
        out.held_dev < 0.02,
        "the other channels were held (channel 3 moved {})",
        out.held_dev
    );
}

#[test]
fn narrowed_head_limits_are_the_ends_found() {
    // The head's own limits for channel 12 narrowed to 0.05 .. 0.7 before calibrating.
    let rig = Rig::new(VirtualHead::new(HeadConfig::default_head()));
    let narrow = Message::ConfigureChannel(facetwin_protocol::ChannelConfig {
        channel: 12,
        min_q15: norm_to_q15(0.05),
        max_q15: norm_to_q15(0.7),
        max_velocity: 4096,
        current_limit_ma: 250,
        kp_q8: 256,
        ki_q8: 256,
        kd_q8: 256,
    });
    let opts = CalibrationOptions {
        neutral: Some(0.1),
        ..CalibrationOptions::default()
    };
    let out = calibrate(rig, 12, opts, &[narrow]);
    let cal = out.result.expect("calibration succeeds");
    assert!(
        (cal.max_norm - 0.7).abs() < 0.03,
        "upper end {}",
        cal.max_norm
    );
    assert!(
        (cal.min_norm - 0.05).abs() < 0.03,
        "lower end {}",
        cal.min_norm
    );
    assert_eq!(cal.neutral_norm, 0.1, "the given neutral is used");
    let p = out.rig.shared.lock();
    let c = p.head.channel(12).expect("ch12").config();
    assert!((c.max_norm - 0.7).abs() < 1e-3 && (c.current_limit_a - 0.25).abs() < 1e-6);
}

#[test]
fn a_jammed_channel_fails_cleanly_and_is_restored() {
    let mut head = VirtualHead::new(HeadConfig::default_head());
    head.inject(12, FaultKind::Jam, true);
    let out = calibrate(Rig::new(head), 12, CalibrationOptions::default(), &[]);
    assert_eq!(out.result, Err(CalibrationError::NotMoving));
    let p = out.rig.shared.lock();
    let c = p.head.channel(12).expect("ch12").config();
    assert!(
        (c.current_limit_a - 0.25).abs() < 1e-6,
        "restored after failing: {}",
        c.current_limit_a
    );
}

#[test]
fn an_aborted_calibration_restores_the_channel() {
    let mut rig = Rig::new(VirtualHead::new(HeadConfig::default_head()));
    rig.run_ms(1000);
    let shared = SharedCalibrator::new(Calibrator::new(12, CalibrationOptions::default()));
    rig.core.run_procedure(Some(shared.procedure()));
    let mut lowered = false;
    for _ in 0..20_000 {
        rig.run_ms(1);
        let mut cal = shared.lock();
        let limit = rig
            .shared
            .lock()
            .head
            .channel(12)
            .expect("ch")
            .config()
            .current_limit_a;
        if cal.status() == "searching the upper travel end" && limit < 0.25 {
            lowered = true;
            cal.abort();
        }
        if cal.is_done() {
            break;
        }
    }
    assert!(lowered, "aborted during the search");
    assert_eq!(shared.lock().result(), Some(Err(CalibrationError::Aborted)));
    rig.run_ms(200);
    let p = rig.shared.lock();
    let ch = p.head.channel(12).expect("ch12");
    assert!((ch.config().current_limit_a - 0.25).abs() < 1e-6);
    assert!(
        ch.state().position_norm.abs() < 0.05,
        "back at its pose: {}",
        ch.state().position_norm
    );
}

#[test]
fn calibration_files_round_trip_and_report_positions() {
    let dir = common::TempDir::new("cal");
    let mut cal = Calibration::default();
    cal.set(
        2,
        ChannelCalibration {
            name: "frontalis_outer_l".into(),
            min_norm: -0.08,
            max_norm: 0.95,
            neutral_norm: 0.02,
            direction: 1,
        },
    );
    assert_eq!(cal.channels.len(), 3);
    let path = dir.join("head.calibration.ron");
    cal.save(&path).expect("save");
    assert_eq!(Calibration::load(&path).expect("load"), cal);

    std::fs::write(
        &path,
        "(channels: [(name: \"a\", min_norm: -0.1,\n  max_norm: oops)])",
    )
    .expect("write");
    let e = Calibration::load(&path).expect_err("malformed");
    let msg = e.to_string();
    assert!(msg.starts_with(&format!("{}:2:", path.display())), "{msg}");

    std::fs::write(&path, "(channels: [(name: \"a\", min_norm: 0.5, max_norm: 0.2, neutral_norm: 0.3, direction: 1)])").expect("write");
    let e = Calibration::load(&path).expect_err("invalid");
    assert!(matches!(e, CalibrationFileError::Invalid { .. }), "{e}");
}

#[test]
fn apply_maps_through_neutral_and_direction_and_clamps() {
    let cal = Calibration {
        channels: vec![
            ChannelCalibration {
                name: "a".into(),
                min_norm: -0.1,
                max_norm: 0.9,
                neutral_norm: 0.05,
                direction: 1,
            },
            ChannelCalibration {
                name: "b".into(),
                min_norm: -0.5,
                max_norm: 0.5,
                neutral_norm: 0.0,
                direction: -1,
            },
        ],
    };
    let mut pose = [0.5, 0.3, 0.7];
    assert_eq!(apply(&cal, &mut pose), 0);
    assert!((pose[0] - 0.55).abs() < 1e-6 && (pose[1] + 0.3).abs() < 1e-6);
    assert_eq!(pose[2], 0.7, "no calibration: unchanged");
    let mut pose = [1.0, -0.9, f32::NAN];
    assert_eq!(apply(&cal, &mut pose), 2);
    assert_eq!(pose[0], 0.9);
    assert_eq!(pose[1], 0.5);
    assert!(
        pose[2].is_nan(),
        "channels beyond the calibration are left alone"
    );
    let mut pose = [f32::NAN];
    apply(&cal, &mut pose);
    assert_eq!(pose[0], 0.05, "non-finite goes to neutral");
}
