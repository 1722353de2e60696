//! Headless simulation runs for CI: scene files, expectations, reports. Bevy-free.
//!
//! A scene (RON, see `docs/SCENES.md`) sets up a head, drives it with timed steps (motor
//! targets, expressions played with an onset/hold/offset envelope, injected faults, link
//! corruption, silence, unplugging, emergency stop) and states what must hold (tracking error,
//! apex timing, faults reported or not, the watchdog's safe state, positions, connection,
//! the deformed face, current deviation against a healthy model).
//!
//! ```no_run
//! let scene = facetwin_scene::load(std::path::Path::new("scenes/smile.ron"))?;
//! let result = facetwin_scene::run(&scene, &facetwin_scene::RunOptions::default());
//! println!("{}", result.summary_line());
//! for f in result.failures() {
//!     println!("  {}: {}", f.label, f.message);
//! }
//! # Ok::<(), facetwin_scene::SceneError>(())
//! ```
//!
//! The runner puts the host session ([`facetwin_link::HostCore`]) and the in-process head
//! ([`facetwin_link::SharedHead`]) in lockstep virtual time: 1 ms host steps, the head's motors
//! at 10 kHz. Runs are deterministic; [`SceneResult::telemetry_hash`] proves it.

mod discover;
mod error;
mod expect;
pub mod format;
mod mesh;
mod plan;
pub mod report;
mod result;
mod run;

pub use discover::{discover, parse_shard, shard, wildcard_match};
pub use error::SceneError;
pub use format::{Action, Expectation, FaultKind, HeadSetup, Pose, Scene, Step};
pub use plan::{LoadedScene, load, parse};
pub use result::{Outcome, SceneResult, Status};
pub use run::{RunOptions, run};
