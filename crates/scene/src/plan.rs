//! Loading a scene: RON parsing with positions, semantic checks, and the resolved plan the runner
//! executes (channel names → indices, times → milliseconds).

use crate::error::SceneError;
use crate::format::{Action, Expectation, HeadSetup, Pose, Scene};
use facetwin_head::HeadConfig;
use facetwin_protocol::fault;
use std::path::Path;

/// A scene file, parsed and checked, ready to run.
#[derive(Debug, Clone)]
pub struct LoadedScene {
    /// Where it came from (as given).
    pub path: String,
    /// `Scene::name`, or the file stem.
    pub name: String,
    pub scene: Scene,
    pub(crate) plan: Plan,
}

impl LoadedScene {
    /// The file name (for one-line reports).
    pub fn file_name(&self) -> String {
        Path::new(&self.path)
            .file_name()
            .map_or_else(|| self.path.clone(), |n| n.to_string_lossy().into_owned())
    }
}

/// Reads and checks a scene file.
pub fn load(path: &Path) -> Result<LoadedScene, SceneError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| SceneError::Io {
        path: shown.clone(),
        source,
    })?;
    parse(&text, &shown)
}

/// Parses and checks scene text; `origin` names it in errors (usually the file path).
pub fn parse(text: &str, origin: &str) -> Result<LoadedScene, SceneError> {
    let options =
        ron::Options::default().with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME);
    let scene: Scene = facetwin_ronfile::from_str_with(&options, text, origin)?;
    let plan = compile(&scene, text, origin)?;
    let name = scene.name.clone().unwrap_or_else(|| {
        Path::new(origin)
            .file_stem()
            .map_or_else(|| origin.to_owned(), |s| s.to_string_lossy().into_owned())
    });
    Ok(LoadedScene {
        path: origin.into(),
        name,
        scene,
        plan,
    })
}

/// What the runner executes.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub channel_names: Vec<String>,
    pub neutral: Vec<f32>,
    /// Sorted by time (stable: file order within a millisecond).
    pub steps: Vec<PlannedStep>,
    /// One per `Scene::expect`, same order.
    pub checks: Vec<Check>,
    pub duration_ms: u64,
    pub period_ms: u64,
    /// Channels that need a healthy shadow model (`CurrentDeviation`).
    pub shadow_channels: Vec<usize>,
    /// Whether the rig must be sampled (`MeshNear`).
    pub needs_mesh: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct PlannedStep {
    pub t_ms: u64,
    pub action: Planned,
}

#[derive(Debug, Clone)]
pub(crate) enum Planned {
    Set(Vec<(usize, f32)>),
    Play {
        targets: Vec<(usize, f32)>,
        onset_ms: u32,
        hold_ms: u32,
        offset_ms: u32,
    },
    Inject {
        channel: usize,
        kind: facetwin_protocol::FaultKind,
        active: bool,
    },
    Corrupt(f64),
    Silence(u32),
    Unplug,
    Replug,
    EStop,
    ClearFaults,
    Torque(bool),
}

/// An expectation with names resolved and times in seconds.
#[derive(Debug, Clone)]
pub(crate) enum Check {
    Tracking {
        ch: usize,
        from: f64,
        to: f64,
        max: f32,
    },
    Apex {
        ch: usize,
        apex: f64,
        window: (f64, f64),
        tol_s: f64,
        min_value: f32,
    },
    FaultRaised {
        ch: usize,
        bit: u8,
        by: f64,
    },
    NoFault {
        ch: Option<usize>,
        mask: u8,
        from: f64,
        to: f64,
    },
    SafeState {
        silence: (f64, f64),
        within_s: f64,
        neutral_by: f64,
        tol: f32,
    },
    Position {
        ch: usize,
        at: f64,
        min: f32,
        max: f32,
    },
    Disconnected {
        by: f64,
    },
    Reconnected {
        by: f64,
    },
    StaysConnected {
        from: f64,
        to: f64,
    },
    MeshNear {
        at: f64,
        pose: Vec<f32>,
        max_mm: f32,
    },
    CurrentDeviation {
        ch: usize,
        from: f64,
        to: f64,
        min_ratio: f32,
    },
    Image,
}

struct Ctx<'a> {
    text: &'a str,
    origin: &'a str,
    names: Vec<String>,
}

impl Ctx<'_> {
    fn err(&self, message: String, name: Option<&str>) -> SceneError {
        SceneError::Invalid {
            path: self.origin.into(),
            at: name.and_then(|n| facetwin_ronfile::find_quoted(self.text, n)),
            message,
        }
    }

    fn channel(&self, name: &str, what: &str) -> Result<usize, SceneError> {
        self.names.iter().position(|n| n == name).ok_or_else(|| {
            self.err(
                format!(
                    "{what}: unknown channel `{name}`{} (the default head has: {})",
                    did_you_mean(name, &self.names),
                    self.names.join(", ")
                ),
                Some(name),
            )
        })
    }

    fn pose_targets(&self, pose: &Pose, what: &str) -> Result<Vec<(usize, f32)>, SceneError> {
        let mut out = Vec::with_capacity(pose.len());
        for (name, &v) in pose {
            let ch = self.channel(name, what)?;
            if !v.is_finite() {
                return Err(self.err(
                    format!("{what}: `{name}` is not a finite number"),
                    Some(name),
                ));
            }
            out.push((ch, v));
        }
        Ok(out)
    }

    fn time(&self, t: f64, duration: f64, what: &str) -> Result<f64, SceneError> {
        if !t.is_finite() || t < 0.0 || t > duration + 1e-9 {
            return Err(self.err(
                format!("{what}: time {t} s outside the scene (0..={duration} s)"),
                None,
            ));
        }
        Ok(t)
    }

    fn window(&self, from: f64, to: f64, duration: f64, what: &str) -> Result<(), SceneError> {
        self.time(from, duration, what)?;
        self.time(to, duration, what)?;
        if from > to {
            return Err(self.err(format!("{what}: window {from}..{to} s is reversed"), None));
        }
        Ok(())
    }
}

/// Edit distance (Levenshtein), for suggestions.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

fn did_you_mean<S: AsRef<str>>(name: &str, known: &[S]) -> String {
    known
        .iter()
        .map(|k| (distance(name, k.as_ref()), k.as_ref()))
        .filter(|(d, k)| *d <= name.len().max(k.len()) / 2)
        .min()
        .map_or_else(String::new, |(_, k)| format!("; did you mean `{k}`?"))
}

fn fault_bit(name: &str) -> Option<u8> {
    let n = name.to_ascii_lowercase().replace('_', "-");
    fault::NAMES.iter().position(|f| *f == n).map(|i| 1u8 << i)
}

fn compile(scene: &Scene, text: &str, origin: &str) -> Result<Plan, SceneError> {
    let head = HeadConfig::default_head();
    let cx = Ctx {
        text,
        origin,
        names: head.channels.iter().map(|c| c.name.clone()).collect(),
    };
    let neutral: Vec<f32> = head.channels.iter().map(|c| c.neutral_norm).collect();
    let duration = scene.duration_s;
    if !duration.is_finite() || duration <= 0.0 || duration > 3600.0 {
        return Err(cx.err(format!("duration_s {duration} must be in (0, 3600]"), None));
    }
    let rate = scene.command_rate_hz;
    if rate == 0 || rate > 1000 || 1000 % rate != 0 {
        return Err(cx.err(
            format!(
                "command_rate_hz {rate}: the host polls every 1 ms, so the rate must divide 1000 \
                 (e.g. 100, 200, 250, 500, 1000)"
            ),
            None,
        ));
    }
    if scene.telemetry_hz == 0 || scene.telemetry_hz > 1000 {
        return Err(cx.err(
            format!("telemetry_hz {} must be in 1..=1000", scene.telemetry_hz),
            None,
        ));
    }
    if scene.watchdog_ms != 0 && scene.watchdog_ms < 10 {
        return Err(cx.err(
            format!("watchdog_ms {} must be 0 (off) or >= 10", scene.watchdog_ms),
            None,
        ));
    }
    for (name, pose) in &scene.poses {
        cx.pose_targets(pose, &format!("pose `{name}`"))?;
    }
    let serial = matches!(scene.head, HeadSetup::Serial { .. });

    // Steps.
    let mut steps = Vec::with_capacity(scene.steps.len());
    let mut cursor = 0.0f64;
    let mut play_starts: Vec<(String, f64, u32, u32, u32)> = Vec::new();
    for (i, step) in scene.steps.iter().enumerate() {
        let what = format!("step {}", i + 1);
        if let Some(at) = step.at {
            cursor = at;
        }
        let t = cx.time(cursor, duration, &what)?;
        let t_ms = (t * 1000.0).round() as u64;
        let pose = |name: &str| {
            scene.poses.get(name).ok_or_else(|| {
                let known: Vec<&str> = scene.poses.keys().map(String::as_str).collect();
                cx.err(
                    format!(
                        "{what}: unknown pose `{name}`{} (this scene defines: {})",
                        did_you_mean(name, &known),
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                    Some(name),
                )
            })
        };
        let action = match &step.action {
            Action::SetMotors(p) => Planned::Set(cx.pose_targets(p, &what)?),
            Action::SetPose(name) => Planned::Set(cx.pose_targets(pose(name)?, &what)?),
            Action::Play {
                pose: name,
                onset_ms,
                hold_ms,
                offset_ms,
            } => {
                let targets = cx.pose_targets(pose(name)?, &what)?;
                play_starts.push((name.clone(), t, *onset_ms, *hold_ms, *offset_ms));
                Planned::Play {
                    targets,
                    onset_ms: *onset_ms,
                    hold_ms: *hold_ms,
                    offset_ms: *offset_ms,
                }
            }
            Action::Wait { ms } => {
                cursor += f64::from(*ms) / 1000.0;
                continue;
            }
            Action::InjectFault {
                channel,
                kind,
                active,
            } => Planned::Inject {
                channel: cx.channel(channel, &what)?,
                kind: (*kind).into(),
                active: *active,
            },
            Action::CorruptLink { fraction } => {
                if serial {
                    return Err(cx.err(
                        format!("{what}: CorruptLink needs the in-process head (head: Default)"),
                        None,
                    ));
                }
                if !(0.0..=1.0).contains(fraction) {
                    return Err(cx.err(
                        format!("{what}: CorruptLink fraction {fraction} must be in 0..=1"),
                        None,
                    ));
                }
                Planned::Corrupt(*fraction)
            }
            Action::Silence { ms } => Planned::Silence(*ms),
            Action::Unplug | Action::Replug if serial => {
                return Err(cx.err(
                    format!("{what}: Unplug/Replug need the in-process head (head: Default)"),
                    None,
                ));
            }
            Action::Unplug => Planned::Unplug,
            Action::Replug => Planned::Replug,
            Action::EmergencyStop => Planned::EStop,
            Action::ClearFaults => Planned::ClearFaults,
            Action::Torque(on) => Planned::Torque(*on),
        };
        steps.push(PlannedStep { t_ms, action });
    }
    steps.sort_by_key(|s| s.t_ms);

    // Expectations.
    let mut checks = Vec::with_capacity(scene.expect.len());
    let mut shadow_channels = Vec::new();
    let mut needs_mesh = false;
    for (i, e) in scene.expect.iter().enumerate() {
        let what = format!("expectation {} ({})", i + 1, e.kind());
        let check = match e {
            Expectation::MaxTrackingError {
                channel,
                from_s,
                to_s,
                max_norm,
            } => {
                cx.window(*from_s, *to_s, duration, &what)?;
                Check::Tracking {
                    ch: cx.channel(channel, &what)?,
                    from: *from_s,
                    to: *to_s,
                    max: *max_norm,
                }
            }
            Expectation::ApexWithin {
                channel,
                pose,
                at_s,
                tolerance_ms,
                min_value,
            } => {
                let ch = cx.channel(channel, &what)?;
                let tol_s = tolerance_ms / 1000.0;
                if !(tol_s.is_finite() && tol_s >= 0.0) {
                    return Err(cx.err(format!("{what}: tolerance_ms must be >= 0"), None));
                }
                let (apex, window) = match (pose, at_s) {
                    (Some(name), None) => {
                        let Some((_, start, on, hold, off)) =
                            play_starts.iter().find(|p| &p.0 == name)
                        else {
                            return Err(cx.err(
                                format!("{what}: no Play step plays pose `{name}`"),
                                Some(name),
                            ));
                        };
                        let apex = start + f64::from(*on) / 1000.0;
                        let end = start + f64::from(on + hold + off) / 1000.0;
                        (apex, (*start, (end + 0.25).min(duration)))
                    }
                    (None, Some(t)) => {
                        let t = cx.time(*t, duration, &what)?;
                        let half = (5.0 * tol_s).max(0.1);
                        (t, ((t - half).max(0.0), (t + half).min(duration)))
                    }
                    _ => {
                        return Err(cx.err(
                            format!("{what}: give exactly one of `pose` or `at_s`"),
                            None,
                        ));
                    }
                };
                Check::Apex {
                    ch,
                    apex,
                    window,
                    tol_s,
                    min_value: *min_value,
                }
            }
            Expectation::FaultRaised {
                channel,
                fault: name,
                by_s,
            } => Check::FaultRaised {
                ch: cx.channel(channel, &what)?,
                bit: fault_bit(name).ok_or_else(|| {
                    cx.err(
                        format!(
                            "{what}: unknown fault `{name}` (known: {})",
                            fault::NAMES.join(", ")
                        ),
                        Some(name),
                    )
                })?,
                by: cx.time(*by_s, duration, &what)?,
            },
            Expectation::NoFault {
                channel,
                faults,
                from_s,
                to_s,
            } => {
                cx.window(*from_s, *to_s, duration, &what)?;
                let ch = match channel.as_deref() {
                    None | Some("all") => None,
                    Some(name) => Some(cx.channel(name, &what)?),
                };
                let mut mask = 0u8;
                match faults {
                    None => mask = 0xFF,
                    Some(list) => {
                        for name in list {
                            mask |= fault_bit(name).ok_or_else(|| {
                                cx.err(
                                    format!(
                                        "{what}: unknown fault `{name}` (known: {})",
                                        fault::NAMES.join(", ")
                                    ),
                                    Some(name),
                                )
                            })?;
                        }
                    }
                }
                Check::NoFault {
                    ch,
                    mask,
                    from: *from_s,
                    to: *to_s,
                }
            }
            Expectation::SafeStateAfterSilence {
                within_ms,
                neutral_by_s,
                silence_at_s,
                tolerance,
            } => {
                let after_ms = (silence_at_s.unwrap_or(0.0) * 1000.0).round() as u64;
                let Some((start, ms)) = steps.iter().find_map(|s| match s.action {
                    Planned::Silence(ms) if s.t_ms >= after_ms => Some((s.t_ms, ms)),
                    _ => None,
                }) else {
                    return Err(cx.err(format!("{what}: the scene has no Silence step"), None));
                };
                let start = start as f64 / 1000.0;
                Check::SafeState {
                    silence: (start, start + f64::from(ms) / 1000.0),
                    within_s: within_ms / 1000.0,
                    neutral_by: cx.time(*neutral_by_s, duration, &what)?,
                    tol: tolerance.unwrap_or(0.05),
                }
            }
            Expectation::Position {
                channel,
                at_s,
                min,
                max,
            } => Check::Position {
                ch: cx.channel(channel, &what)?,
                at: cx.time(*at_s, duration, &what)?,
                min: *min,
                max: *max,
            },
            Expectation::Disconnected { by_s } => Check::Disconnected {
                by: cx.time(*by_s, duration, &what)?,
            },
            Expectation::Reconnected { by_s } => Check::Reconnected {
                by: cx.time(*by_s, duration, &what)?,
            },
            Expectation::StaysConnected { from_s, to_s } => {
                cx.window(*from_s, *to_s, duration, &what)?;
                Check::StaysConnected {
                    from: *from_s,
                    to: *to_s,
                }
            }
            Expectation::MeshNear { at_s, pose, max_mm } => {
                needs_mesh = true;
                let mut full = neutral.clone();
                for (ch, v) in cx.pose_targets(pose, &what)? {
                    full[ch] = v;
                }
                Check::MeshNear {
                    at: cx.time(*at_s, duration, &what)?,
                    pose: full,
                    max_mm: *max_mm,
                }
            }
            Expectation::CurrentDeviation {
                channel,
                from_s,
                to_s,
                min_ratio,
            } => {
                cx.window(*from_s, *to_s, duration, &what)?;
                let ch = cx.channel(channel, &what)?;
                if !shadow_channels.contains(&ch) {
                    shadow_channels.push(ch);
                }
                Check::CurrentDeviation {
                    ch,
                    from: *from_s,
                    to: *to_s,
                    min_ratio: *min_ratio,
                }
            }
            Expectation::Image { at_s, .. } => {
                cx.time(*at_s, duration, &what)?;
                Check::Image
            }
        };
        checks.push(check);
    }
    Ok(Plan {
        channel_names: cx.names,
        neutral,
        steps,
        checks,
        duration_ms: (duration * 1000.0).round() as u64,
        period_ms: u64::from(1000 / rate),
        shadow_channels,
        needs_mesh,
    })
}
