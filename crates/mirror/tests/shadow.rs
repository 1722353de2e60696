//! Shadow mode against a "real" head (a virtual head whose motors differ from the model),
//! driven by a host session streaming a moving pose; faults injected into the real head.

mod common;

use common::{Rig, moving_pose, perturbed_head};
use facetwin_head::{HeadConfig, VirtualHead};
use facetwin_mirror::shadow::{AlarmKind, Shadow, ShadowEvent};
use facetwin_protocol::FaultKind;
use std::time::Duration;

struct Run {
    rig: Rig,
    shadow: Shadow,
    events: Vec<ShadowEvent>,
    pose_cfg: HeadConfig,
}

impl Run {
    fn new() -> Self {
        let real = perturbed_head();
        Self {
            rig: Rig::new(VirtualHead::new(real)),
            shadow: Shadow::with_default_head(),
            events: Vec::new(),
            pose_cfg: HeadConfig::default_head(),
        }
    }

    /// Runs `ms` milliseconds of moving pose, feeding the shadow what the tap saw.
    fn run(&mut self, ms: u64) {
        for _ in 0..ms {
            let cfg = &self.pose_cfg;
            let frames = self
                .rig
                .step_ms(|core, t| core.set_desired(&moving_pose(cfg, t)));
            for f in &frames {
                self.shadow.on_tapped(f);
            }
            self.events.extend(self.shadow.take_events());
        }
    }

    fn raised(&self, channel: usize) -> Option<&ShadowEvent> {
        self.events
            .iter()
            .find(|e| e.channel == channel && e.raised)
    }

    fn others_raised(&self, channel: usize) -> Vec<&ShadowEvent> {
        self.events
            .iter()
            .filter(|e| e.channel != channel && e.raised)
            .collect()
    }

    /// Runs until channel `ch`'s commanded pose is near its peak (contracted) or crossing its
    /// middle (fastest), whichever is asked.
    fn run_until(&mut self, ch: usize, want: impl Fn(f32, f32) -> bool) {
        for _ in 0..5000 {
            let t = self.rig.t;
            let p = moving_pose(&self.pose_cfg, t)[ch];
            let dp = moving_pose(&self.pose_cfg, t + Duration::from_millis(1))[ch] - p;
            if want(p, dp) {
                return;
            }
            self.run(1);
        }
        panic!("pose never reached");
    }
}

#[test]
fn no_fault_no_alarm_over_several_seconds_of_motion() {
    let mut run = Run::new();
    run.run(8000);
    assert!(run.rig.core.view().state.is_connected());
    assert!(
        run.events.is_empty(),
        "false alarms on a healthy (if imperfectly modelled) head: {:?}",
        run.events
    );
    let div = run.shadow.divergence();
    assert!(div.iter().all(|d| d.samples > 1000), "compared at 200 Hz");
    // The comparison is not vacuous: the real head really differs from the model, and moves.
    let worst = div.iter().map(|d| d.max_position).fold(0.0, f32::max);
    let worst_current = div.iter().map(|d| d.rms_current_ma).fold(0.0, f32::max);
    assert!(
        worst > 0.002 && worst < 0.08,
        "max position divergence {worst}"
    );
    assert!(worst_current > 1.0, "current divergence {worst_current} mA");
    let c12 = run.shadow.channels()[12];
    assert!(c12.measured_current_ma.abs() > 10.0 || c12.commanded < 0.3);
}

#[test]
fn a_torn_tendon_raises_a_current_alarm_on_that_channel_only() {
    let mut run = Run::new();
    run.run(2500);
    assert!(run.events.is_empty(), "healthy start: {:?}", run.events);
    // Tear it while the pose holds it contracted.
    run.run_until(12, |p, _| p > 0.7);
    let t0 = run.rig.t;
    run.rig
        .shared
        .lock()
        .head
        .inject(12, FaultKind::TornTendon, true);
    run.run(1500);
    let e = run.raised(12).expect("alarm on channel 12");
    assert_eq!(e.kind, AlarmKind::LowCurrent);
    let after = e.t - t0;
    assert!(
        after <= Duration::from_millis(500),
        "alarm {after:?} after the tear"
    );
    assert!(
        after >= Duration::from_millis(150),
        "not before the set time: {after:?}"
    );
    assert!(
        run.others_raised(12).is_empty(),
        "alarms elsewhere: {:?}",
        run.others_raised(12)
    );
    assert!(run.shadow.alarmed() == vec![12]);
    // The position alone would not have shown it: the unloaded motor still tracks.
    assert!(
        !run.events
            .iter()
            .any(|e| e.channel == 12 && e.kind == AlarmKind::Position),
        "{:?}",
        run.events
    );
}

#[test]
fn a_jammed_motor_raises_a_position_alarm_on_that_channel_only() {
    let mut run = Run::new();
    run.run(2500);
    assert!(run.events.is_empty(), "healthy start: {:?}", run.events);
    run.run_until(3, |p, dp| (p - 0.5).abs() < 0.05 && dp > 0.0);
    let t0 = run.rig.t;
    run.rig.shared.lock().head.inject(3, FaultKind::Jam, true);
    run.run(1500);
    let e = run
        .events
        .iter()
        .find(|e| e.channel == 3 && e.raised && e.kind == AlarmKind::Position)
        .expect("position alarm on channel 3");
    let after = e.t - t0;
    assert!(
        after <= Duration::from_millis(500),
        "alarm {after:?} after the jam"
    );
    assert!(
        run.others_raised(3).is_empty(),
        "alarms elsewhere: {:?}",
        run.others_raised(3)
    );
}

#[test]
fn an_alarm_clears_with_hysteresis_once_the_fault_is_gone() {
    let mut run = Run::new();
    run.run(2500);
    run.run_until(12, |p, _| p > 0.7);
    run.rig
        .shared
        .lock()
        .head
        .inject(12, FaultKind::TornTendon, true);
    run.run(800);
    assert_eq!(run.shadow.alarmed(), vec![12]);
    let t_fix = run.rig.t;
    run.rig
        .shared
        .lock()
        .head
        .inject(12, FaultKind::TornTendon, false);
    run.run(4000);
    let cleared = run
        .events
        .iter()
        .find(|e| e.channel == 12 && !e.raised)
        .expect("the alarm clears once the tendon holds again");
    assert!(
        cleared.t - t_fix >= run.shadow.config().clear_after,
        "cleared after {:?}",
        cleared.t - t_fix
    );
    assert!(run.shadow.alarmed().is_empty());
}
