//! What a scene run produced.

/// The verdict on one expectation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    /// Not evaluated (e.g. `Image` without `--render`).
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Skipped => "skipped",
        }
    }
}

/// One expectation's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The expectation with its key arguments, e.g. `Position(jaw at 1.2 s in 0.5..0.7)`.
    pub label: String,
    pub status: Status,
    /// What was measured against what bound, and when (simulated time).
    pub message: String,
    /// The simulated time the message is about, when there is one.
    pub at_s: Option<f64>,
}

/// One scene's result.
#[derive(Debug, Clone)]
pub struct SceneResult {
    /// The scene file, as given.
    pub path: String,
    pub name: String,
    /// One per expectation, in file order.
    pub outcomes: Vec<Outcome>,
    /// The run itself failed (no connection to the head, ...): the scene fails.
    pub error: Option<String>,
    /// FNV-1a (64 bit) over every telemetry frame the host received (raw frame bytes, in order):
    /// identical runs give identical hashes.
    pub telemetry_hash: u64,
    pub telemetry_frames: u64,
    /// Simulated scene time, s.
    pub sim_s: f64,
    /// Wall time of the whole run (connection, simulation, evaluation; not the one-time load of
    /// the default face for `MeshNear`), s.
    pub wall_s: f64,
    /// `sim_s / wall_s`.
    pub realtime_factor: f64,
}

impl SceneResult {
    /// True when the run completed and no expectation failed.
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.outcomes.iter().all(|o| o.status != Status::Fail)
    }

    /// The failed expectations.
    pub fn failures(&self) -> impl Iterator<Item = &Outcome> {
        self.outcomes.iter().filter(|o| o.status == Status::Fail)
    }

    /// `PASS smile.ron  3.0 s sim in 0.05 s (60x)  hash 0x…`
    pub fn summary_line(&self) -> String {
        let file = std::path::Path::new(&self.path)
            .file_name()
            .map_or_else(|| self.path.clone(), |n| n.to_string_lossy().into_owned());
        format!(
            "{} {file}  {:.1} s sim in {:.2} s ({:.0}x)  hash {:#018x}",
            if self.passed() { "PASS" } else { "FAIL" },
            self.sim_s,
            self.wall_s,
            self.realtime_factor,
            self.telemetry_hash
        )
    }
}
