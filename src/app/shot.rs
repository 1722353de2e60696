//! `facetwin shot`: the face rendered to a PNG, and the screenshot-then-exit automation used by
//! README pictures, tests and CI.

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, save_to_disk};
use std::path::PathBuf;

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
    /// Frames to let the motors settle before the shot (the face follows the simulated motors).
    #[arg(long, default_value_t = 120)]
    pub frames: u32,
    /// Hide the egui panels.
    #[arg(long, default_value_t = true)]
    pub no_ui: bool,
}

/// Reads a pose file: `{ "channel_name": value, ... }` in RON.
pub fn read_pose(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let map: std::collections::BTreeMap<String, f32> = ron::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "{}:{}:{}: {}",
            path.display(),
            e.span.start.line,
            e.span.start.col,
            e.code
        )
    })?;
    Ok(map.into_iter().map(|(k, v)| format!("{k}={v}")).collect())
}

pub fn run(args: ShotArgs) -> anyhow::Result<()> {
    let mut motors = match &args.pose {
        Some(p) => read_pose(p)?,
        None => Vec::new(),
    };
    motors.extend(args.motors.iter().cloned());
    super::ui::set_hidden(args.no_ui);
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

/// Takes a screenshot after `frames` frames, then exits.
pub struct AutoShotPlugin {
    pub path: PathBuf,
    pub frames: u32,
}

#[derive(Resource)]
struct AutoShot {
    path: PathBuf,
    frames: u32,
    n: u32,
}

impl Plugin for AutoShotPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(AutoShot {
            path: self.path.clone(),
            frames: self.frames,
            n: 0,
        })
        .add_systems(Update, auto_shot);
    }
}

fn auto_shot(mut commands: Commands, mut s: ResMut<AutoShot>, mut exit: MessageWriter<AppExit>) {
    s.n += 1;
    if s.n == s.frames {
        commands
            .spawn(Screenshot::primary_window())
            .observe(save_to_disk(s.path.clone()));
    }
    // Screenshots complete a few frames later.
    if s.n == s.frames + 10 {
        exit.write(AppExit::Success);
    }
}
