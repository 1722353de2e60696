//! A host session against a virtual head in lockstep virtual time, with a tap on the link.
#![allow(dead_code)]

use facetwin_head::{HeadConfig, VirtualHead};
use facetwin_link::{HostConfig, HostCore, SharedHead, Transport};
use facetwin_mirror::tap::{Tap, TappedFrame};
use facetwin_motor::ChannelParams;
use std::time::Duration;

pub struct Rig {
    pub shared: SharedHead,
    pub core: HostCore,
    pub tap: Tap,
    pub t: Duration,
}

impl Rig {
    pub fn new(head: VirtualHead) -> Self {
        let shared = SharedHead::new(head);
        let tap = Tap::manual();
        let (s, tp) = (shared.clone(), tap.clone());
        let core = HostCore::new(
            Box::new(move || Ok(Box::new(tp.wrap(Box::new(s.transport()))) as Box<dyn Transport>)),
            HostConfig::default(),
        );
        Self {
            shared,
            core,
            tap,
            t: Duration::ZERO,
        }
    }

    /// One millisecond: the head runs, the host polls, and every 10 ms `before_tick` runs
    /// just before the command tick. Returns what the tap saw in this millisecond.
    pub fn step_ms(
        &mut self,
        before_tick: impl FnOnce(&mut HostCore, Duration),
    ) -> Vec<TappedFrame> {
        self.t += Duration::from_millis(1);
        self.tap.set_now(self.t);
        self.shared.advance(0.001);
        self.core.poll(self.t);
        if self.t.as_millis().is_multiple_of(10) {
            before_tick(&mut self.core, self.t);
            self.core.command_tick(self.t);
        }
        self.tap.drain()
    }

    pub fn run_ms(&mut self, ms: u64) -> Vec<TappedFrame> {
        let mut all = Vec::new();
        for _ in 0..ms {
            all.extend(self.step_ms(|_, _| {}));
        }
        all
    }
}

/// The default head, but every motor a little different from the model (what a real head is):
/// stiffer, less preloaded, more damped skin, more friction, a less efficient gearbox.
pub fn perturbed_head() -> HeadConfig {
    let mut cfg = HeadConfig::default_head();
    cfg.seed = 77;
    for (i, ch) in cfg.channels.iter_mut().enumerate() {
        let mut p = ChannelParams::default();
        let k = 1.0 + 0.1 * ((i % 5) as f64 - 2.0) / 2.0; // 0.9 .. 1.1 by channel
        p.skin.stiffness_n_per_mm *= 1.15 * k;
        p.skin.preload_n *= 0.9;
        p.skin.damping_n_s_per_m *= 1.2;
        p.motor.friction_torque_nm *= 1.3;
        p.gearbox.efficiency_forward = 0.66;
        p.gearbox.output_friction_nm *= 1.2;
        ch.motor = Some(p);
    }
    cfg
}

/// A moving pose: every channel swings within its travel at its own frequency and phase.
/// Tendon channels stay in 0.2 .. 0.8.
pub fn moving_pose(cfg: &HeadConfig, t: Duration) -> Vec<f32> {
    let s = t.as_secs_f32();
    cfg.channels
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let f = 0.3 + 0.05 * (i % 7) as f32;
            let phase = i as f32 * 0.7;
            let w = (std::f32::consts::TAU * f * s + phase).sin();
            let (mid, amp) = if c.min_norm < -0.5 && c.max_norm < 0.5 {
                (-0.35, 0.25) // eyelids
            } else if c.min_norm < -0.5 {
                (0.0, 0.5) // eyes, neck
            } else if c.min_norm >= 0.0 {
                (0.45, 0.3) // jaw
            } else {
                (0.5, 0.3)
            };
            mid + amp * w
        })
        .collect()
}

/// A fresh directory under the system temp dir, removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("facetwin-mirror-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }
}

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
