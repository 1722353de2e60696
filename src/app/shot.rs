//! `facetwin shot`: the face rendered to a PNG, and the screenshot-then-exit automation used by
//! README pictures, tests and CI.

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[derive(Debug, clap::Args)]
pub struct ShotArgs {
    /// Output PNG.
    #[arg(long)]
    pub out: PathBuf,
    /// A pose file (RON: a map of channel name to normalised travel, e.g. `{"jaw": 0.5}`).
    #[arg(long)]
    pub pose: Option<PathBuf>,
    /// Motor targets, NAME=VALUE (normalised travel), repeatable.
    #[arg(long = "motor", value_name = "NAME=VALUE")]
    pub motors: Vec<String>,
    /// A face glTF instead of the default face.
    #[arg(long)]
    pub face: Option<PathBuf>,
    #[arg(long, default_value_t = 800)]
    pub width: u32,
    #[arg(long, default_value_t = 800)]
    pub height: u32,
    /// Frames to run at least before the shot; after that it waits for a stable picture (the
    /// face follows the simulated motors, which take a moment to settle).
    #[arg(long, default_value_t = 30)]
    pub frames: u32,
    /// Show the egui panels in the picture (hidden by default).
    #[arg(long)]
    pub ui: bool,
}

/// Reads a pose file: `{ "channel_name": value, ... }` in RON.
pub fn read_pose(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let map: std::collections::BTreeMap<String, f32> =
        facetwin_ronfile::from_str(&text, &path.display().to_string())?;
    Ok(map.into_iter().map(|(k, v)| format!("{k}={v}")).collect())
}

pub fn run(args: ShotArgs) -> anyhow::Result<()> {
    let mut motors = match &args.pose {
        Some(p) => read_pose(p)?,
        None => Vec::new(),
    };
    motors.extend(args.motors.iter().cloned());
    super::ui::set_hidden(!args.ui);
    super::run_twin(super::TwinArgs {
        face: args.face,
        screenshot: Some(args.out),
        frames: args.frames,
        motors,
        width: args.width,
        height: args.height,
        rate: 100,
        baud: 1_000_000,
        ..Default::default()
    })
}

/// Takes a screenshot once the picture is stable (two captures in a row agree, not blank) and
/// at least `frames` frames have run, then exits. Rendering on a CPU (lavapipe) compiles its
/// pipelines for a while, and the motors take a moment to settle: a fixed frame count would
/// sometimes catch a blank or moving face.
pub struct AutoShotPlugin {
    pub path: PathBuf,
    pub frames: u32,
}

/// Gives up waiting for a stable picture after this many frames past the minimum.
const MAX_EXTRA_FRAMES: u32 = 1500;

#[derive(Resource)]
struct AutoShot {
    path: PathBuf,
    frames: u32,
    n: u32,
    last: Option<Vec<u8>>,
    captured: Arc<Mutex<Option<Vec<u8>>>>,
    pending: bool,
    saving_since: Option<u32>,
}

impl Plugin for AutoShotPlugin {
    fn build(&self, app: &mut App) {
        let _ = std::fs::remove_file(&self.path);
        app.insert_resource(AutoShot {
            path: self.path.clone(),
            frames: self.frames,
            n: 0,
            last: None,
            captured: Arc::default(),
            pending: false,
            saving_since: None,
        })
        .add_systems(Update, auto_shot);
    }
}

/// Mean absolute difference of two RGBA8 buffers, 0..255.
fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return f64::INFINITY;
    }
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(x.abs_diff(*y)))
        .sum::<f64>()
        / a.len() as f64
}

fn auto_shot(mut commands: Commands, mut s: ResMut<AutoShot>, mut exit: MessageWriter<AppExit>) {
    s.n += 1;
    if let Some(since) = s.saving_since {
        if s.path.exists() {
            exit.write(AppExit::Success);
        } else if s.n > since + 120 {
            error!("screenshot {} was not written", s.path.display());
            exit.write(AppExit::error());
        }
        return;
    }
    if s.n < s.frames {
        return;
    }
    let captured = s.captured.lock().ok().and_then(|mut c| c.take());
    if let Some(img) = captured {
        s.pending = false;
        let blank = img.chunks(4).all(|p| p == &img[..4]);
        let stable = !blank
            && s.last
                .as_ref()
                .is_some_and(|l| mean_abs_diff(l, &img) < 0.05);
        s.last = Some(img);
        if stable || s.n > s.frames + MAX_EXTRA_FRAMES {
            if !stable {
                warn!(
                    "picture still changing after {} frames; saving it anyway",
                    s.n
                );
            }
            commands
                .spawn(Screenshot::primary_window())
                .observe(save_to_disk(s.path.clone()));
            s.saving_since = Some(s.n);
            return;
        }
    }
    if !s.pending && s.n.is_multiple_of(5) {
        let slot = Arc::clone(&s.captured);
        commands
            .spawn(Screenshot::primary_window())
            .observe(move |c: On<ScreenshotCaptured>| {
                if let Ok(mut slot) = slot.lock() {
                    *slot = c.image.data.clone();
                }
            });
        s.pending = true;
    }
}
