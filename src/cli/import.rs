//! `facetwin import livelink TAKE.csv -o clip.ron`: a Live Link Face capture becomes a clip.

use facetwin_authoring::{
    AuTable, FeasibilityOptions, ImportOptions, Smoothing, check_clip, import_livelink,
};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    pub format: ImportFormat,
}

#[derive(Debug, clap::Subcommand)]
pub enum ImportFormat {
    /// A Live Link Face CSV (timecode, blendshape count, the 52 ARKit blendshapes, head and eye
    /// rotations), retargeted ARKit → action units → actuators with a bounded least-squares fit.
    Livelink(LivelinkArgs),
}

#[derive(Debug, clap::Args)]
pub struct LivelinkArgs {
    /// The capture (.csv).
    pub take: PathBuf,
    /// The clip to write (`*.clip.ron`).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Clip name (default: the capture's file stem).
    #[arg(long)]
    pub name: Option<String>,
    /// Frame rate of the timecode's frame field.
    #[arg(long, default_value_t = 60.0)]
    pub fps: f32,
    /// Output time = capture time × this (0.5 plays twice as fast).
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f32,
    /// Low-pass the fitted tracks (one-pole, forwards and backwards), time constant in ms.
    #[arg(long, conflicts_with = "average_ms")]
    pub smooth_ms: Option<f32>,
    /// Centred moving average over this window, ms.
    #[arg(long)]
    pub average_ms: Option<f32>,
    /// Key decimation tolerance, normalised travel.
    #[arg(long, default_value_t = 0.005)]
    pub tolerance: f32,
    /// Head and eye rotations are in degrees (default radians).
    #[arg(long)]
    pub degrees: bool,
}

pub fn run(args: &ImportArgs) -> anyhow::Result<()> {
    match &args.format {
        ImportFormat::Livelink(a) => livelink(a),
    }
}

fn livelink(a: &LivelinkArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        a.fps.is_finite() && a.fps > 0.0,
        "--fps {}: must be a positive frame rate",
        a.fps
    );
    anyhow::ensure!(
        a.time_scale.is_finite() && a.time_scale > 0.0,
        "--time-scale {}: must be positive",
        a.time_scale
    );
    let smoothing = match (a.smooth_ms, a.average_ms) {
        (Some(tau_ms), _) => Smoothing::OnePole { tau_ms },
        (None, Some(window_ms)) => Smoothing::MovingAverage { window_ms },
        (None, None) => Smoothing::None,
    };
    let options = ImportOptions {
        name: a.name.clone(),
        fps: a.fps,
        time_scale: a.time_scale,
        smoothing,
        tolerance: a.tolerance,
        rotation_unit: if a.degrees {
            facetwin_authoring::livelink::RotationUnit::Degrees
        } else {
            facetwin_authoring::livelink::RotationUnit::Radians
        },
        ..ImportOptions::default()
    };
    let clip = import_livelink(&a.take, &options)?;
    clip.save(&a.out)?;
    let keys: usize = clip.tracks.iter().map(|t| t.keys.len()).sum();
    println!(
        "{} -> {}: clip '{}', {} ms, {} tracks, {} keys",
        a.take.display(),
        a.out.display(),
        clip.name,
        clip.duration_ms,
        clip.tracks.len(),
        keys
    );
    let report = check_clip(
        &clip,
        &AuTable::builtin(),
        &facetwin_head::HeadConfig::default_head(),
        &FeasibilityOptions::default(),
    );
    if report.is_feasible() {
        println!("feasible on the default head's motors");
    } else {
        println!(
            "{} keys the default head's motors cannot follow (open the clip in the workbench to see them):",
            report.issues.len()
        );
        for i in report.issues.iter().take(10) {
            println!("  {}", crate::app::authoring::describe_issue(i));
        }
        if report.issues.len() > 10 {
            println!("  … and {} more", report.issues.len() - 10);
        }
    }
    Ok(())
}
