//! The twin: thin Bevy glue over the Bevy-free crates. One plugin per subsystem.

pub mod authoring;
pub mod camera;
pub mod face;
pub mod link;
pub mod mirror;
pub mod parts;
pub mod shot;
pub mod ui;

use bevy::prelude::*;
use std::path::PathBuf;

/// Options of the twin window.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TwinArgs {
    /// A face glTF (.glb/.gltf) to drive instead of the built-in default face.
    #[arg(long)]
    pub face: Option<PathBuf>,
    /// Start on a serial port instead of the simulated head.
    #[arg(long)]
    pub port: Option<String>,
    /// Baud rate for --port / --mirror.
    #[arg(long, default_value_t = 1_000_000)]
    pub baud: u32,
    /// Start mirroring the head on this port (follow its telemetry, send nothing).
    #[arg(long, conflicts_with = "port")]
    pub mirror: Option<String>,
    /// Command stream rate, Hz (100 default, up to 1000).
    #[arg(long, default_value_t = 100)]
    pub rate: u32,
    /// Save a screenshot to this path after --frames frames and exit (automation).
    #[arg(long)]
    pub screenshot: Option<PathBuf>,
    /// Frames to run before the screenshot / exit.
    #[arg(long, default_value_t = 90)]
    pub frames: u32,
    /// Motor targets to set at start, NAME=VALUE (normalised travel), repeatable.
    #[arg(long = "motor", value_name = "NAME=VALUE")]
    pub motors: Vec<String>,
    /// Window width and height.
    #[arg(long, default_value_t = 1280)]
    pub width: u32,
    #[arg(long, default_value_t = 800)]
    pub height: u32,
}

/// Runs the twin window until it is closed.
pub fn run_twin(args: TwinArgs) -> anyhow::Result<()> {
    let face = face::FaceAssets::load(args.face.as_deref())?;
    let initial = link::initial_source(&args);
    let pose = link::parse_motor_args(&args.motors)?;
    let mut app = App::new();
    app.add_plugins(
        DefaultPlugins
            .set(WindowPlugin {
                primary_window: Some(Window {
                    title: "facetwin".into(),
                    resolution: (args.width, args.height).into(),
                    ..default()
                }),
                ..default()
            })
            .set(bevy::log::LogPlugin {
                filter: "wgpu=error,naga=warn,bevy_render=warn".into(),
                ..default()
            }),
    )
    .add_plugins(bevy_egui::EguiPlugin::default())
    .add_plugins(bevy_rapier3d::prelude::RapierPhysicsPlugin::<
        bevy_rapier3d::prelude::NoUserData,
    >::default())
    .insert_resource(ClearColor(Color::srgb(0.11, 0.12, 0.14)))
    .add_plugins(link::LinkPlugin {
        initial,
        rate_hz: args.rate,
        pose,
    })
    .add_plugins(face::FacePlugin { assets: face })
    .add_plugins(parts::PartsPlugin)
    .add_plugins(camera::CameraPlugin)
    .add_plugins(ui::UiPlugin)
    .add_plugins(authoring::AuthoringPlugin)
    .add_plugins(mirror::MirrorPlugin {
        freeze_after_frames: args.screenshot.as_ref().map(|_| args.frames),
    });
    if let Some(path) = args.screenshot.clone() {
        app.add_plugins(shot::AutoShotPlugin {
            path,
            frames: args.frames,
        });
    }
    app.run();
    Ok(())
}

/// Deformation cost of the default face with all 25 muscles active: (ms per apply, vertices).
pub fn deform_cost_ms() -> anyhow::Result<(f64, usize)> {
    let assets = face::FaceAssets::load(None)?;
    let mut deformer = assets.deformer()?;
    let mut out = assets.face.mesh.clone();
    let n = 200;
    let start = std::time::Instant::now();
    for k in 0..n {
        let a = 0.5 + 0.4 * ((k as f32) * 0.1).sin();
        let positions = [a; 25];
        deformer.apply(&positions, &mut out);
    }
    Ok((
        start.elapsed().as_secs_f64() * 1e3 / f64::from(n),
        out.positions.len(),
    ))
}

/// The twin without a window or renderer: the same link, face and parts plugins on
/// `MinimalPlugins`, for tests and headless runs. Call `app.update()` to step it.
pub fn headless_app(
    face: face::FaceAssets,
    source: link::Source,
    rate_hz: u32,
    pose: Vec<f32>,
) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, TransformPlugin))
        .add_plugins(bevy_rapier3d::prelude::RapierPhysicsPlugin::<
            bevy_rapier3d::prelude::NoUserData,
        >::default())
        .add_plugins(link::LinkPlugin {
            initial: source,
            rate_hz,
            pose,
        })
        .add_plugins(face::FacePlugin { assets: face })
        .add_plugins(parts::PartsPlugin)
        .add_plugins(mirror::MirrorPlugin::default());
    app.finish();
    app.cleanup();
    app
}
