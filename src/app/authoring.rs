//! `AuthoringPlugin`: the designer's workbench, thin egui glue over `facetwin-authoring`.
//!
//! * left: action-unit sliders and the expression library (apply, blend, mirror, save);
//! * bottom: the timeline of an [`Editor`] clip (keys and curves per track, selection, drag,
//!   handles, interpolation, undo/redo, clipboard, micro-expression template, clip files, Live
//!   Link import), the transport and the feasibility marks of the motor model.
//!
//! All state lives in the [`Workbench`] resource; its methods are the view-model (plain data in,
//! plain data out, tested without a window) and the `*_ui` functions only draw it and call them.
//! Pose changes go to `Link::desired` and the session; playback is a [`ClipPlayer`] handed to the
//! link, sampled on the link thread's command clock, never per render frame.

use super::link::Link;
use super::ui::{self, Dock, DockTab, ReservedEdges};
use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use facetwin_authoring::timeline::bezier_points;
use facetwin_authoring::{
    AuTable, Clip, Edit, EditCommand, Editor, Expression, ExpressionLibrary, FeasibilityCache,
    FeasibilityOptions, FeasibilityReport, Handle, ImportOptions, Interpolation, Issue, IssueKind,
    Key, KeyId, PlaybackOptions, Track, TrackTarget, blend, import_livelink, mirror,
};
use facetwin_head::HeadConfig;
use facetwin_link::Player;
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct AuthoringPlugin;

impl Plugin for AuthoringPlugin {
    fn build(&self, app: &mut App) {
        let rate = app
            .world()
            .get_resource::<Link>()
            .map_or(100, |l| l.rate_hz);
        let mut wb = Workbench::from_assets();
        wb.set_stream_hz(rate as f32);
        app.insert_resource(wb)
            .init_resource::<ReservedEdges>()
            .init_resource::<Dock>()
            .add_systems(
                EguiPrimaryContextPass,
                workbench_panels.after(ui::DockSet).before(ui::panels),
            );
    }
}

// ---------------------------------------------------------------------------------------------
// Playback
// ---------------------------------------------------------------------------------------------

/// Slowest and fastest playback speed.
pub const MIN_SPEED: f32 = 0.05;
pub const MAX_SPEED: f32 = 4.0;

/// Plays a clip on the link's command clock: every command tick samples the clip at the
/// session's own time since playback started (scaled by `speed`, from `start_ms`).
#[derive(Debug, Clone)]
pub struct ClipPlayer {
    pub clip: Clip,
    pub table: AuTable,
    /// 1 = authored timing; clamped to `MIN_SPEED..=MAX_SPEED`.
    pub speed: f32,
    /// Wrap around at the end instead of stopping.
    pub looping: bool,
    /// Clip time at which playback starts, ms.
    pub start_ms: f32,
}

impl ClipPlayer {
    pub fn new(clip: Clip, table: AuTable) -> Self {
        Self {
            clip,
            table,
            speed: 1.0,
            looping: false,
            start_ms: 0.0,
        }
    }

    /// Clip time for `t` since playback started, and whether playback goes on.
    pub fn clip_time_ms(&self, t: Duration) -> (f32, bool) {
        clip_time_ms(
            self.start_ms,
            self.speed,
            self.looping,
            play_length_ms(&self.clip),
            t,
        )
    }
}

impl Player for ClipPlayer {
    fn sample(&mut self, t: Duration, out: &mut Vec<f32>) -> bool {
        let (ms, playing) = self.clip_time_ms(t);
        let n = self.table.layout().len();
        if out.len() < n {
            out.resize(n, 0.0);
        }
        self.clip.sample_into(&self.table, ms, &mut out[..n]);
        playing
    }
}

/// How long a clip plays: its duration, or its last key if that comes later (≥ 1 ms).
pub fn play_length_ms(clip: &Clip) -> f32 {
    clip.duration_ms.max(clip.last_key_ms()).max(1) as f32
}

fn sane_speed(speed: f32) -> f32 {
    if speed.is_finite() {
        speed.clamp(MIN_SPEED, MAX_SPEED)
    } else {
        1.0
    }
}

/// Clip time (ms) `t` after a playback started at `start_ms` with `speed`, and whether it goes
/// on (a non-looping playback ends at `length_ms`, holding the last pose).
pub fn clip_time_ms(
    start_ms: f32,
    speed: f32,
    looping: bool,
    length_ms: f32,
    t: Duration,
) -> (f32, bool) {
    let len = f64::from(length_ms.max(1.0));
    let ms = f64::from(start_ms.max(0.0)) + t.as_secs_f64() * 1000.0 * f64::from(sane_speed(speed));
    if looping {
        (ms.rem_euclid(len) as f32, true)
    } else if ms >= len {
        (len as f32, false)
    } else {
        (ms as f32, true)
    }
}

// ---------------------------------------------------------------------------------------------
// Files and paths
// ---------------------------------------------------------------------------------------------

/// The directory relative paths are resolved against: the source tree when it exists (running
/// from the checkout), else the working directory.
pub fn project_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    if manifest.join("assets").is_dir() {
        manifest.to_path_buf()
    } else {
        PathBuf::from(".")
    }
}

/// `assets/<sub>` under the project root, falling back to `./assets/<sub>`.
pub fn asset_dir(sub: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("assets")
        .join(sub);
    if p.is_dir()
        || Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("assets")
            .is_dir()
    {
        p
    } else {
        PathBuf::from("assets").join(sub)
    }
}

/// A path typed by the designer: absolute as is, relative against [`project_root`].
pub fn resolve_path(text: &str) -> PathBuf {
    let p = PathBuf::from(text.trim());
    if p.is_absolute() {
        p
    } else {
        project_root().join(p)
    }
}

/// A path as shown in a text field (relative to the project root when inside it).
pub fn display_path(p: &Path) -> String {
    let root = project_root();
    p.strip_prefix(&root).unwrap_or(p).display().to_string()
}

/// Writes a clip as RON, creating its directory. Errors name the file.
pub fn save_clip_file(clip: &Clip, path: &Path) -> Result<(), String> {
    clip.validate()
        .map_err(|e| format!("{}: not saved: {e}", path.display()))?;
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    clip.save(path).map_err(|e| e.to_string())
}

/// Reads a clip (channel and AU names checked). Errors read `file:line:column: what`.
pub fn load_clip_file(path: &Path, table: &AuTable) -> Result<Clip, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Clip::from_ron_str_checked(&text, &path.display().to_string(), table).map_err(|e| e.to_string())
}

/// A name usable as an expression or clip file name.
pub fn valid_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("give it a name".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(format!(
            "\"{name}\": '{c}' not allowed (letters, digits, _ and - only)"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Feasibility presentation
// ---------------------------------------------------------------------------------------------

/// One line for a tooltip: what is wrong, with the numbers.
pub fn describe_issue(issue: &Issue) -> String {
    let what = match issue.kind {
        IssueKind::BeyondTravel { value, min, max } => {
            format!("BeyondTravel: {value:+.2} outside the travel {min:+.2}..{max:+.2}")
        }
        IssueKind::TooFast { needed, max } => {
            format!("TooFast: needs {needed:.1} travel/s, motor max {max:.1}/s")
        }
        IssueKind::OverCurrent { peak_a, limit_a } => {
            format!("OverCurrent: {peak_a:.2} A against a limit of {limit_a:.2} A")
        }
    };
    format!(
        "{} @ {} ms: {what} (tracking error {:.3})",
        issue.channel, issue.time_ms, issue.tracking_error_norm
    )
}

/// Keys to mark on the timeline: each issue at the key that starts its segment.
pub fn feasibility_marks(report: &FeasibilityReport, clip: &Clip) -> HashMap<KeyId, Vec<String>> {
    let mut marks: HashMap<KeyId, Vec<String>> = HashMap::new();
    for issue in &report.issues {
        let Some(track) = issue.track else { continue };
        let Some(t) = clip.tracks.get(track) else {
            continue;
        };
        if t.key_at(issue.time_ms).is_none() {
            continue;
        }
        marks
            .entry(KeyId::new(track, issue.time_ms))
            .or_default()
            .push(describe_issue(issue));
    }
    marks
}

/// The channels a track moves.
pub fn track_channels(track: &Track, table: &AuTable) -> Vec<usize> {
    match &track.target {
        TrackTarget::Channel(n) => table.layout().index(n).into_iter().collect(),
        TrackTarget::Au(n) => table
            .index(n)
            .and_then(|id| table.unit(id))
            .map(|u| {
                u.weights
                    .iter()
                    .filter(|(_, w)| *w != 0.0)
                    .map(|(i, _)| *i)
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Per track: the largest tracking error the simulated motors of its channels produced.
pub fn track_errors(report: &FeasibilityReport, clip: &Clip, table: &AuTable) -> Vec<Option<f32>> {
    clip.tracks
        .iter()
        .map(|t| {
            track_channels(t, table)
                .into_iter()
                .filter_map(|ch| {
                    report
                        .channels
                        .iter()
                        .find(|c| c.channel_index == ch)
                        .map(|c| c.max_tracking_error_norm)
                })
                .reduce(f32::max)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The workbench state (view-model)
// ---------------------------------------------------------------------------------------------

/// A status line: text and whether it is an error.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
}

impl Notice {
    pub fn info(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            error: false,
        }
    }

    pub fn error(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            error: true,
        }
    }
}

/// A drag in progress on the timeline (the edit is applied once, on release).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Drag {
    /// Selected keys, by the pointer's travel in pixels; `px_per_value` of the grabbed lane.
    Keys {
        total: egui::Vec2,
        px_per_ms: f32,
        px_per_value: f32,
        time_only: bool,
        value_only: bool,
    },
    /// A tangent handle of `key` moved to `(time_ms, value)` (absolute).
    Handle {
        key: KeyId,
        out: bool,
        at: (f32, f32),
    },
}

/// What the UI asks of the link after a frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Effects {
    /// The designer's pose changed: send it.
    pub pose: bool,
    /// (Re)start playback from the playhead.
    pub play: bool,
    /// Stop playback (pause or stop).
    pub stop: bool,
}

/// Everything the workbench shows and edits.
#[derive(Resource, Debug)]
pub struct Workbench {
    pub table: AuTable,
    pub head: HeadConfig,
    // --- action units
    /// Intensity per resolved unit (`AuId`), 0..=1.
    pub au: Vec<f32>,
    /// The pose the AU sliders contribute (clamped); the rest of the designer's pose is offsets.
    pub au_pose: Vec<f32>,
    pub show_lr: bool,
    // --- expressions
    pub library: ExpressionLibrary,
    pub library_dir: PathBuf,
    pub selected_expression: Option<String>,
    pub blend_a: String,
    pub blend_b: String,
    pub blend_t: f32,
    pub new_expression_name: String,
    pub library_notice: Option<Notice>,
    // --- timeline
    pub editor: Editor,
    pub selection: BTreeSet<KeyId>,
    pub active_track: usize,
    pub playhead_ms: f32,
    pub playing: bool,
    pub looping: bool,
    pub speed: f32,
    /// The link's playhead as last seen (time since its playback started).
    pub link_playhead: Option<Duration>,
    play_start_ms: f32,
    seen_link_playhead: bool,
    frames_waiting: u32,
    /// Edits since start; playback restarts when the clip changed under it.
    pub revision: u64,
    played_revision: u64,
    /// Visible time window; `None` = fit the clip.
    pub view: Option<(f32, f32)>,
    pub drag: Option<Drag>,
    /// The selected key's time and value while its number fields are being dragged (applied
    /// as one undo step when the drag ends).
    pub key_edit: Option<(KeyId, u32, f32)>,
    /// Each lane's value axis spans its keys (and 0) instead of the whole travel.
    pub fit_values: bool,
    pub duration_edit: u32,
    /// Where the last frame drew the timeline (for hit tests and tests).
    pub layout: TimelineLayout,
    // --- micro-expression template
    pub micro_expression: String,
    pub onset_ms: u32,
    pub apex_ms: u32,
    pub offset_ms: u32,
    // --- files
    pub clip_dir: PathBuf,
    pub clip_path: String,
    pub csv_path: String,
    pub timeline_notice: Option<Notice>,
    // --- feasibility
    cache: FeasibilityCache,
    pub stream_hz: f32,
    /// Why the head will not move now (e-stop latched, no head), shown over the timeline so a
    /// playhead running on a head that refuses targets is not mistaken for a silent clip.
    pub head_blocked: Option<String>,
    pub report: FeasibilityReport,
    pub marks: HashMap<KeyId, Vec<String>>,
    pub track_errors: Vec<Option<f32>>,
}

/// The expression the workbench opens as a micro-expression at start.
pub const DEFAULT_EXPRESSION: &str = "duchenne_smile";

impl Workbench {
    /// The workbench on the project's `assets/expressions` and `assets/clips`.
    pub fn from_assets() -> Self {
        Self::new(asset_dir("expressions"), asset_dir("clips"))
    }

    /// A workbench on these directories; opens a 120 ms micro-expression of
    /// [`DEFAULT_EXPRESSION`] when the library has it. Never fails: problems become notices.
    pub fn new(library_dir: PathBuf, clip_dir: PathBuf) -> Self {
        let table = AuTable::builtin();
        let n_units = table.units().len();
        let n = table.layout().len();
        let mut wb = Self {
            table,
            head: HeadConfig::default_head(),
            au: vec![0.0; n_units],
            au_pose: vec![0.0; n],
            show_lr: false,
            library: ExpressionLibrary::default(),
            library_dir,
            selected_expression: None,
            blend_a: String::new(),
            blend_b: String::new(),
            blend_t: 0.5,
            new_expression_name: String::new(),
            library_notice: None,
            editor: Editor::new(Clip::new("untitled", 1000)),
            selection: BTreeSet::new(),
            active_track: 0,
            playhead_ms: 0.0,
            playing: false,
            looping: false,
            speed: 1.0,
            link_playhead: None,
            play_start_ms: 0.0,
            seen_link_playhead: false,
            frames_waiting: 0,
            revision: 0,
            played_revision: 0,
            view: None,
            drag: None,
            key_edit: None,
            fit_values: false,
            duration_edit: 1000,
            layout: TimelineLayout::default(),
            micro_expression: DEFAULT_EXPRESSION.into(),
            onset_ms: 40,
            apex_ms: 40,
            offset_ms: 40,
            clip_path: String::new(),
            clip_dir,
            csv_path: display_path(&asset_dir("captures").join("synthetic_take.csv")),
            timeline_notice: None,
            cache: FeasibilityCache::new(),
            stream_hz: 100.0,
            head_blocked: None,
            report: FeasibilityReport::default(),
            marks: HashMap::new(),
            track_errors: Vec::new(),
        };
        wb.reload_library();
        let names: Vec<String> = wb.library.names().map(str::to_owned).collect();
        if !names.iter().any(|n| n == DEFAULT_EXPRESSION)
            && let Some(first) = names.first()
        {
            wb.micro_expression = first.clone();
        }
        wb.blend_a = names
            .iter()
            .find(|n| *n == "neutral")
            .or(names.first())
            .cloned()
            .unwrap_or_default();
        wb.blend_b = wb.micro_expression.clone();
        if wb.library.get(&wb.micro_expression).is_some() {
            if let Err(e) = wb.new_micro_expression() {
                wb.timeline_notice = Some(Notice::error(e));
            }
        } else {
            wb.open_clip(Clip::new("untitled", 1000));
        }
        wb
    }

    // --- action units ----------------------------------------------------------------------

    /// The pose of the AU intensities, before clamping.
    pub fn au_raw(&self) -> Vec<f32> {
        let mut pose = vec![0.0; self.table.layout().len()];
        for (id, &s) in self.au.iter().enumerate() {
            self.table.accumulate(id, s, &mut pose);
        }
        pose
    }

    fn au_pose_now(&self) -> Vec<f32> {
        let mut p = self.au_raw();
        self.table.layout().clamp(&mut p);
        p
    }

    /// Sets one AU's intensity: the AU pose changes, the rest of the designer's pose (what the
    /// motor sliders added on top) is kept as an offset.
    pub fn set_au(&mut self, id: usize, intensity: f32, desired: &mut Vec<f32>) {
        let Some(slot) = self.au.get_mut(id) else {
            return;
        };
        *slot = if intensity.is_finite() {
            intensity.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let n = self.table.layout().len();
        if desired.len() < n {
            desired.resize(n, 0.0);
        }
        let offsets: Vec<f32> = (0..n)
            .map(|i| desired[i] - self.au_pose.get(i).copied().unwrap_or(0.0))
            .collect();
        self.au_pose = self.au_pose_now();
        let mut pose: Vec<f32> = (0..n).map(|i| self.au_pose[i] + offsets[i]).collect();
        self.table.layout().clamp(&mut pose);
        desired[..n].copy_from_slice(&pose);
    }

    /// All AU intensities to zero (the offsets stay).
    pub fn zero_aus(&mut self, desired: &mut Vec<f32>) {
        for id in 0..self.au.len() {
            if self.au[id] != 0.0 {
                self.set_au(id, 0.0, desired);
            }
        }
    }

    fn set_aus_from(&mut self, aus: &[(String, f32)]) {
        self.au.iter_mut().for_each(|a| *a = 0.0);
        for (name, s) in aus {
            if let Some(id) = self.table.index(name)
                && let Some(a) = self.au.get_mut(id)
            {
                *a = (*a + s).clamp(0.0, 1.0);
            }
        }
        self.au_pose = self.au_pose_now();
    }

    // --- expressions -----------------------------------------------------------------------

    /// Re-reads the library directory.
    pub fn reload_library(&mut self) {
        match ExpressionLibrary::load_dir(&self.library_dir) {
            Ok(lib) => {
                self.library_notice = Some(Notice::info(format!(
                    "{} expressions from {}",
                    lib.len(),
                    display_path(&self.library_dir)
                )));
                self.library = lib;
            }
            Err(e) => self.library_notice = Some(Notice::error(e.to_string())),
        }
    }

    fn expression(&self, name: &str) -> Result<Expression, String> {
        let e = self
            .library
            .get(name)
            .ok_or_else(|| format!("no expression \"{name}\""))?;
        e.check(&self.table)
            .map_err(|u| format!("{}: {u}", e.name))?;
        Ok(e.clone())
    }

    /// Sets the pose (and AU sliders) to an expression.
    pub fn apply_expression(&mut self, name: &str, desired: &mut Vec<f32>) -> Result<(), String> {
        let e = self.expression(name)?;
        self.set_aus_from(&e.aus);
        write_pose(desired, &e.pose(&self.table));
        self.selected_expression = Some(e.name);
        Ok(())
    }

    /// Sets the pose to `a + (b − a)·t` of two expressions (clamped); AU sliders blend too.
    pub fn blend_expressions(
        &mut self,
        a: &str,
        b: &str,
        t: f32,
        desired: &mut Vec<f32>,
    ) -> Result<(), String> {
        let (ea, eb) = (self.expression(a)?, self.expression(b)?);
        let t = if t.is_finite() { t } else { 0.0 };
        let mut pose = blend(&ea.pose(&self.table), &eb.pose(&self.table), t);
        self.table.layout().clamp(&mut pose);
        let mut aus: Vec<(String, f32)> = ea
            .aus
            .iter()
            .map(|(n, s)| (n.clone(), s * (1.0 - t)))
            .collect();
        aus.extend(eb.aus.iter().map(|(n, s)| (n.clone(), s * t)));
        self.set_aus_from(&aus);
        write_pose(desired, &pose);
        Ok(())
    }

    /// Mirrors the current pose left ↔ right (AU sliders swap their L/R variants).
    pub fn mirror_pose(&mut self, desired: &mut Vec<f32>) {
        let n = self.table.layout().len();
        if desired.len() < n {
            desired.resize(n, 0.0);
        }
        let m = mirror(&desired[..n]);
        desired[..n].copy_from_slice(&m);
        let old = std::mem::take(&mut self.au);
        self.au = vec![0.0; old.len()];
        for (id, s) in old.iter().enumerate() {
            let name = self.table.unit(id).map_or("", |u| u.name.as_str());
            let twin = self.table.index(self.table.mirror_name(name)).unwrap_or(id);
            if let Some(a) = self.au.get_mut(twin) {
                *a = *s;
            }
        }
        self.au_pose = self.au_pose_now();
    }

    /// The current pose as an expression: the AU intensities plus channel offsets (so its pose
    /// is exactly `desired`).
    pub fn pose_as_expression(&self, name: &str, desired: &[f32]) -> Expression {
        let raw = self.au_raw();
        let layout = self.table.layout();
        let mut e = Expression::new(name);
        e.description = "saved from the workbench".into();
        e.aus = self
            .au
            .iter()
            .enumerate()
            .filter(|(_, s)| **s > 1e-4)
            .filter_map(|(id, s)| self.table.unit(id).map(|u| (u.name.clone(), *s)))
            .collect();
        e.channels = (0..layout.len())
            .filter_map(|i| {
                let off = desired.get(i).copied().unwrap_or(0.0) - raw[i];
                (off.abs() > 1e-4).then(|| (layout.name(i).to_owned(), off))
            })
            .collect();
        e
    }

    /// Saves the current pose as a new expression in the library directory.
    pub fn save_expression(&mut self, name: &str, desired: &[f32]) -> Result<PathBuf, String> {
        let name = name.trim();
        valid_name(name)?;
        if self.library.get(name).is_some() {
            return Err(format!("\"{name}\" exists already: choose another name"));
        }
        let e = self.pose_as_expression(name, desired);
        std::fs::create_dir_all(&self.library_dir)
            .map_err(|err| format!("{}: {err}", self.library_dir.display()))?;
        let path = self.library_dir.join(e.file_name());
        e.save(&path).map_err(|err| err.to_string())?;
        self.library.insert(e);
        self.selected_expression = Some(name.to_owned());
        Ok(path)
    }

    // --- clips -----------------------------------------------------------------------------

    /// Opens a clip as the new document (the clipboard is kept, the history is not).
    pub fn open_clip(&mut self, clip: Clip) {
        let clipboard = std::mem::take(&mut self.editor.clipboard);
        self.clip_path = display_path(&self.clip_dir.join(clip.file_name()));
        self.duration_edit = clip.duration_ms;
        self.editor = Editor::new(clip);
        self.editor.clipboard = clipboard;
        self.selection.clear();
        self.active_track = 0;
        self.playhead_ms = 0.0;
        self.view = None;
        self.drag = None;
        self.revision += 1;
        self.refresh_feasibility();
    }

    /// A new clip from the micro-expression template (onset / apex hold / offset).
    pub fn new_micro_expression(&mut self) -> Result<(), String> {
        let e = self.expression(&self.micro_expression.clone())?;
        let total = self
            .onset_ms
            .saturating_add(self.apex_ms)
            .saturating_add(self.offset_ms);
        if total == 0 {
            return Err("onset + apex + offset is 0 ms".into());
        }
        let clip = Clip::micro_expression_from(
            &format!("{}_micro", e.name),
            &e,
            self.onset_ms,
            self.apex_ms,
            self.offset_ms,
        );
        if clip.tracks.is_empty() {
            return Err(format!("{} is neutral: nothing to animate", e.name));
        }
        self.open_clip(clip);
        Ok(())
    }

    /// Saves the clip to `clip_path` (`.clip.ron` appended when missing).
    pub fn save_clip(&mut self) -> Result<PathBuf, String> {
        let mut text = self.clip_path.trim().to_owned();
        if text.is_empty() {
            text = display_path(&self.clip_dir.join(self.editor.clip.file_name()));
        }
        if !text.ends_with(facetwin_authoring::clip::CLIP_SUFFIX) {
            text.push_str(facetwin_authoring::clip::CLIP_SUFFIX);
        }
        let path = resolve_path(&text);
        save_clip_file(&self.editor.clip, &path)?;
        self.clip_path = text;
        Ok(path)
    }

    /// Loads the clip at `clip_path`.
    pub fn load_clip(&mut self) -> Result<PathBuf, String> {
        let text = self.clip_path.clone();
        let path = resolve_path(&text);
        let clip = load_clip_file(&path, &self.table)?;
        self.open_clip(clip);
        self.clip_path = text;
        Ok(path)
    }

    /// Imports the Live Link Face CSV at `csv_path` as a new clip.
    pub fn import_csv(&mut self) -> Result<PathBuf, String> {
        let path = resolve_path(&self.csv_path);
        let clip = import_livelink(&path, &ImportOptions::default()).map_err(|e| e.to_string())?;
        self.open_clip(clip);
        Ok(path)
    }

    // --- editing ---------------------------------------------------------------------------

    /// Applies one edit (undoable); errors become the timeline notice.
    pub fn edit(&mut self, command: EditCommand) -> bool {
        self.edit_group(vec![command])
    }

    /// Applies several edits as one undo step (all or nothing).
    pub fn edit_group(&mut self, commands: Vec<EditCommand>) -> bool {
        let saved = self.editor.clone();
        let before = self.editor.undo.len();
        for c in commands {
            if let Err(e) = self.editor.apply(c) {
                self.editor = saved;
                self.timeline_notice = Some(Notice::error(e.to_string()));
                return false;
            }
        }
        let new: Vec<Edit> = self
            .editor
            .undo
            .split_off(before.min(self.editor.undo.len()));
        let Some(first) = new.first() else {
            return false;
        };
        let merged = Edit {
            command: first.command.clone(),
            ops: new.iter().flat_map(|e| e.ops.iter().cloned()).collect(),
        };
        self.editor.undo.push(merged);
        self.after_edit();
        true
    }

    pub fn undo(&mut self) -> bool {
        let done = self.editor.undo();
        if done {
            self.after_edit();
        }
        done
    }

    pub fn redo(&mut self) -> bool {
        let done = self.editor.redo();
        if done {
            self.after_edit();
        }
        done
    }

    fn after_edit(&mut self) {
        let clip = &self.editor.clip;
        self.selection.retain(|k| {
            clip.tracks
                .get(k.track)
                .is_some_and(|t| t.key_at(k.time_ms).is_some())
        });
        self.active_track = self.active_track.min(clip.tracks.len().saturating_sub(1));
        self.duration_edit = clip.duration_ms;
        self.revision += 1;
        self.refresh_feasibility();
    }

    /// Re-runs the feasibility check (only changed channels are simulated again).
    pub fn refresh_feasibility(&mut self) {
        let opts = FeasibilityOptions {
            playback: PlaybackOptions {
                stream_hz: self.stream_hz,
                ..PlaybackOptions::default()
            },
            ..FeasibilityOptions::default()
        };
        self.report = self
            .cache
            .check(&self.editor.clip, &self.table, &self.head, &opts);
        self.marks = feasibility_marks(&self.report, &self.editor.clip);
        self.track_errors = track_errors(&self.report, &self.editor.clip, &self.table);
    }

    /// The link's command rate: feasibility simulates targets streamed at this rate.
    pub fn set_stream_hz(&mut self, hz: f32) {
        let hz = if hz.is_finite() {
            hz.clamp(10.0, 1000.0)
        } else {
            100.0
        };
        if (hz - self.stream_hz).abs() > 1e-3 {
            self.stream_hz = hz;
            self.refresh_feasibility();
        }
    }

    /// The designer's current value for a track: the AU slider of an AU track; for a channel
    /// track the channel's position, less what the clip's AU tracks on that channel would add
    /// (taken as the AU sliders' pose).
    pub fn current_value(&self, track: usize, desired: &[f32]) -> Option<f32> {
        let clip = &self.editor.clip;
        let t = clip.tracks.get(track)?;
        match &t.target {
            TrackTarget::Au(n) => self
                .table
                .index(n)
                .map(|id| self.au.get(id).copied().unwrap_or(0.0)),
            TrackTarget::Channel(n) => {
                let i = self.table.layout().index(n)?;
                let v = desired.get(i).copied().unwrap_or(0.0);
                let au_moves = clip.tracks.iter().any(|o| {
                    matches!(o.target, TrackTarget::Au(_))
                        && track_channels(o, &self.table).contains(&i)
                });
                Some(if au_moves {
                    v - self.au_pose.get(i).copied().unwrap_or(0.0)
                } else {
                    v
                })
            }
        }
    }

    fn new_key(&self, track: usize, time_ms: u32, value: f32) -> Key {
        let Some(t) = self.editor.clip.tracks.get(track) else {
            return Key::new(time_ms, value);
        };
        if let Some(i) = t.key_at(time_ms) {
            let mut k = t.keys[i];
            k.value = value;
            return k;
        }
        let after = t.keys.partition_point(|k| k.time_ms < time_ms);
        let prev = after.checked_sub(1).map(|i| t.keys[i]);
        let next = t.keys.get(after).copied();
        match prev {
            Some(p) if p.interp == Interpolation::Bezier => {
                let gap = |a: u32, b: u32| b.abs_diff(a) as f32;
                let left = gap(p.time_ms, time_ms);
                let right = next.map_or(left, |n| gap(time_ms, n.time_ms));
                Key::ease(time_ms, value, left.min(right) / 3.0)
            }
            Some(p) => Key::with_interp(time_ms, value, p.interp),
            None => Key::new(time_ms, value),
        }
    }

    /// Adds (or re-values) a key on `track` at `time_ms` with the designer's current value.
    pub fn add_key(&mut self, track: usize, time_ms: u32, desired: &[f32]) -> bool {
        let Some(v) = self.current_value(track, desired) else {
            self.timeline_notice = Some(Notice::error("no track to key: add one first"));
            return false;
        };
        let key = self.new_key(track, time_ms, v);
        let done = self.edit(EditCommand::AddKey { track, key });
        if done {
            self.selection = [KeyId::new(track, time_ms)].into();
            self.active_track = track;
        }
        done
    }

    /// Keys every track at the playhead with the current pose (one undo step).
    pub fn key_all(&mut self, desired: &[f32]) -> bool {
        let t = self.playhead_time();
        let cmds: Vec<EditCommand> = (0..self.editor.clip.tracks.len())
            .filter_map(|i| {
                self.current_value(i, desired).map(|v| EditCommand::AddKey {
                    track: i,
                    key: self.new_key(i, t, v),
                })
            })
            .collect();
        if cmds.is_empty() {
            return false;
        }
        let n = cmds.len();
        let done = self.edit_group(cmds);
        if done {
            self.selection = (0..n).map(|i| KeyId::new(i, t)).collect();
        }
        done
    }

    /// The playhead in whole milliseconds.
    pub fn playhead_time(&self) -> u32 {
        self.playhead_ms.max(0.0).round() as u32
    }

    fn selected(&self) -> Vec<KeyId> {
        self.selection.iter().copied().collect()
    }

    pub fn delete_selected(&mut self) -> bool {
        if self.selection.is_empty() {
            return false;
        }
        let keys = self.selected();
        let done = self.edit(EditCommand::DeleteKeys { keys });
        if done {
            self.selection.clear();
        }
        done
    }

    pub fn copy_selected(&mut self) -> usize {
        let keys = self.selected();
        match self.editor.copy(&keys) {
            Ok(n) => {
                self.timeline_notice = Some(Notice::info(format!("copied {n} keys")));
                n
            }
            Err(e) => {
                self.timeline_notice = Some(Notice::error(e.to_string()));
                0
            }
        }
    }

    /// Pastes at the playhead, onto the active track (the first copied track lands there).
    pub fn paste_at_playhead(&mut self) -> bool {
        let track = self.active_track;
        let time_ms = self.playhead_time();
        let pasted: Vec<KeyId> = self
            .editor
            .clipboard
            .keys
            .iter()
            .map(|k| KeyId::new(track + k.track_offset, time_ms.saturating_add(k.rel_ms)))
            .collect();
        let done = self.edit(EditCommand::PasteKeys { track, time_ms });
        if done {
            self.selection = pasted.into_iter().collect();
            self.after_edit();
        }
        done
    }

    /// Moves the selected keys (one undo step); the selection follows them.
    pub fn move_selected(&mut self, dt_ms: i64, dvalue: f32) -> bool {
        if self.selection.is_empty() || (dt_ms == 0 && dvalue == 0.0) {
            return false;
        }
        let keys = self.selected();
        let earliest = keys.iter().map(|k| k.time_ms).min().unwrap_or(0);
        let latest = keys.iter().map(|k| k.time_ms).max().unwrap_or(0);
        let dt = dt_ms.clamp(
            -i64::from(earliest),
            i64::from(u32::MAX) - i64::from(latest),
        );
        let moved: BTreeSet<KeyId> = keys
            .iter()
            .map(|k| KeyId::new(k.track, (i64::from(k.time_ms) + dt) as u32))
            .collect();
        let done = self.edit(EditCommand::MoveKeys {
            keys,
            dt_ms,
            dvalue,
        });
        if done {
            self.selection = moved;
            self.after_edit();
        }
        done
    }

    /// Sets the interpolation of the selected keys; keys made Bezier without handles get
    /// ease handles (a third of their segments, flat), in the same undo step.
    pub fn set_interpolation(&mut self, interp: Interpolation) -> bool {
        if self.selection.is_empty() {
            self.timeline_notice = Some(Notice::info("select keys first"));
            return false;
        }
        let keys = self.selected();
        let mut cmds = vec![EditCommand::SetInterpolation {
            keys: keys.clone(),
            interp,
        }];
        if interp == Interpolation::Bezier {
            let zero = |h: Handle| h.dt_ms == 0.0 && h.dvalue == 0.0;
            let mut touched: BTreeSet<KeyId> = BTreeSet::new();
            for id in &keys {
                let Some(t) = self.editor.clip.tracks.get(id.track) else {
                    continue;
                };
                let Some(i) = t.key_at(id.time_ms) else {
                    continue;
                };
                touched.insert(*id);
                if let Some(next) = t.keys.get(i + 1) {
                    touched.insert(KeyId::new(id.track, next.time_ms));
                }
            }
            for id in touched {
                let Some(t) = self.editor.clip.tracks.get(id.track) else {
                    continue;
                };
                let Some(i) = t.key_at(id.time_ms) else {
                    continue;
                };
                let k = t.keys[i];
                let third = |a: u32, b: u32| b.abs_diff(a) as f32 / 3.0;
                let mut in_h = k.in_handle;
                let mut out_h = k.out_handle;
                if zero(in_h) && i > 0 {
                    in_h = Handle::new(-third(t.keys[i - 1].time_ms, k.time_ms), 0.0);
                }
                if zero(out_h)
                    && self.selection.contains(&id)
                    && let Some(n) = t.keys.get(i + 1)
                {
                    out_h = Handle::new(third(k.time_ms, n.time_ms), 0.0);
                }
                if in_h != k.in_handle || out_h != k.out_handle {
                    cmds.push(EditCommand::SetHandles {
                        key: id,
                        in_handle: in_h,
                        out_handle: out_h,
                    });
                }
            }
        }
        self.edit_group(cmds)
    }

    /// Sets one handle of a key (the other is kept); times are clamped to the handle's side.
    pub fn set_handle(&mut self, key: KeyId, out: bool, handle: Handle) -> bool {
        let Some(k) = self
            .editor
            .clip
            .tracks
            .get(key.track)
            .and_then(|t| t.key_at(key.time_ms).map(|i| t.keys[i]))
        else {
            return false;
        };
        let (in_handle, out_handle) = if out {
            (
                k.in_handle,
                Handle::new(handle.dt_ms.max(0.0), handle.dvalue),
            )
        } else {
            (
                Handle::new(handle.dt_ms.min(0.0), handle.dvalue),
                k.out_handle,
            )
        };
        self.edit(EditCommand::SetHandles {
            key,
            in_handle,
            out_handle,
        })
    }

    pub fn add_track(&mut self, target: TrackTarget) -> bool {
        let done = self.edit(EditCommand::AddTrack {
            target,
            index: None,
        });
        if done {
            self.active_track = self.editor.clip.tracks.len().saturating_sub(1);
        }
        done
    }

    pub fn remove_track(&mut self, track: usize) -> bool {
        let done = self.edit(EditCommand::RemoveTrack { track });
        if done {
            self.selection.clear();
        }
        done
    }

    pub fn set_duration(&mut self, duration_ms: u32) -> bool {
        self.edit(EditCommand::SetDuration { duration_ms })
    }

    // --- transport -------------------------------------------------------------------------

    /// Moves the playhead and sets the pose to the clip's pose there (AU sliders follow the
    /// clip's AU tracks).
    pub fn scrub(&mut self, t_ms: f32, desired: &mut Vec<f32>) {
        let len = play_length_ms(&self.editor.clip);
        let t = if t_ms.is_finite() {
            t_ms.clamp(0.0, len)
        } else {
            0.0
        };
        self.playhead_ms = t;
        let pose = self.editor.clip.sample(&self.table, t);
        write_pose(desired, &pose);
        let aus: Vec<(String, f32)> = self
            .editor
            .clip
            .tracks
            .iter()
            .filter_map(|tr| match &tr.target {
                TrackTarget::Au(n) => tr.evaluate(t).map(|v| (n.clone(), v.clamp(0.0, 1.0))),
                TrackTarget::Channel(_) => None,
            })
            .collect();
        self.set_aus_from(&aus);
    }

    /// A player for the clip from the playhead (from the start when at the end).
    pub fn player(&self) -> ClipPlayer {
        let len = play_length_ms(&self.editor.clip);
        let start = if self.playhead_ms >= len - 0.5 {
            0.0
        } else {
            self.playhead_ms.max(0.0)
        };
        ClipPlayer {
            clip: self.editor.clip.clone(),
            table: self.table.clone(),
            speed: sane_speed(self.speed),
            looping: self.looping,
            start_ms: start,
        }
    }

    /// Marks playback as started with `player` (hand the player to the link).
    pub fn started(&mut self, player: &ClipPlayer) {
        self.playing = true;
        self.play_start_ms = player.start_ms;
        self.playhead_ms = player.start_ms;
        self.seen_link_playhead = false;
        self.frames_waiting = 0;
        self.played_revision = self.revision;
    }

    /// Whether the clip was edited since playback started (restart to hear the change).
    pub fn stale_playback(&self) -> bool {
        self.playing && self.played_revision != self.revision
    }

    /// Follows the link's playhead; returns true when playback just ended.
    pub fn follow_playback(&mut self, link_playhead: Option<Duration>) -> bool {
        self.link_playhead = link_playhead;
        if !self.playing {
            return false;
        }
        let len = play_length_ms(&self.editor.clip);
        match link_playhead {
            Some(t) => {
                self.seen_link_playhead = true;
                self.playhead_ms =
                    clip_time_ms(self.play_start_ms, self.speed, self.looping, len, t).0;
                false
            }
            None if self.seen_link_playhead => {
                self.playing = false;
                self.playhead_ms = len;
                true
            }
            None => {
                self.frames_waiting += 1;
                if self.frames_waiting > 600 {
                    self.playing = false;
                    self.timeline_notice = Some(Notice::error(
                        "the link did not start playback (is it running?)",
                    ));
                    return true;
                }
                false
            }
        }
    }
}

/// Copies a pose into the designer's pose (growing it when shorter; extra channels kept).
pub fn write_pose(desired: &mut Vec<f32>, pose: &[f32]) {
    if desired.len() < pose.len() {
        desired.resize(pose.len(), 0.0);
    }
    desired[..pose.len()].copy_from_slice(pose);
}

// ---------------------------------------------------------------------------------------------
// Timeline geometry
// ---------------------------------------------------------------------------------------------

/// Time ↔ x on the timeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeAxis {
    pub x0: f32,
    pub x1: f32,
    pub start_ms: f32,
    pub len_ms: f32,
}

impl TimeAxis {
    pub fn px_per_ms(&self) -> f32 {
        (self.x1 - self.x0).max(1.0) / self.len_ms.max(1e-3)
    }

    pub fn x(&self, t_ms: f32) -> f32 {
        self.x0 + (t_ms - self.start_ms) * self.px_per_ms()
    }

    pub fn t(&self, x: f32) -> f32 {
        self.start_ms + (x - self.x0) / self.px_per_ms()
    }
}

/// The timeline as last drawn: the time axis, the ruler and each lane's value axis.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TimelineLayout {
    pub axis: Option<TimeAxis>,
    pub ruler: Option<egui::Rect>,
    pub lanes: Vec<ValueAxis>,
    /// The selected key's time and value fields (when one key is selected).
    pub key_fields: Option<(egui::Rect, egui::Rect)>,
}

/// Value ↔ y in a lane.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValueAxis {
    pub top: f32,
    pub bottom: f32,
    pub lo: f32,
    pub hi: f32,
}

impl ValueAxis {
    pub fn px_per_value(&self) -> f32 {
        (self.bottom - self.top).max(1.0) / (self.hi - self.lo).max(1e-3)
    }

    pub fn y(&self, v: f32) -> f32 {
        self.bottom - (v - self.lo) * self.px_per_value()
    }

    pub fn v(&self, y: f32) -> f32 {
        self.lo + (self.bottom - y) / self.px_per_value()
    }
}

/// A lane's value range: the track's whole range (AU 0..1, a channel's travel) widened to its
/// keys, or with `fit` only its keys and 0, with a little room above and below.
pub fn track_range(track: &Track, table: &AuTable, fit: bool) -> (f32, f32) {
    if fit {
        let (lo, hi) = track
            .keys
            .iter()
            .filter(|k| k.value.is_finite())
            .fold((0.0f32, 0.0f32), |(lo, hi), k| {
                (lo.min(k.value), hi.max(k.value))
            });
        let span = (hi - lo).max(0.02);
        return (lo - 0.1 * span, lo + 1.1 * span);
    }
    let (mut lo, mut hi) = match &track.target {
        TrackTarget::Au(_) => (0.0, 1.0),
        TrackTarget::Channel(n) => table
            .layout()
            .index(n)
            .map_or((-1.0, 1.0), |i| table.layout().limits(i)),
    };
    for k in &track.keys {
        if k.value.is_finite() {
            lo = lo.min(k.value);
            hi = hi.max(k.value);
        }
    }
    if hi - lo < 1e-3 {
        hi = lo + 1.0;
    }
    (lo, hi)
}

/// A "nice" tick spacing giving at least `min_px` between ticks.
pub fn tick_step_ms(px_per_ms: f32, min_px: f32) -> f32 {
    const STEPS: [f32; 16] = [
        1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0,
        20000.0, 60000.0, 300000.0,
    ];
    STEPS
        .iter()
        .copied()
        .find(|s| s * px_per_ms >= min_px)
        .unwrap_or(600000.0)
}

/// The command a drag would apply on release.
pub fn drag_command(drag: &Drag, selection: &BTreeSet<KeyId>, clip: &Clip) -> Option<EditCommand> {
    match *drag {
        Drag::Keys {
            total,
            px_per_ms,
            px_per_value,
            time_only,
            value_only,
        } => {
            let dt_ms = if value_only {
                0
            } else {
                (total.x / px_per_ms.max(1e-6)).round() as i64
            };
            let dvalue = if time_only {
                0.0
            } else {
                -total.y / px_per_value.max(1e-6)
            };
            (!selection.is_empty() && (dt_ms != 0 || dvalue != 0.0)).then(|| {
                EditCommand::MoveKeys {
                    keys: selection.iter().copied().collect(),
                    dt_ms,
                    dvalue,
                }
            })
        }
        Drag::Handle { key, out, at } => {
            let t = clip.tracks.get(key.track)?;
            let k = t.keys[t.key_at(key.time_ms)?];
            let h = Handle::new(at.0 - k.time_ms as f32, at.1 - k.value);
            let (in_handle, out_handle) = if out {
                (k.in_handle, Handle::new(h.dt_ms.max(0.0), h.dvalue))
            } else {
                (Handle::new(h.dt_ms.min(0.0), h.dvalue), k.out_handle)
            };
            Some(EditCommand::SetHandles {
                key,
                in_handle,
                out_handle,
            })
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The system and the panels
// ---------------------------------------------------------------------------------------------

fn workbench_panels(
    mut contexts: EguiContexts,
    mut link: ResMut<Link>,
    mut wb: ResMut<Workbench>,
    mut reserved: ResMut<ReservedEdges>,
    mut dock: ResMut<Dock>,
) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    if ui::is_hidden() {
        *reserved = ReservedEdges::default();
        return Ok(());
    }
    let link = &mut *link;
    let wb = &mut *wb;
    wb.set_stream_hz(link.rate_hz as f32);
    wb.head_blocked = head_blocked(
        &link.view,
        matches!(link.source, super::link::Source::Mirror { .. }),
    );
    let ended = wb.follow_playback(link.view.playhead);
    let mut fx = Effects::default();
    let mut desired = link.desired.clone();
    if ended {
        let pose = wb.editor.clip.sample(&wb.table, wb.playhead_ms);
        write_pose(&mut desired, &pose);
        fx.pose = true;
    } else if wb.playing {
        // Show what is playing on the motor sliders (the link samples the clip itself).
        let pose = wb.editor.clip.sample(&wb.table, wb.playhead_ms);
        write_pose(&mut link.desired, &pose);
        desired.clone_from(&link.desired);
    }

    let viewport = ctx.viewport_rect();
    let timeline = dock.tab == DockTab::Timeline;
    // The mirror's dock (drawn earlier, in `DockSet`) already holds the bottom edge.
    let mut area = viewport;
    if !timeline {
        area.max.y = (area.max.y - reserved.bottom.max(0.0)).max(area.min.y);
    }
    let mut root = ui::root_ui(&ctx, "facetwin-authoring-root", area);
    if timeline {
        let bottom = egui::Panel::bottom("dock-timeline")
            .default_size(300.0)
            .size_range(140.0..=(viewport.height() * 0.7).max(160.0))
            .resizable(true)
            .show(&mut root, |ui| {
                ui::dock_tabs(ui, &mut dock);
                timeline_ui(ui, wb, &mut desired, &mut fx);
            });
        reserved.bottom = (viewport.bottom() - bottom.response.rect.top()).max(0.0);
    }
    let left = egui::Panel::left("wb-authoring")
        .default_size(250.0)
        .size_range(200.0..=480.0)
        .resizable(true)
        .show(&mut root, |ui| side_panel_ui(ui, wb, &mut desired, &mut fx));
    reserved.left = (left.response.rect.right() - viewport.left()).max(0.0);

    if timeline {
        shortcuts(&ctx, wb);
    }

    // What the panels asked of the link.
    if fx.pose && wb.playing && !fx.play {
        // The designer took the pose over: playback stops where it is.
        fx.stop = true;
    }
    if fx.stop {
        link.link.stop_playback();
        wb.playing = false;
    }
    if fx.pose {
        link.desired = desired;
        link.link.set_desired(&link.desired);
    }
    if fx.play || wb.stale_playback() {
        let player = wb.player();
        wb.started(&player);
        link.link.play(Box::new(player));
    }
    Ok(())
}

/// Ctrl+Z / Ctrl+Shift+Z (or Ctrl+Y), Delete, Ctrl+C / Ctrl+V; never while a text field has
/// the focus (there they edit the text).
pub fn shortcuts(ctx: &egui::Context, wb: &mut Workbench) {
    use egui::{Key, Modifiers};
    if ctx.text_edit_focused() {
        return;
    }
    let (redo, undo, copy, paste, delete) = ctx.input_mut(|i| {
        let redo = i.consume_key(Modifiers::COMMAND | Modifiers::SHIFT, Key::Z)
            || i.consume_key(Modifiers::COMMAND, Key::Y);
        let undo = i.consume_key(Modifiers::COMMAND, Key::Z);
        let copy = i.consume_key(Modifiers::COMMAND, Key::C);
        let paste = i.consume_key(Modifiers::COMMAND, Key::V);
        let delete = i.consume_key(Modifiers::NONE, Key::Delete)
            || i.consume_key(Modifiers::NONE, Key::Backspace);
        (redo, undo, copy, paste, delete)
    });
    if redo {
        wb.redo();
    } else if undo {
        wb.undo();
    }
    if copy && !wb.selection.is_empty() {
        wb.copy_selected();
    }
    if paste && !wb.editor.clipboard.keys.is_empty() {
        wb.paste_at_playhead();
    }
    if delete {
        wb.delete_selected();
    }
}

fn notice_ui(ui: &mut egui::Ui, notice: &Option<Notice>) {
    if let Some(n) = notice {
        let color = if n.error {
            egui::Color32::from_rgb(255, 120, 110)
        } else {
            egui::Color32::GRAY
        };
        ui.add(egui::Label::new(egui::RichText::new(&n.text).small().color(color)).wrap());
    }
}

/// The left panel: action units and the expression library.
pub fn side_panel_ui(
    ui: &mut egui::Ui,
    wb: &mut Workbench,
    desired: &mut Vec<f32>,
    fx: &mut Effects,
) {
    egui::ScrollArea::vertical()
        .id_salt("wb-side")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            egui::CollapsingHeader::new(egui::RichText::new("Action units").heading())
                .default_open(true)
                .show(ui, |ui| au_panel_ui(ui, wb, desired, fx));
            egui::CollapsingHeader::new(egui::RichText::new("Expressions").heading())
                .default_open(true)
                .show(ui, |ui| expression_panel_ui(ui, wb, desired, fx));
        });
}

/// AU sliders: moving one sets the designer's pose.
pub fn au_panel_ui(
    ui: &mut egui::Ui,
    wb: &mut Workbench,
    desired: &mut Vec<f32>,
    fx: &mut Effects,
) {
    ui.horizontal(|ui| {
        ui.checkbox(&mut wb.show_lr, "left / right");
        if ui
            .button("Zero")
            .on_hover_text("all action units to 0")
            .clicked()
        {
            wb.zero_aus(desired);
            fx.pose = true;
        }
    });
    let rows: Vec<(usize, String, String, bool)> = wb
        .table
        .defs()
        .iter()
        .flat_map(|d| {
            let mut v = Vec::new();
            if let Some(id) = wb.table.index(&d.name) {
                v.push((id, d.name.clone(), d.description.clone(), false));
            }
            if wb.show_lr && d.lateral {
                for s in ["L", "R"] {
                    let n = format!("{}{s}", d.name);
                    if let Some(id) = wb.table.index(&n) {
                        v.push((id, n, d.description.clone(), true));
                    }
                }
            }
            v
        })
        .collect();
    for (id, name, description, sided) in rows {
        let mut v = wb.au.get(id).copied().unwrap_or(0.0);
        let changed = ui
            .horizontal(|ui| {
                if sided {
                    ui.add_space(12.0);
                }
                ui.add_sized(
                    [if sided { 44.0 } else { 56.0 }, 18.0],
                    egui::Label::new(egui::RichText::new(&name).monospace()),
                )
                .on_hover_text(&description);
                ui.spacing_mut().slider_width = (ui.available_width() - 60.0).max(60.0);
                let r = ui
                    .add(egui::Slider::new(&mut v, 0.0..=1.0).fixed_decimals(2))
                    .on_hover_text(&description);
                r.changed()
            })
            .inner;
        if changed {
            wb.set_au(id, v, desired);
            fx.pose = true;
        }
    }
}

/// The expression library: apply, blend, mirror, save.
pub fn expression_panel_ui(
    ui: &mut egui::Ui,
    wb: &mut Workbench,
    desired: &mut Vec<f32>,
    fx: &mut Effects,
) {
    let names: Vec<(String, String)> = wb
        .library
        .iter()
        .map(|e| (e.name.clone(), e.description.clone()))
        .collect();
    ui.label(egui::RichText::new("click to apply").small().weak());
    ui.horizontal_wrapped(|ui| {
        for (name, description) in &names {
            let selected = wb.selected_expression.as_deref() == Some(name.as_str());
            let r = ui.selectable_label(selected, name);
            let r = if description.is_empty() {
                r
            } else {
                r.on_hover_text(description)
            };
            if r.clicked() {
                match wb.apply_expression(name, desired) {
                    Ok(()) => fx.pose = true,
                    Err(e) => wb.library_notice = Some(Notice::error(e)),
                }
            }
        }
    });
    ui.horizontal(|ui| {
        if ui
            .button("Mirror L ↔ R")
            .on_hover_text("mirror the current pose")
            .clicked()
        {
            wb.mirror_pose(desired);
            fx.pose = true;
        }
        if ui
            .button("Reload")
            .on_hover_text(display_path(&wb.library_dir))
            .clicked()
        {
            wb.reload_library();
        }
    });
    ui.separator();
    ui.label("Blend");
    let combo = |ui: &mut egui::Ui, id: &str, value: &mut String| -> bool {
        let mut changed = false;
        egui::ComboBox::from_id_salt(id)
            .selected_text(value.clone())
            .width(110.0)
            .show_ui(ui, |ui| {
                for (n, _) in &names {
                    changed |= ui.selectable_value(value, n.clone(), n).changed();
                }
            });
        changed
    };
    let mut blend_changed = false;
    ui.horizontal(|ui| {
        blend_changed |= combo(ui, "wb-blend-a", &mut wb.blend_a);
        ui.label("to");
        blend_changed |= combo(ui, "wb-blend-b", &mut wb.blend_b);
    });
    blend_changed |= ui
        .add(egui::Slider::new(&mut wb.blend_t, 0.0..=1.0).text("mix"))
        .changed();
    if blend_changed {
        let (a, b, t) = (wb.blend_a.clone(), wb.blend_b.clone(), wb.blend_t);
        match wb.blend_expressions(&a, &b, t, desired) {
            Ok(()) => fx.pose = true,
            Err(e) => wb.library_notice = Some(Notice::error(e)),
        }
    }
    ui.separator();
    ui.label("Save the current pose");
    ui.horizontal(|ui| {
        ui.add(
            egui::TextEdit::singleline(&mut wb.new_expression_name)
                .hint_text("name")
                .desired_width(130.0),
        );
        if ui.button("Save").clicked() {
            let name = wb.new_expression_name.clone();
            wb.library_notice = Some(match wb.save_expression(&name, desired) {
                Ok(p) => {
                    wb.new_expression_name.clear();
                    Notice::info(format!("saved {}", display_path(&p)))
                }
                Err(e) => Notice::error(e),
            });
        }
    });
    notice_ui(ui, &wb.library_notice);
}

/// The bottom panel: toolbars and the tracks.
pub fn timeline_ui(
    ui: &mut egui::Ui,
    wb: &mut Workbench,
    desired: &mut Vec<f32>,
    fx: &mut Effects,
) {
    ui.add_space(2.0);
    transport_ui(ui, wb, desired, fx);
    clip_tools_ui(ui, wb, fx);
    status_ui(ui, wb);
    ui.separator();
    tracks_ui(ui, wb, desired, fx);
}

fn transport_ui(ui: &mut egui::Ui, wb: &mut Workbench, desired: &mut Vec<f32>, fx: &mut Effects) {
    let len = play_length_ms(&wb.editor.clip);
    ui.horizontal_wrapped(|ui| {
        ui.label(egui::RichText::new(&wb.editor.clip.name).strong());
        if ui.button("⏮").on_hover_text("to the start").clicked() {
            fx.stop |= wb.playing;
            wb.scrub(0.0, desired);
            fx.pose = true;
        }
        if wb.playing {
            if ui.button("⏸ Pause").clicked() {
                fx.stop = true;
                let t = wb.playhead_ms;
                wb.scrub(t, desired);
                fx.pose = true;
            }
        } else if ui.button("▶ Play").on_hover_text("on the link's command clock").clicked() {
            fx.play = true;
        }
        if ui.button("⏹ Stop").clicked() {
            fx.stop |= wb.playing;
            wb.playing = false;
            wb.scrub(0.0, desired);
            fx.pose = true;
        }
        let mut restart = ui.checkbox(&mut wb.looping, "loop").changed();
        ui.label("speed");
        restart |= ui
            .add(
                egui::DragValue::new(&mut wb.speed)
                    .range(MIN_SPEED..=MAX_SPEED)
                    .speed(0.01)
                    .fixed_decimals(2)
                    .suffix("×"),
            )
            .changed();
        if restart && wb.playing {
            fx.play = true;
        }
        ui.label(
            egui::RichText::new(format!("{:>6.1} / {:.0} ms", wb.playhead_ms, len)).monospace(),
        );
        let lp = wb
            .link_playhead
            .map_or("link: idle".to_string(), |d| format!("link playhead {:.3} s", d.as_secs_f64()));
        ui.label(egui::RichText::new(lp).small().weak());
        ui.separator();
        if ui
            .add_enabled(wb.editor.can_undo(), egui::Button::new("⟲ Undo"))
            .on_hover_text("Ctrl+Z")
            .clicked()
        {
            wb.undo();
        }
        if ui
            .add_enabled(wb.editor.can_redo(), egui::Button::new("⟳ Redo"))
            .on_hover_text("Ctrl+Shift+Z")
            .clicked()
        {
            wb.redo();
        }
        ui.separator();
        if ui
            .button("+ Key")
            .on_hover_text("key the active track at the playhead with the current pose (or double-click a lane)")
            .clicked()
        {
            let (track, t) = (wb.active_track, wb.playhead_time());
            wb.add_key(track, t, desired);
        }
        if ui.button("Key all").on_hover_text("key every track at the playhead").clicked() {
            wb.key_all(desired);
        }
        let any = !wb.selection.is_empty();
        if ui.add_enabled(any, egui::Button::new("Delete")).on_hover_text("Del").clicked() {
            wb.delete_selected();
        }
        if ui.add_enabled(any, egui::Button::new("Copy")).on_hover_text("Ctrl+C").clicked() {
            wb.copy_selected();
        }
        if ui
            .add_enabled(!wb.editor.clipboard.keys.is_empty(), egui::Button::new("Paste"))
            .on_hover_text("Ctrl+V: at the playhead, on the active track")
            .clicked()
        {
            wb.paste_at_playhead();
        }
        ui.separator();
        let current: Option<Interpolation> = {
            let mut it = wb.selection.iter().filter_map(|id| {
                let t = wb.editor.clip.tracks.get(id.track)?;
                t.key_at(id.time_ms).map(|i| t.keys[i].interp)
            });
            let first = it.next();
            first.filter(|f| it.all(|x| x == *f))
        };
        for (interp, label) in [
            (Interpolation::Step, "Step"),
            (Interpolation::Linear, "Linear"),
            (Interpolation::Bezier, "Bezier"),
        ] {
            if ui
                .add_enabled(any, egui::Button::selectable(current == Some(interp), label))
                .clicked()
            {
                wb.set_interpolation(interp);
            }
        }
        ui.separator();
        ui.checkbox(&mut wb.fit_values, "fit values")
            .on_hover_text(
                "scale each lane to its keys instead of the whole travel (a 0.1 micro-expression \
                 fills the lane)",
            );
    });
}

fn clip_tools_ui(ui: &mut egui::Ui, wb: &mut Workbench, fx: &mut Effects) {
    ui.horizontal_wrapped(|ui| {
        ui.label("Micro-expression");
        let names: Vec<String> = wb.library.names().map(str::to_owned).collect();
        egui::ComboBox::from_id_salt("wb-micro")
            .selected_text(wb.micro_expression.clone())
            .width(120.0)
            .show_ui(ui, |ui| {
                for n in &names {
                    ui.selectable_value(&mut wb.micro_expression, n.clone(), n);
                }
            });
        for (label, v) in [
            ("onset", &mut wb.onset_ms),
            ("apex", &mut wb.apex_ms),
            ("offset", &mut wb.offset_ms),
        ] {
            ui.label(label);
            ui.add(egui::DragValue::new(v).range(0..=5000).suffix(" ms"));
        }
        if ui
            .button("New clip")
            .on_hover_text("Clip::micro_expression_from")
            .clicked()
        {
            fx.stop |= wb.playing;
            match wb.new_micro_expression() {
                Ok(()) => {
                    wb.timeline_notice = Some(Notice::info(format!(
                        "new {:.0} ms micro-expression",
                        play_length_ms(&wb.editor.clip)
                    )))
                }
                Err(e) => wb.timeline_notice = Some(Notice::error(e)),
            }
        }
        ui.separator();
        ui.label("duration");
        let r = ui.add(
            egui::DragValue::new(&mut wb.duration_edit)
                .range(1..=600_000)
                .suffix(" ms"),
        );
        if (r.changed() && !r.dragged()) || r.drag_stopped() || r.lost_focus() {
            let d = wb.duration_edit;
            if d != wb.editor.clip.duration_ms {
                wb.set_duration(d);
            }
        }
        let mut pick: Option<TrackTarget> = None;
        egui::ComboBox::from_id_salt("wb-add-track")
            .selected_text("+ track")
            .width(90.0)
            .show_ui(ui, |ui| {
                ui.label(egui::RichText::new("action units").weak());
                for u in wb.table.units() {
                    if ui.selectable_label(false, &u.name).clicked() {
                        pick = Some(TrackTarget::Au(u.name.clone()));
                    }
                }
                ui.label(egui::RichText::new("channels").weak());
                for n in wb.table.layout().names() {
                    if ui.selectable_label(false, n).clicked() {
                        pick = Some(TrackTarget::Channel(n.clone()));
                    }
                }
            });
        if let Some(t) = pick {
            wb.add_track(t);
        }
    });
    ui.horizontal_wrapped(|ui| {
        ui.label("Clip file");
        ui.add(egui::TextEdit::singleline(&mut wb.clip_path).desired_width(280.0));
        if ui.button("Save").clicked() {
            wb.timeline_notice = Some(match wb.save_clip() {
                Ok(p) => Notice::info(format!("saved {}", display_path(&p))),
                Err(e) => Notice::error(e),
            });
        }
        if ui.button("Load").clicked() {
            fx.stop |= wb.playing;
            wb.timeline_notice = Some(match wb.load_clip() {
                Ok(p) => Notice::info(format!("loaded {}", display_path(&p))),
                Err(e) => Notice::error(e),
            });
        }
        ui.separator();
        ui.label("Live Link CSV");
        ui.add(egui::TextEdit::singleline(&mut wb.csv_path).desired_width(240.0));
        if ui.button("Import").clicked() {
            fx.stop |= wb.playing;
            wb.timeline_notice = Some(match wb.import_csv() {
                Ok(p) => Notice::info(format!(
                    "imported {} ({} tracks, {:.0} ms)",
                    display_path(&p),
                    wb.editor.clip.tracks.len(),
                    play_length_ms(&wb.editor.clip)
                )),
                Err(e) => Notice::error(e),
            });
        }
    });
}

/// Why commands will not move the head now, if they will not.
pub fn head_blocked(view: &facetwin_link::HeadView, mirroring: bool) -> Option<String> {
    use facetwin_protocol::status;
    if mirroring {
        return Some("mirror mode: the twin follows the head and sends it nothing".into());
    }
    if !view.state.is_connected() {
        return Some("no head connected: the clip plays nowhere (link panel)".into());
    }
    let st = view.telemetry.map_or(0, |t| t.status);
    if st & status::ESTOP != 0 {
        return Some(
            "the head's emergency stop is latched: nothing moves until \"Clear faults\" \
             (link panel) and torque on"
                .into(),
        );
    }
    (view.telemetry.is_some_and(|t| t.torque_mask == 0))
        .then(|| "torque is off on every channel: nothing moves (\"Torque on\")".into())
}

fn status_ui(ui: &mut egui::Ui, wb: &mut Workbench) {
    wb.layout.key_fields = None;
    if let Some(why) = &wb.head_blocked {
        ui.colored_label(egui::Color32::from_rgb(255, 110, 100), format!("⚠ {why}"));
    }
    ui.horizontal_wrapped(|ui| {
        let n = wb.report.issues.len();
        if n == 0 {
            ui.colored_label(
                egui::Color32::LIGHT_GREEN,
                "✔ feasible on the simulated motors",
            );
        } else {
            let r = ui.colored_label(
                egui::Color32::from_rgb(255, 110, 100),
                format!("⚠ {n} feasibility issues (red keys, hover for numbers)"),
            );
            let text: Vec<String> = wb
                .report
                .issues
                .iter()
                .take(12)
                .map(describe_issue)
                .collect();
            r.on_hover_text(text.join("\n"));
        }
        if let [id] = wb.selection.iter().copied().collect::<Vec<_>>()[..]
            && let Some(t) = wb.editor.clip.tracks.get(id.track)
            && let Some(i) = t.key_at(id.time_ms)
        {
            let k = t.keys[i];
            let name = t.target.name();
            let duration = wb.editor.clip.duration_ms;
            ui.separator();
            ui.label(
                egui::RichText::new(format!("{name} key ({:?})", k.interp))
                    .monospace()
                    .small(),
            );
            // Exact numbers for the selected key: typed (one undo step each) or dragged (one
            // undo step when the drag ends).
            let (mut t_ms, mut v) = match wb.key_edit {
                Some((e, t, v)) if e == id => (t, v),
                _ => (k.time_ms, k.value),
            };
            let rt = ui.add(
                egui::DragValue::new(&mut t_ms)
                    .range(0..=duration.max(k.time_ms))
                    .speed(1.0)
                    .suffix(" ms"),
            );
            ui.label("=");
            let rv = ui.add(
                egui::DragValue::new(&mut v)
                    .range(-1.0..=1.0)
                    .speed(0.005)
                    .fixed_decimals(3),
            );
            wb.layout.key_fields = Some((rt.rect, rv.rect));
            if rt.dragged() || rv.dragged() {
                wb.key_edit = Some((id, t_ms, v));
            } else if rt.changed() || rv.changed() || wb.key_edit.is_some() {
                wb.key_edit = None;
                wb.move_selected(i64::from(t_ms) - i64::from(k.time_ms), v - k.value);
            }
        } else if wb.selection.len() > 1 {
            ui.separator();
            ui.label(format!("{} keys selected", wb.selection.len()));
        }
        ui.separator();
        notice_ui(ui, &wb.timeline_notice);
    });
}

const NAME_W: f32 = 200.0;
const RULER_H: f32 = 20.0;
const LANE_H: f32 = 40.0;
const LANE_H_MAX: f32 = 120.0;
const LANE_PAD: f32 = 6.0;

fn key_color(selected: bool, flagged: bool) -> (egui::Color32, egui::Stroke) {
    let red = egui::Color32::from_rgb(235, 64, 52);
    let fill = if selected {
        egui::Color32::from_rgb(255, 210, 70)
    } else if flagged {
        red
    } else {
        egui::Color32::from_gray(230)
    };
    let stroke = if flagged {
        egui::Stroke::new(2.0, red)
    } else {
        egui::Stroke::new(1.0, egui::Color32::from_gray(40))
    };
    (fill, stroke)
}

fn track_label(track: &Track, table: &AuTable) -> (String, String) {
    match &track.target {
        TrackTarget::Au(n) => {
            let d = table
                .index(n)
                .and_then(|id| table.unit(id))
                .and_then(|u| table.defs().get(u.def))
                .map_or(String::new(), |d| d.description.clone());
            (n.clone(), d)
        }
        TrackTarget::Channel(n) => (n.replace('_', " "), "channel".into()),
    }
}

fn draw_curve(
    painter: &egui::Painter,
    track: &Track,
    axis: &TimeAxis,
    va: &ValueAxis,
    color: egui::Color32,
) {
    let Some(first) = track.keys.first() else {
        return;
    };
    let Some(last) = track.keys.last() else {
        return;
    };
    let p = |t: f32, v: f32| egui::pos2(axis.x(t), va.y(v));
    let stroke = egui::Stroke::new(1.6, color);
    let faint = egui::Stroke::new(1.0, color.gamma_multiply(0.45));
    painter.line_segment(
        [
            egui::pos2(axis.x0.min(axis.x(0.0)), va.y(first.value)),
            p(first.time_ms as f32, first.value),
        ],
        faint,
    );
    painter.line_segment(
        [
            p(last.time_ms as f32, last.value),
            egui::pos2(axis.x1, va.y(last.value)),
        ],
        faint,
    );
    for w in track.keys.windows(2) {
        let (k0, k1) = (&w[0], &w[1]);
        let (t0, t1) = (k0.time_ms as f32, k1.time_ms as f32);
        match k0.interp {
            Interpolation::Step => {
                painter.add(egui::Shape::line(
                    vec![p(t0, k0.value), p(t1, k0.value), p(t1, k1.value)],
                    stroke,
                ));
            }
            Interpolation::Linear => {
                painter.line_segment([p(t0, k0.value), p(t1, k1.value)], stroke);
            }
            Interpolation::Bezier => {
                let pts = bezier_points(k0, k1).map(|(t, v)| p(t, v));
                painter.add(egui::epaint::CubicBezierShape::from_points_stroke(
                    pts,
                    false,
                    egui::Color32::TRANSPARENT,
                    stroke,
                ));
            }
        }
    }
}

/// The ruler (scrub), the lanes with keys, curves, handles, feasibility marks.
fn tracks_ui(ui: &mut egui::Ui, wb: &mut Workbench, desired: &mut Vec<f32>, fx: &mut Effects) {
    let len = play_length_ms(&wb.editor.clip);
    let (view_start, view_len) = wb.view.unwrap_or((0.0, len * 1.04 + 2.0));
    let width = ui.available_width();
    let (ruler, ruler_painter) =
        ui.allocate_painter(egui::vec2(width, RULER_H), egui::Sense::click_and_drag());
    let axis = TimeAxis {
        x0: ruler.rect.left() + NAME_W,
        x1: ruler.rect.right() - 10.0,
        start_ms: view_start,
        len_ms: view_len.max(1.0),
    };

    // Zoom (Ctrl + wheel) and pan (Shift + wheel / horizontal wheel) over the timeline.
    let area_hovered = ui
        .ctx()
        .pointer_hover_pos()
        .is_some_and(|p| p.x >= axis.x0 && ui.max_rect().contains(p));
    if area_hovered {
        let (zoom, pan, pointer) = ui.input(|i| {
            (
                i.zoom_delta(),
                i.smooth_scroll_delta.x,
                i.pointer.hover_pos(),
            )
        });
        if zoom != 1.0 || pan != 0.0 {
            let at = pointer.map_or(axis.start_ms, |p| axis.t(p.x));
            let new_len = (axis.len_ms / zoom).clamp(5.0, (len * 4.0).max(1000.0));
            let mut start = at - (at - axis.start_ms) * new_len / axis.len_ms;
            start -= pan / axis.px_per_ms();
            wb.view = Some((start.max(-new_len * 0.1), new_len));
        }
    }

    // Ruler: ticks, clip end, playhead; click or drag to scrub.
    let rp = ruler_painter.with_clip_rect(ruler.rect);
    rp.rect_filled(ruler.rect, 0.0, egui::Color32::from_gray(32));
    let step = tick_step_ms(axis.px_per_ms(), 70.0);
    let mut t = (axis.start_ms / step).floor().max(0.0) * step;
    while t <= axis.start_ms + axis.len_ms {
        let x = axis.x(t);
        if x >= axis.x0 - 0.5 {
            rp.vline(
                x,
                ruler.rect.y_range(),
                egui::Stroke::new(1.0, egui::Color32::from_gray(80)),
            );
            let label = if step >= 1000.0 {
                format!("{:.0} s", t / 1000.0)
            } else {
                format!("{t:.0} ms")
            };
            rp.text(
                egui::pos2(x + 3.0, ruler.rect.center().y),
                egui::Align2::LEFT_CENTER,
                label,
                egui::FontId::proportional(11.0),
                egui::Color32::from_gray(170),
            );
        }
        t += step;
    }
    rp.text(
        egui::pos2(ruler.rect.left() + 6.0, ruler.rect.center().y),
        egui::Align2::LEFT_CENTER,
        "drag here to scrub · Ctrl+wheel zoom",
        egui::FontId::proportional(11.0),
        egui::Color32::from_gray(130),
    );
    let end_x = axis.x(len);
    rp.vline(
        end_x,
        ruler.rect.y_range(),
        egui::Stroke::new(2.0, egui::Color32::from_rgb(120, 120, 200)),
    );
    if (ruler.clicked() || ruler.dragged())
        && let Some(p) = ruler.interact_pointer_pos()
    {
        fx.stop |= wb.playing;
        wb.playing = false;
        wb.scrub(axis.t(p.x), desired);
        fx.pose = true;
    }
    if ruler.double_clicked() {
        wb.view = None;
    }
    let ph_x = axis.x(wb.playhead_ms);
    if ph_x >= axis.x0 - 1.0 {
        let y = ruler.rect.bottom();
        rp.add(egui::Shape::convex_polygon(
            vec![
                egui::pos2(ph_x - 6.0, y - 10.0),
                egui::pos2(ph_x + 6.0, y - 10.0),
                egui::pos2(ph_x, y),
            ],
            egui::Color32::from_rgb(255, 90, 60),
            egui::Stroke::NONE,
        ));
    }

    wb.layout = TimelineLayout {
        axis: Some(axis),
        ruler: Some(ruler.rect),
        lanes: Vec::new(),
        key_fields: wb.layout.key_fields.take(),
    };

    // The preview of a drag in progress.
    let pending = wb
        .drag
        .as_ref()
        .and_then(|d| drag_command(d, &wb.selection, &wb.editor.clip));
    let shown: Clip = match &pending {
        Some(cmd) => {
            let mut e = Editor::new(wb.editor.clip.clone());
            let _ = e.apply(cmd.clone());
            e.clip
        }
        None => wb.editor.clip.clone(),
    };
    let original = wb.editor.clip.clone();

    let n_tracks = original.tracks.len();
    let mut remove: Option<usize> = None;
    let mut add_key_at: Option<(usize, u32)> = None;
    let mut release: Option<EditCommand> = None;
    egui::ScrollArea::vertical()
        .id_salt("wb-lanes")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            // Lanes share the height the dock gives them (taller lanes, finer values), down to
            // LANE_H each, then the area scrolls.
            let lane_h = (ui.available_height() / n_tracks.max(1) as f32).clamp(LANE_H, LANE_H_MAX);
            let height = (n_tracks.max(1) as f32) * lane_h;
            let (area, painter) = ui.allocate_painter(egui::vec2(width, height), egui::Sense::hover());
            if n_tracks == 0 {
                painter.text(
                    area.rect.center(),
                    egui::Align2::CENTER_CENTER,
                    "no tracks: add one with “+ track”, create a micro-expression, load or import a clip",
                    egui::FontId::proportional(13.0),
                    egui::Color32::GRAY,
                );
                return;
            }
            let modifiers = ui.input(|i| i.modifiers);
            for (ti, track) in original.tracks.iter().enumerate() {
                let lane = egui::Rect::from_min_size(
                    egui::pos2(area.rect.left(), area.rect.top() + ti as f32 * lane_h),
                    egui::vec2(width, lane_h),
                );
                let keys_rect = egui::Rect::from_x_y_ranges(axis.x0 - 6.0..=axis.x1 + 6.0, lane.y_range());
                let name_rect = egui::Rect::from_x_y_ranges(lane.left()..=axis.x0 - 8.0, lane.y_range());
                let active = ti == wb.active_track;
                let bg = if active {
                    egui::Color32::from_rgb(40, 46, 58)
                } else if ti % 2 == 0 {
                    egui::Color32::from_gray(27)
                } else {
                    egui::Color32::from_gray(33)
                };
                painter.rect_filled(lane, 0.0, bg);
                let shown_track = shown.tracks.get(ti).unwrap_or(track);
                let (lo, hi) = {
                    let (a, b) = track_range(track, &wb.table, wb.fit_values);
                    let (c, d) = track_range(shown_track, &wb.table, wb.fit_values);
                    (a.min(c), b.max(d))
                };
                let va = ValueAxis {
                    top: lane.top() + LANE_PAD,
                    bottom: lane.bottom() - LANE_PAD,
                    lo,
                    hi,
                };
                wb.layout.lanes.push(va);

                // Lane interaction first: keys and handles added later sit on top of it.
                let lane_resp = ui.interact(keys_rect, ui.id().with(("wb-lane", ti)), egui::Sense::click());
                if lane_resp.clicked() {
                    wb.active_track = ti;
                    if !modifiers.shift {
                        wb.selection.clear();
                    }
                }
                if lane_resp.double_clicked()
                    && let Some(p) = lane_resp.interact_pointer_pos()
                {
                    let t = axis.t(p.x).max(0.0).round() as u32;
                    add_key_at = Some((ti, t));
                }
                let name_resp = ui.interact(name_rect, ui.id().with(("wb-name", ti)), egui::Sense::click());
                if name_resp.clicked() {
                    wb.active_track = ti;
                }

                // Name column: target, description, motor tracking error.
                let (label, description) = track_label(track, &wb.table);
                let np = painter.with_clip_rect(name_rect);
                np.text(
                    egui::pos2(name_rect.left() + 6.0, lane.top() + 12.0),
                    egui::Align2::LEFT_CENTER,
                    &label,
                    egui::FontId::proportional(13.0),
                    if active { egui::Color32::WHITE } else { egui::Color32::from_gray(210) },
                );
                let err = wb.track_errors.get(ti).copied().flatten();
                let (err_text, err_color) = match err {
                    Some(e) => (
                        format!("track err {e:.3}"),
                        if e > 0.1 {
                            egui::Color32::from_rgb(255, 110, 100)
                        } else if e > 0.03 {
                            egui::Color32::from_rgb(240, 190, 90)
                        } else {
                            egui::Color32::from_gray(150)
                        },
                    ),
                    None => ("no keys".into(), egui::Color32::from_gray(120)),
                };
                np.text(
                    egui::pos2(name_rect.left() + 6.0, lane.top() + 29.0),
                    egui::Align2::LEFT_CENTER,
                    err_text,
                    egui::FontId::proportional(11.0),
                    err_color,
                );
                let x_rect = egui::Rect::from_center_size(
                    egui::pos2(name_rect.right() - 10.0, lane.top() + 12.0),
                    egui::vec2(16.0, 16.0),
                );
                if ui
                    .put(x_rect, egui::Button::new(egui::RichText::new("×").size(15.0)).frame(false))
                    .on_hover_text(format!("remove the {label} track"))
                    .clicked()
                {
                    remove = Some(ti);
                }
                let _ = name_resp.on_hover_text(format!(
                    "{description}\nlargest |measured − expected| of the simulated motors on this track's channels"
                ));

                // Lane body: clip end, travel limits, curve, keys.
                let lp = painter.with_clip_rect(keys_rect.intersect(lane));
                lp.vline(end_x, lane.y_range(), egui::Stroke::new(1.0, egui::Color32::from_rgb(90, 90, 150)));
                if let TrackTarget::Channel(n) = &track.target
                    && let Some(i) = wb.table.layout().index(n)
                {
                    let (tlo, thi) = wb.table.layout().limits(i);
                    for v in [tlo, thi] {
                        if v > lo + 1e-4 || v < hi - 1e-4 {
                            lp.hline(axis.x0..=axis.x1, va.y(v), egui::Stroke::new(1.0, egui::Color32::from_rgb(110, 60, 60)));
                        }
                    }
                }
                if lo < 0.0 && hi > 0.0 {
                    lp.hline(axis.x0..=axis.x1, va.y(0.0), egui::Stroke::new(1.0, egui::Color32::from_gray(55)));
                }
                let color = match track.target {
                    TrackTarget::Au(_) => egui::Color32::from_rgb(120, 180, 255),
                    TrackTarget::Channel(_) => egui::Color32::from_rgb(130, 220, 150),
                };
                draw_curve(&lp, shown_track, &axis, &va, color);

                // Handles of a single selected Bezier key.
                let single = (wb.selection.len() == 1).then(|| wb.selection.iter().next().copied()).flatten();
                let mut handle_hits: Vec<(egui::Pos2, KeyId, bool)> = Vec::new();
                if let Some(sel) = single
                    && sel.track == ti
                    && let Some(i) = track.key_at(sel.time_ms)
                {
                    // Positions from the shown (preview) track, interaction by the original key.
                    let st = shown_track;
                    let si = st.key_at(sel.time_ms).unwrap_or(i).min(st.keys.len().saturating_sub(1));
                    if let Some(k) = st.keys.get(si) {
                        let kp = egui::pos2(axis.x(k.time_ms as f32), va.y(k.value));
                        if si > 0 && st.keys[si - 1].interp == Interpolation::Bezier {
                            let pts = bezier_points(&st.keys[si - 1], k);
                            handle_hits.push((egui::pos2(axis.x(pts[2].0), va.y(pts[2].1)), sel, false));
                        }
                        if k.interp == Interpolation::Bezier && si + 1 < st.keys.len() {
                            let pts = bezier_points(k, &st.keys[si + 1]);
                            handle_hits.push((egui::pos2(axis.x(pts[1].0), va.y(pts[1].1)), sel, true));
                        }
                        for (hp, _, _) in &handle_hits {
                            lp.line_segment([kp, *hp], egui::Stroke::new(1.0, egui::Color32::from_rgb(255, 210, 70)));
                        }
                    }
                }

                // Keys (interaction by the original keys; drawn at their previewed places).
                for k in &track.keys {
                    let id = KeyId::new(ti, k.time_ms);
                    let selected = wb.selection.contains(&id);
                    let marks = wb.marks.get(&id);
                    let pos = egui::pos2(axis.x(k.time_ms as f32), va.y(k.value));
                    let resp = ui.interact(
                        egui::Rect::from_center_size(pos, egui::vec2(12.0, 12.0)),
                        ui.id().with(("wb-key", ti, k.time_ms)),
                        egui::Sense::click_and_drag(),
                    );
                    if resp.clicked() {
                        wb.active_track = ti;
                        if modifiers.shift {
                            if !wb.selection.remove(&id) {
                                wb.selection.insert(id);
                            }
                        } else {
                            wb.selection = [id].into();
                        }
                    }
                    if resp.drag_started() {
                        wb.active_track = ti;
                        if !selected {
                            if !modifiers.shift {
                                wb.selection.clear();
                            }
                            wb.selection.insert(id);
                        }
                        wb.drag = Some(Drag::Keys {
                            total: egui::Vec2::ZERO,
                            px_per_ms: axis.px_per_ms(),
                            px_per_value: va.px_per_value(),
                            time_only: false,
                            value_only: false,
                        });
                    }
                    if resp.dragged()
                        && let Some(Drag::Keys { total, time_only, value_only, .. }) = wb.drag.as_mut()
                    {
                        *total += resp.drag_delta();
                        *time_only = modifiers.shift;
                        *value_only = modifiers.alt;
                    }
                    if resp.drag_stopped() {
                        if let Some(d @ Drag::Keys { .. }) = wb.drag {
                            release = drag_command(&d, &wb.selection, &wb.editor.clip);
                        }
                        wb.drag = None;
                    }
                    let mut tip = format!("{} @ {} ms = {:.3} ({:?})", track.target.name(), k.time_ms, k.value, k.interp);
                    if let Some(m) = marks {
                        tip.push('\n');
                        tip.push_str(&m.join("\n"));
                    }
                    let _ = resp.on_hover_text(tip);
                }
                // Keys drawn from the preview.
                for k in &shown_track.keys {
                    let id = KeyId::new(ti, k.time_ms);
                    let moved_sel = matches!(pending, Some(EditCommand::MoveKeys { .. }));
                    let selected = if moved_sel {
                        // During a move the selection sits at its new places.
                        wb.selection.iter().any(|s| {
                            s.track == ti
                                && matches!(pending, Some(EditCommand::MoveKeys { dt_ms, .. })
                                    if (i64::from(s.time_ms) + dt_ms).max(0) == i64::from(k.time_ms))
                        })
                    } else {
                        wb.selection.contains(&id)
                    };
                    let flagged = pending.is_none() && wb.marks.contains_key(&id);
                    let (fill, stroke) = key_color(selected, flagged);
                    let pos = egui::pos2(axis.x(k.time_ms as f32), va.y(k.value));
                    let r = if selected || flagged { 5.5 } else { 4.5 };
                    lp.circle(pos, r, fill, stroke);
                }
                // Handle points on top, draggable.
                for (hp, key, out) in handle_hits {
                    let resp = ui.interact(
                        egui::Rect::from_center_size(hp, egui::vec2(12.0, 12.0)),
                        ui.id().with(("wb-handle", ti, key.time_ms, out)),
                        egui::Sense::drag(),
                    );
                    lp.circle(hp, 4.0, egui::Color32::from_rgb(40, 40, 40), egui::Stroke::new(1.5, egui::Color32::from_rgb(255, 210, 70)));
                    if (resp.drag_started() || resp.dragged())
                        && let Some(p) = resp.interact_pointer_pos()
                    {
                        wb.drag = Some(Drag::Handle { key, out, at: (axis.t(p.x), va.v(p.y)) });
                    }
                    if resp.drag_stopped() {
                        if let Some(d @ Drag::Handle { .. }) = wb.drag {
                            release = drag_command(&d, &wb.selection, &wb.editor.clip);
                        }
                        wb.drag = None;
                    }
                    let _ = resp.on_hover_text(if out { "out handle: drag" } else { "in handle: drag" });
                }
                // Separator line under each lane.
                painter.hline(lane.x_range(), lane.bottom() - 0.5, egui::Stroke::new(1.0, egui::Color32::from_gray(20)));
            }
            // Playhead across the lanes.
            let ph = axis.x(wb.playhead_ms);
            if ph >= axis.x0 - 1.0 && ph <= axis.x1 + 1.0 {
                painter.vline(ph, area.rect.y_range(), egui::Stroke::new(1.5, egui::Color32::from_rgb(255, 90, 60)));
            }
        });

    let released = release.is_some();
    if let Some(cmd) = release {
        match cmd {
            EditCommand::MoveKeys { dt_ms, dvalue, .. } => {
                wb.move_selected(dt_ms, dvalue);
            }
            other => {
                wb.edit(other);
            }
        }
    }
    if let Some((ti, t)) = add_key_at {
        wb.add_key(ti, t, desired);
    }
    if let Some(ti) = remove {
        wb.remove_track(ti);
    }
    // A drag released outside its widget (e.g. the pointer left the window) is dropped.
    if wb.drag.is_some() && !ui.input(|i| i.pointer.any_down()) && !released {
        wb.drag = None;
    }
}
