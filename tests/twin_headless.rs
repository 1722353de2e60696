//! The twin's plugins headless (`MinimalPlugins`, no window): motors move the right skin,
//! switching the source keeps the face continuous, an unplugged pseudo-terminal leaves the app
//! running with a warning.

use bevy::prelude::*;
use facetwin::app::face::{FaceAssets, FaceRig};
use facetwin::app::link::{DisplayPose, Link, LinkRequest, SWITCH_STEP_NORM, Source};
use facetwin::app::{headless_app, parts};
use facetwin_head::{HeadConfig, VirtualHead};
use facetwin_link::LinkState;
use facetwin_link::pty::{PtyHead, PtyOptions};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const ZYG_L: usize = 12;

fn assets() -> FaceAssets {
    FaceAssets::load(None).expect("default face and rig")
}

fn neutral() -> Vec<f32> {
    vec![0.0; 25]
}

/// Steps the app (the head runs in real time on the link thread) until `done` or the limit.
fn run_until(app: &mut App, limit: Duration, mut done: impl FnMut(&mut App) -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        app.update();
        if done(app) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

fn display(app: &App) -> Vec<f32> {
    app.world().resource::<DisplayPose>().positions.clone()
}

fn set_desired(app: &mut App, pose: &[f32]) {
    let mut link = app.world_mut().resource_mut::<Link>();
    link.desired = pose.to_vec();
    link.link.set_desired(pose);
}

fn landmark(a: &FaceAssets, name: &str) -> Vec3 {
    Vec3::from(a.face.landmarks.get(name).expect("landmark"))
}

/// Mean displacement of the rest vertices within `radius` of `p`.
fn displacement_near(rig: &FaceRig, p: Vec3, radius: f32) -> Vec3 {
    let rest = &rig.assets.face.mesh.positions;
    let (mut sum, mut n) = (Vec3::ZERO, 0);
    for (r, d) in rest.iter().zip(&rig.deformed.positions) {
        if Vec3::from(*r).distance(p) < radius {
            sum += Vec3::from(*d) - Vec3::from(*r);
            n += 1;
        }
    }
    assert!(n > 0, "no vertices near {p}");
    sum / n as f32
}

#[test]
fn one_motor_moves_its_skin_region_and_nothing_else() {
    let a = assets();
    let mut app = headless_app(a.clone(), Source::Simulated, 100, neutral());
    let mut pose = neutral();
    pose[ZYG_L] = 0.9;
    set_desired(&mut app, &pose);
    let reached = run_until(&mut app, Duration::from_secs(5), |app| {
        display(app).get(ZYG_L).is_some_and(|p| *p > 0.85)
    });
    assert!(
        reached,
        "zygomaticus reached 0.85 on the display pose: {:?}",
        display(&app).get(ZYG_L)
    );
    // One more frame so the deformation runs on the latest pose.
    app.update();
    let rig = app.world().resource::<FaceRig>();
    let corner = displacement_near(rig, landmark(&a, "mouth_corner_l"), 0.006);
    assert!(corner.y > 0.002, "left mouth corner rises: {corner:?}");
    assert!(
        corner.x > 0.0005,
        "and moves toward the left ear: {corner:?}"
    );
    let other = displacement_near(rig, landmark(&a, "mouth_corner_r"), 0.006);
    assert!(other.length() < 0.0005, "right corner stays: {other:?}");
    let brow = displacement_near(rig, landmark(&a, "forehead"), 0.01);
    assert!(brow.length() < 0.0002, "forehead stays: {brow:?}");
}

#[test]
fn jaw_motor_drives_the_rigid_jaw_through_its_joint() {
    let mut app = headless_app(assets(), Source::Simulated, 100, neutral());
    let mut pose = neutral();
    pose[21] = 0.8;
    set_desired(&mut app, &pose);
    let opened = run_until(&mut app, Duration::from_secs(6), |app| {
        let mut q = app.world_mut().query::<(&parts::Part, &Transform)>();
        q.iter(app.world()).any(|(p, t)| {
            matches!(p, parts::Part::Jaw)
                && t.rotation.to_axis_angle().1 > 0.6 * 0.8 * parts::JAW_MAX_RAD
        })
    });
    assert!(opened, "the jaw body rotates open under its joint motor");
}

#[test]
fn switching_source_mid_run_keeps_the_face_continuous() {
    let mut app = headless_app(assets(), Source::Simulated, 100, neutral());
    let mut pose = neutral();
    pose[ZYG_L] = 0.8;
    pose[21] = 0.5;
    set_desired(&mut app, &pose);
    assert!(run_until(&mut app, Duration::from_secs(5), |app| display(
        app
    )[ZYG_L]
        > 0.75));
    // A second head on a pseudo-terminal, sitting at neutral: the real head on the desk.
    let link_path = std::env::temp_dir().join(format!("facetwin-switch-{}", std::process::id()));
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let (st, lp) = (Arc::clone(&stop), link_path.clone());
    let server = std::thread::spawn(move || {
        let mut pty = PtyHead::open(Some(&lp)).expect("pty");
        tx.send(()).expect("ready");
        let mut head = VirtualHead::new(HeadConfig::default_head());
        let _ = pty.serve(&mut head, &PtyOptions::default(), &st);
    });
    rx.recv().expect("pty ready");
    app.world_mut()
        .write_message(LinkRequest::Switch(Source::Serial {
            port: link_path.display().to_string(),
            baud: 1_000_000,
        }));
    let mut last = display(&app);
    // Largest change of any displayed channel from one frame to the next.
    let mut max_step = 0.0f32;
    let done = run_until(&mut app, Duration::from_secs(10), |app| {
        let now = display(app);
        for (a, b) in last.iter().zip(&now) {
            max_step = max_step.max((a - b).abs());
        }
        last = now;
        let link = app.world().resource::<Link>();
        link.view.state == LinkState::Connected
            && !link.view.handing_over
            && !app.world().resource::<DisplayPose>().converging
            && display(app)[ZYG_L] > 0.75
    });
    assert!(done, "switched and back at the designer's pose");
    // The face moves at most 1 % of travel per frame while the switch converges, never a jump
    // from one head's pose to the other's.
    assert!(
        max_step <= SWITCH_STEP_NORM + 1e-5,
        "largest per-frame face step {max_step}"
    );
    // Unplug the pseudo-terminal: the app keeps running, says so, and the head is left safe.
    stop.store(true, Ordering::Relaxed);
    server.join().expect("server");
    let warned = run_until(&mut app, Duration::from_secs(2), |app| {
        let link = app.world().resource::<Link>();
        matches!(link.view.state, LinkState::Disconnected { .. }) && link.warning.is_some()
    });
    assert!(warned, "vanished port reported");
    for _ in 0..20 {
        app.update();
    }
    let warning = app
        .world()
        .resource::<Link>()
        .warning
        .clone()
        .unwrap_or_default();
    assert!(warning.contains("lost"), "{warning}");
}
