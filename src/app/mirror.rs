//! `MirrorPlugin`: the engineer's mirror — thin Bevy / egui glue over `facetwin-mirror`.
//!
//! Every frame the host sends and receives comes from the link's [`LinkTap`] (one tap wraps
//! every session's transport, see `link.rs`). Each frame [`ingest`] drains it once and hands the
//! frames to everything that wants them:
//!
//! * a 30-second [`History`] ring of telemetry and `SetTargets` frames (the plots);
//! * the [`PacketMonitor`] (every frame both ways, filterable, exportable);
//! * the MCAP [`Recorder`] while recording (plus the link's events and the shadow's alarms);
//! * the [`Shadow`] while shadow mode is on (alarms, divergence table);
//!
//! A calibration runs on the link's own thread and command clock (a [`SharedCalibrator`] handed
//! over as a `Procedure`: it sees the head's replies and sends its jogs there, at the same
//! speed whatever the frame rate); [`ingest`] only follows its progress and takes its result.
//!
//! The mirror draws plain view-models ([`plots_view`], [`filtered_rows`], [`shadow_rows`],
//! [`alarm_banner`], [`header_view`]) in `*_ui` functions; whatever the user asks for becomes a
//! [`MirrorRequest`] message, handled in [`handle_requests`] (so headless tests drive the same
//! path). A replay shown on the face goes through [`ReplayPose`], which the link's display pose
//! prefers while it is set.
//!
//! Safety is the link's: commands (fault injection, calibration) only reach a head through
//! `HostLink`, which sends nothing before a successful handshake, to a head speaking another
//! protocol version, or in mirror (passive) mode; the window shows why when that happens.

use super::link::{DisplayPose, Link, LinkRequest, LinkTap, ReplayPose, Source};
use super::ui::{Dock, DockTab, ReservedEdges};
use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use egui_plot::{Legend, Line, LineStyle, MarkerShape, Plot, PlotPoint, Points, VLine};
use facetwin_head::HeadConfig;
use facetwin_link::{LinkEvent, LinkState};
use facetwin_mirror::{
    AlarmKind, Calibration, CalibrationError, CalibrationOptions, Calibrator, ChannelCalibration,
    Direction, Recorder, RecorderStats, Replay, Shadow, ShadowEvent, SharedCalibrator, TappedFrame,
};
use facetwin_protocol::{
    ErrorCode, FaultKind, MAX_RAW_FRAME, Message, MsgType, PROTOCOL_VERSION, Targets, Telemetry,
    capability, encode_raw, q15_to_norm,
};
use std::collections::{BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Seconds of telemetry / commands kept for the plots.
pub const HISTORY_S: f64 = 30.0;
/// Default width of the scrolling plot window, seconds.
pub const DEFAULT_WINDOW_S: f64 = 10.0;
/// Packets kept in the monitor (about 12 s of a 100 Hz command / 200 Hz telemetry link).
pub const MAX_PACKETS: usize = 4000;
/// Shadow alarm events kept for the log.
const MAX_ALARM_LOG: usize = 64;
/// Longest decoded text in a packet row.
const SUMMARY_CHARS: usize = 140;
/// Channels shown in the detail plots at start: zygomaticus_major_l and the jaw.
const DEFAULT_SELECTED: [usize; 2] = [12, 21];

// ---------------------------------------------------------------------------------------------
// Telemetry history
// ---------------------------------------------------------------------------------------------

/// One telemetry frame at its tap time (seconds).
#[derive(Debug, Clone, Copy)]
pub struct TelemetrySample {
    pub t: f64,
    pub telemetry: Telemetry,
}

/// One `SetTargets` frame the host sent, at its tap time (seconds).
#[derive(Debug, Clone, Copy)]
pub struct CommandSample {
    pub t: f64,
    pub targets: Targets,
}

/// Ring buffer of the last [`HISTORY_S`] seconds of telemetry and commanded targets.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub telemetry: VecDeque<TelemetrySample>,
    pub commands: VecDeque<CommandSample>,
}

impl History {
    /// Keeps telemetry (head → host) and `SetTargets` (host → head) frames; ignores the rest.
    pub fn push(&mut self, frame: &TappedFrame) {
        let t = frame.t.as_secs_f64();
        match (frame.direction, &frame.message) {
            (Direction::FromHead, Message::Telemetry(telemetry)) => {
                self.telemetry.push_back(TelemetrySample {
                    t,
                    telemetry: *telemetry,
                });
            }
            (Direction::ToHead, Message::SetTargets(targets)) => {
                self.commands.push_back(CommandSample {
                    t,
                    targets: *targets,
                });
            }
            _ => return,
        }
        self.prune(t);
    }

    fn prune(&mut self, now: f64) {
        let keep_from = now - HISTORY_S;
        while self.telemetry.front().is_some_and(|s| s.t < keep_from) {
            self.telemetry.pop_front();
        }
        while self.commands.front().is_some_and(|s| s.t < keep_from) {
            self.commands.pop_front();
        }
    }

    /// Time of the newest frame held.
    pub fn latest(&self) -> Option<f64> {
        let a = self.telemetry.back().map(|s| s.t);
        let b = self.commands.back().map(|s| s.t);
        match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    /// Seconds between the oldest and the newest frame held.
    pub fn span_s(&self) -> f64 {
        let first = match (self.telemetry.front(), self.commands.front()) {
            (Some(a), Some(b)) => a.t.min(b.t),
            (Some(a), None) => a.t,
            (None, Some(b)) => b.t,
            (None, None) => return 0.0,
        };
        self.latest().map_or(0.0, |l| (l - first).max(0.0))
    }
}

/// A fault appearing on a channel (new bits compared with the previous frame).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultMark {
    /// Plot time (seconds relative to the view's `now`).
    pub t: f64,
    pub position: f64,
    /// The bits that appeared.
    pub faults: u8,
}

/// One channel's series in a plot window; x is seconds relative to the view's `now` (≤ 0).
#[derive(Debug, Clone, Default)]
pub struct ChannelSeries {
    pub channel: usize,
    pub name: String,
    /// What the host sent (`SetTargets`), normalised travel.
    pub commanded: Vec<PlotPoint>,
    /// Measured position, normalised travel.
    pub position: Vec<PlotPoint>,
    /// Travel per second.
    pub velocity: Vec<PlotPoint>,
    pub current_ma: Vec<PlotPoint>,
    pub temperature_c: Vec<PlotPoint>,
    pub fault_marks: Vec<FaultMark>,
}

/// Every `stride`-th index of `0..n`, always including the last.
fn decimated(n: usize, max_points: usize) -> impl Iterator<Item = usize> {
    let stride = n.div_ceil(max_points.max(1)).max(1);
    (0..n).filter(move |i| i % stride == 0 || *i + 1 == n)
}

/// The series of `channel` over `[now - window, now]`, at most `max_points` per line (fault
/// markers are found on every frame, never decimated away).
pub fn channel_series(
    history: &History,
    channel: usize,
    name: &str,
    now: f64,
    window: f64,
    max_points: usize,
) -> ChannelSeries {
    let from = now - window;
    let tel = &history.telemetry;
    let start = tel.partition_point(|s| s.t < from);
    let n = tel.len() - start;
    let mut out = ChannelSeries {
        channel,
        name: name.to_owned(),
        ..ChannelSeries::default()
    };
    for i in decimated(n, max_points) {
        let Some(s) = tel.get(start + i) else {
            continue;
        };
        let Some(c) = s.telemetry.channels().get(channel) else {
            continue;
        };
        let x = s.t - now;
        out.position.push(PlotPoint::new(x, c.position_norm()));
        out.velocity.push(PlotPoint::new(x, c.velocity_norm_s()));
        out.current_ma.push(PlotPoint::new(x, c.current_ma));
        out.temperature_c.push(PlotPoint::new(x, c.temperature_c()));
    }
    let mut prev = start
        .checked_sub(1)
        .and_then(|i| tel.get(i))
        .and_then(|s| s.telemetry.channels().get(channel))
        .map_or(0, |c| c.faults);
    for s in tel.range(start..) {
        let Some(c) = s.telemetry.channels().get(channel) else {
            continue;
        };
        let new = c.faults & !prev;
        if new != 0 {
            out.fault_marks.push(FaultMark {
                t: s.t - now,
                position: f64::from(c.position_norm()),
                faults: new,
            });
        }
        prev = c.faults;
    }
    let cmd = &history.commands;
    let cstart = cmd.partition_point(|s| s.t < from);
    for i in decimated(cmd.len() - cstart, max_points) {
        let Some(s) = cmd.get(cstart + i) else {
            continue;
        };
        if let Some(&q) = s.targets.positions().get(channel) {
            out.commanded
                .push(PlotPoint::new(s.t - now, q15_to_norm(q)));
        }
    }
    out
}

/// One channel at a glance.
#[derive(Debug, Clone, Default)]
pub struct Sparkline {
    pub channel: usize,
    pub name: String,
    /// (x in 0..=1 across the window, measured position).
    pub measured: Vec<(f32, f32)>,
    /// Last commanded position.
    pub commanded: Option<f32>,
    pub latest: Option<f32>,
    /// Fault bits in the latest frame.
    pub faults: u8,
    /// A shadow alarm is active on the channel.
    pub alarm: bool,
    pub limits: (f32, f32),
}

/// The plots tab's view-model.
#[derive(Debug, Clone, Default)]
pub struct PlotsView {
    /// Tap time the series are relative to, seconds.
    pub now: f64,
    pub window: f64,
    pub series: Vec<ChannelSeries>,
    pub sparklines: Vec<Sparkline>,
}

/// Builds the plots for `selected` channels and the sparklines of all.
pub fn plots_view(
    history: &History,
    names: &[String],
    limits: &[(f32, f32)],
    selected: &[usize],
    window: f64,
    alarmed: &[usize],
) -> PlotsView {
    let now = history.latest().unwrap_or(0.0);
    let series = selected
        .iter()
        .filter(|&&c| c < names.len())
        .map(|&c| channel_series(history, c, &names[c], now, window, 1200))
        .collect();
    let from = now - window;
    let tel = &history.telemetry;
    let start = tel.partition_point(|s| s.t < from);
    let n = tel.len() - start;
    let idx: Vec<usize> = decimated(n, 90).map(|i| start + i).collect();
    let last_tel = tel.back().map(|s| s.telemetry);
    let last_cmd = history.commands.back().map(|s| s.targets);
    let sparklines = names
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let measured = idx
                .iter()
                .filter_map(|&i| {
                    let s = tel.get(i)?;
                    let p = s.telemetry.channels().get(c)?.position_norm();
                    let x = if window > 0.0 {
                        ((s.t - from) / window) as f32
                    } else {
                        1.0
                    };
                    Some((x.clamp(0.0, 1.0), p))
                })
                .collect();
            let latest = last_tel.and_then(|t| t.channels().get(c).copied());
            Sparkline {
                channel: c,
                name: name.clone(),
                measured,
                commanded: last_cmd.and_then(|t| t.positions().get(c).map(|&q| q15_to_norm(q))),
                latest: latest.map(|l| l.position_norm()),
                faults: latest.map_or(0, |l| l.faults),
                alarm: alarmed.contains(&c),
                limits: limits.get(c).copied().unwrap_or((-1.0, 1.0)),
            }
        })
        .collect();
    PlotsView {
        now,
        window,
        series,
        sparklines,
    }
}

// ---------------------------------------------------------------------------------------------
// Packet monitor
// ---------------------------------------------------------------------------------------------

/// How a packet row is highlighted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Normal,
    /// Worth a look: a fault event, a clamp, an e-stop, an injected fault.
    Warning,
    /// An `Ack` with an error code.
    Error,
}

/// One frame in the monitor.
#[derive(Debug, Clone)]
pub struct PacketRow {
    /// Running number of the frame since the app started.
    pub index: u64,
    /// Tap time.
    pub t: Duration,
    pub direction: Direction,
    pub seq: u8,
    pub msg_type: MsgType,
    /// Decoded fields, shortened.
    pub summary: String,
    pub severity: Severity,
    pub message: Message,
    haystack: String,
}

/// "→" host to head, "←" head to host.
pub fn direction_arrow(d: Direction) -> &'static str {
    match d {
        Direction::ToHead => "→",
        Direction::FromHead => "←",
    }
}

fn shorten(mut s: String, max: usize) -> String {
    if s.chars().count() > max {
        s = s.chars().take(max.saturating_sub(1)).collect();
        s.push('…');
    }
    s
}

/// The decoded fields of a message, shortened for a row, and how to highlight it.
pub fn summarize(message: &Message) -> (String, Severity) {
    let text = match message {
        Message::Telemetry(t) => {
            let mut s = format!(
                "t_head={}µs torque={:#010x} status={:#04x}",
                t.head_time_us, t.torque_mask, t.status
            );
            let faulted: Vec<String> = t
                .channels()
                .iter()
                .enumerate()
                .filter(|(_, c)| c.faults != 0)
                .map(|(i, c)| format!("{i}:{}", facetwin_mirror::record::fault_names(c.faults)))
                .collect();
            if faulted.is_empty() {
                s.push_str(" faults=none");
            } else {
                let _ = write!(s, " faults=[{}]", faulted.join(" "));
            }
            s
        }
        Message::SetTargets(t) => {
            let moved: Vec<String> = t
                .positions()
                .iter()
                .enumerate()
                .filter(|(_, q)| **q != 0)
                .map(|(i, &q)| format!("{i}:{:+.2}", q15_to_norm(q)))
                .collect();
            format!(
                "n={} ttt={}ms {}",
                t.count,
                t.time_to_target_ms,
                if moved.is_empty() {
                    "all 0".to_owned()
                } else {
                    moved.join(" ")
                }
            )
        }
        Message::Ack {
            msg_type,
            seq,
            code,
            detail,
        } => format!(
            "{} seq={seq} {code:?} detail={detail}",
            facetwin_link::msg_type_name(*msg_type)
        ),
        Message::FaultEvent {
            head_time_us,
            channel,
            faults,
        } => format!(
            "ch{channel} {} ({faults:#04x}) t_head={head_time_us}µs",
            facetwin_mirror::record::fault_names(*faults)
        ),
        Message::HelloReply(info) => format!(
            "protocol v{} head {:#010x} fw {}.{}.{} channels={} caps={:#06x}",
            info.protocol_version,
            info.head_id,
            info.firmware[0],
            info.firmware[1],
            info.firmware[2],
            info.channel_count,
            info.capabilities
        ),
        Message::ChannelInfo(i) => format!(
            "ch{} {} min={:+.2} max={:+.2} limit={}mA",
            i.config.channel,
            i.name_str(),
            q15_to_norm(i.config.min_q15),
            q15_to_norm(i.config.max_q15),
            i.config.current_limit_ma
        ),
        other => format!("{other:?}"),
    };
    let severity = match message {
        Message::Ack { code, .. } => match code {
            ErrorCode::Ok => Severity::Normal,
            ErrorCode::Clamped => Severity::Warning,
            _ => Severity::Error,
        },
        Message::FaultEvent { .. } | Message::EmergencyStop | Message::InjectFault { .. } => {
            Severity::Warning
        }
        Message::HelloReply(info) if info.protocol_version != PROTOCOL_VERSION => Severity::Error,
        _ => Severity::Normal,
    };
    (shorten(text, SUMMARY_CHARS), severity)
}

/// Every frame both ways, newest last; at most [`MAX_PACKETS`].
#[derive(Debug, Default)]
pub struct PacketMonitor {
    pub rows: VecDeque<PacketRow>,
    /// While paused the rows stand still for reading; new frames wait in `held` and join the
    /// rows on resume (the recorder and plots get them regardless).
    paused: bool,
    held: VecDeque<PacketRow>,
    /// Frames lost because more than [`MAX_PACKETS`] arrived during a pause.
    pub skipped: u64,
    next_index: u64,
}

impl PacketMonitor {
    pub fn push(&mut self, frame: &TappedFrame) {
        let index = self.next_index;
        self.next_index += 1;
        let msg_type = frame.message.msg_type();
        let (summary, severity) = summarize(&frame.message);
        let haystack = format!(
            "{} {:?} seq {} {}",
            match frame.direction {
                Direction::ToHead => "to head",
                Direction::FromHead => "from head",
            },
            msg_type,
            frame.seq,
            summary
        )
        .to_lowercase();
        let row = PacketRow {
            index,
            t: frame.t,
            direction: frame.direction,
            seq: frame.seq,
            msg_type,
            summary,
            severity,
            message: frame.message,
            haystack,
        };
        let into = if self.paused {
            &mut self.held
        } else {
            &mut self.rows
        };
        if into.len() >= MAX_PACKETS {
            into.pop_front();
            if self.paused {
                self.skipped += 1;
            }
        }
        into.push_back(row);
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Pauses (the rows stand still) or resumes (the frames held meanwhile join the rows).
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
        if !paused {
            for row in self.held.drain(..) {
                if self.rows.len() >= MAX_PACKETS {
                    self.rows.pop_front();
                }
                self.rows.push_back(row);
            }
        }
    }

    /// Frames waiting for the resume.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Forgets every row, shown or held.
    pub fn clear(&mut self) {
        self.rows.clear();
        self.held.clear();
        self.skipped = 0;
    }

    /// Frames seen in all (shown or not).
    pub fn total(&self) -> u64 {
        self.next_index
    }
}

/// Which way(s) the monitor shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DirectionFilter {
    #[default]
    Both,
    ToHead,
    FromHead,
}

/// The monitor's filters.
#[derive(Debug, Clone, Default)]
pub struct PacketFilter {
    pub direction: DirectionFilter,
    /// Only this message type (`None`: all).
    pub msg_type: Option<MsgType>,
    /// Case-insensitive text in the row (direction, type, sequence, decoded fields).
    pub text: String,
}

impl PacketFilter {
    pub fn matches(&self, row: &PacketRow, text_lower: &str) -> bool {
        let dir_ok = match self.direction {
            DirectionFilter::Both => true,
            DirectionFilter::ToHead => row.direction == Direction::ToHead,
            DirectionFilter::FromHead => row.direction == Direction::FromHead,
        };
        dir_ok
            && self.msg_type.is_none_or(|t| t == row.msg_type)
            && (text_lower.is_empty() || row.haystack.contains(text_lower))
    }
}

/// The rows that pass `filter`, oldest first (what the table shows and the export writes).
pub fn filtered_rows<'a>(monitor: &'a PacketMonitor, filter: &PacketFilter) -> Vec<&'a PacketRow> {
    let text = filter.text.trim().to_lowercase();
    monitor
        .rows
        .iter()
        .filter(|r| filter.matches(r, &text))
        .collect()
}

/// One row as a line of the table.
pub fn row_text(row: &PacketRow) -> String {
    format!(
        "{:>9.3} {} {:>3} {:<16} {}",
        row.t.as_secs_f64(),
        direction_arrow(row.direction),
        row.seq,
        format!("{:?}", row.msg_type),
        row.summary
    )
}

/// Writes `rows` to a text file: time, direction, sequence, type, the raw frame in hex (header,
/// payload, CRC; not COBS-encoded) and the full decoded message. Returns the number of rows.
pub fn export_packets(rows: &[&PacketRow], path: &Path) -> Result<usize, String> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# facetwin packet export: {} frames; t = seconds on the tap clock; hex = raw frame \
         (version, type, seq, payload, CRC-16 LE), not COBS-encoded (docs/PROTOCOL.md)",
        rows.len()
    );
    let mut buf = [0u8; MAX_RAW_FRAME];
    for r in rows {
        let hex = match encode_raw(r.seq, &r.message, &mut buf) {
            Ok(n) => buf
                .get(..n)
                .unwrap_or(&[])
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" "),
            Err(e) => format!("(not encodable: {e:?})"),
        };
        let _ = writeln!(
            out,
            "{:.6}\t{}\tseq={}\t{:?}\thex={}\t{:?}",
            r.t.as_secs_f64(),
            match r.direction {
                Direction::ToHead => "host->head",
                Direction::FromHead => "head->host",
            },
            r.seq,
            r.msg_type,
            hex,
            r.message
        );
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, out).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(rows.len())
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

/// The MCAP recorder and what the last recording did.
#[derive(Debug, Default)]
pub struct RecordingState {
    pub recorder: Option<Recorder>,
    pub prefix: Option<PathBuf>,
    started: Option<Duration>,
    pub stats: RecorderStats,
    /// Outcome of the last start / stop / write, for the UI.
    pub status: Option<Result<String, String>>,
    /// Segments of the last finished recording.
    pub last_segments: Vec<PathBuf>,
}

impl RecordingState {
    pub fn is_recording(&self) -> bool {
        self.recorder.is_some()
    }

    /// Seconds recorded so far, at tap time `now`.
    pub fn elapsed(&self, now: Duration) -> Option<Duration> {
        self.started.map(|s| now.saturating_sub(s))
    }

    fn fail(&mut self, what: &str, e: impl std::fmt::Display) {
        // Dropping the recorder finalizes what it can.
        self.recorder = None;
        self.started = None;
        self.status = Some(Err(format!("{what}: {e} — recording stopped")));
    }
}

/// Per-channel plotting overview of a loaded replay.
#[derive(Debug, Default)]
pub struct ReplayState {
    pub replay: Option<Replay>,
    pub path: Option<PathBuf>,
    /// Scrub position, relative to the recording's start.
    pub position: Duration,
    /// Playing on the face (scrubbing forward at `speed`).
    pub playing: bool,
    pub speed: f64,
    /// The face shows the replay (`ReplayPose`) instead of the live head.
    pub show_on_face: bool,
    /// Measured positions per channel over the whole recording (seconds, travel).
    pub overview: Vec<Vec<PlotPoint>>,
    /// The recording's events (faults, alarms, notes) at their times (seconds): the marks on
    /// the overview, so a scrub goes straight to what went wrong.
    pub marks: Vec<ReplayMark>,
    pub telemetry_frames: usize,
    pub commands: usize,
    /// The recorded commands wait for the switch to the simulated head, at this speed.
    pub pending_play: Option<f64>,
    pub status: Option<Result<String, String>>,
}

/// One recorded event on the replay's overview.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayMark {
    pub t_s: f64,
    /// "fault", "alarm", "calibration", "note", "session"...
    pub kind: String,
    pub text: String,
}

/// The recording's events as overview marks, oldest first.
pub fn replay_marks(replay: &Replay) -> Vec<ReplayMark> {
    replay
        .records()
        .iter()
        .filter_map(|r| match &r.kind {
            facetwin_mirror::RecordKind::Event { kind, text, .. } => Some(ReplayMark {
                t_s: replay.relative(r).as_secs_f64(),
                kind: kind.clone(),
                text: text.clone(),
            }),
            _ => None,
        })
        .collect()
}

impl ReplayState {
    fn load(&mut self, replay: Replay, path: PathBuf) {
        let mut overview: Vec<Vec<PlotPoint>> = Vec::new();
        let n = replay.recording().telemetry().count();
        let start = replay.start_ns();
        let stride = n.div_ceil(1500).max(1);
        for (k, (t_ns, _, tel)) in replay.recording().telemetry().enumerate() {
            if k % stride != 0 && k + 1 != n {
                continue;
            }
            let x = t_ns.saturating_sub(start) as f64 * 1e-9;
            for (c, ch) in tel.channels().iter().enumerate() {
                if overview.len() <= c {
                    overview.resize_with(c + 1, Vec::new);
                }
                overview[c].push(PlotPoint::new(x, ch.position_norm()));
            }
        }
        self.telemetry_frames = n;
        self.commands = replay.recording().commands().count();
        self.status = Some(Ok(format!(
            "{}: {:.2} s, {} segment(s), {} records ({} telemetry, {} commands){}",
            path.display(),
            replay.duration().as_secs_f64(),
            replay.recording().segments.len(),
            replay.records().len(),
            n,
            self.commands,
            if replay.recording().ignored.is_empty() {
                String::new()
            } else {
                format!(
                    "; {} unfinished segment(s) ignored",
                    replay.recording().ignored.len()
                )
            }
        )));
        self.overview = overview;
        self.marks = replay_marks(&replay);
        self.replay = Some(replay);
        self.path = Some(path);
        self.position = Duration::ZERO;
        self.playing = false;
        self.show_on_face = true;
    }

    /// The pose the face shows now, when it shows the replay.
    pub fn face_pose(&self) -> Option<Vec<f32>> {
        if !self.show_on_face {
            return None;
        }
        self.replay.as_ref()?.positions_at(self.position)
    }
}

/// Shadow mode: the simulated reference and its alarm log.
#[derive(Debug, Default)]
pub struct ShadowState {
    pub shadow: Option<Shadow>,
    pub log: VecDeque<ShadowEvent>,
}

/// A guided calibration and the calibration being built / applied.
#[derive(Debug, Default)]
pub struct CalibrationState {
    /// The running calibration (stepped on the link's thread; read here).
    pub calibrator: Option<SharedCalibrator>,
    pub started: Option<Duration>,
    /// Monotonic progress of the running calibration, 0..=1.
    pub progress: f32,
    /// Every channel's calibration (the head's limits until calibrated or loaded).
    pub calibration: Calibration,
    /// Channels calibrated in this session.
    pub calibrated: BTreeSet<usize>,
    pub last: Option<(usize, Result<ChannelCalibration, CalibrationError>)>,
    /// Map every outgoing pose through the calibration (on the link's thread).
    pub apply: bool,
    /// The calibration the link maps poses through now (`None`: poses go out as they are).
    in_link: Option<Calibration>,
    pub status: Option<Result<String, String>>,
}

/// Why commands are not reaching the head, as the link reported it.
#[derive(Debug, Default, Clone)]
pub struct SafetyState {
    /// Last refusal (handshake failure, other protocol version), until connected again.
    pub refusal: Option<String>,
}

/// Everything the mirror keeps between frames.
#[derive(Resource, Debug, Default)]
pub struct MirrorState {
    pub history: History,
    pub packets: PacketMonitor,
    pub recording: RecordingState,
    pub replay: ReplayState,
    pub shadow: ShadowState,
    pub calibration: CalibrationState,
    pub safety: SafetyState,
    /// Tap counters.
    pub decode_errors: u64,
    pub dropped: u64,
    /// Tap time of the latest drain.
    pub now: Duration,
    /// Link events already seen (the session's view keeps a rolling list).
    seen_events: usize,
    last_event: Option<LinkEvent>,
    /// Result of the last fault injection request.
    pub inject_status: Option<Result<String, String>>,
}

impl MirrorState {
    /// Hands one tapped frame to everything that wants it.
    pub fn take_frame(&mut self, frame: &TappedFrame) {
        self.history.push(frame);
        self.packets.push(frame);
        if let Some(rec) = self.recording.recorder.as_mut()
            && let Err(e) = rec.record_tapped(frame)
        {
            self.recording.fail("writing the recording", e);
        }
        if let Some(shadow) = self.shadow.shadow.as_mut() {
            shadow.on_tapped(frame);
        }
        if frame.direction == Direction::FromHead
            && let Message::HelloReply(info) = &frame.message
            && info.protocol_version != PROTOCOL_VERSION
        {
            self.safety.refusal = Some(format!(
                "head speaks protocol v{}, this host v{PROTOCOL_VERSION}: no commands are sent",
                info.protocol_version
            ));
        }
    }

    /// Channels with an active shadow alarm.
    pub fn alarmed(&self) -> Vec<usize> {
        self.shadow
            .shadow
            .as_ref()
            .map(Shadow::alarmed)
            .unwrap_or_default()
    }
}

/// Link events that arrived since the last call (the view keeps a rolling window of them).
fn fresh_events(
    seen: &mut usize,
    last: &mut Option<LinkEvent>,
    events: &VecDeque<LinkEvent>,
) -> Vec<LinkEvent> {
    let start = match last.as_ref() {
        None => 0,
        Some(l) => {
            // The common case: nothing new, or appended after what we saw.
            if *seen <= events.len() && *seen > 0 && events.get(*seen - 1) == Some(l) {
                *seen
            } else {
                match events.iter().rposition(|e| e == l) {
                    Some(i) => i + 1,
                    // A new session (source switch): its events are all new.
                    None => 0,
                }
            }
        }
    };
    let out: Vec<LinkEvent> = events.iter().skip(start).cloned().collect();
    *seen = events.len();
    if let Some(e) = events.back() {
        *last = Some(e.clone());
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// What the mirror's UI (or a test) asks for.
#[derive(bevy::prelude::Message, Debug, Clone)]
pub enum MirrorRequest {
    /// Start an MCAP recording at this prefix (`dir/name` → `dir/name.0001.mcap`, …).
    StartRecording(PathBuf),
    StopRecording,
    /// Open a recording (prefix, directory or `.mcap` file) for replay.
    OpenReplay(PathBuf),
    CloseReplay,
    /// Scrub to this time (relative to the recording's start).
    Seek(Duration),
    /// Play the replay on the face at this speed.
    PlayReplay(f64),
    PauseReplay,
    /// Show the replay on the face (or the live head).
    ShowReplayOnFace(bool),
    /// Play the recording's commands on the simulated head (switching to it first).
    PlayOnSimulatedHead(f64),
    /// Shadow mode on / off.
    Shadow(bool),
    /// Queue `InjectFault` to the head (simulated heads only).
    InjectFault {
        channel: u8,
        kind: FaultKind,
        active: bool,
    },
    StartCalibration(usize),
    AbortCalibration,
    SaveCalibration(PathBuf),
    LoadCalibration(PathBuf),
    ApplyCalibration(bool),
}

/// Why a command cannot go to the head now (`None`: it can).
pub fn command_blocker(link: &Link) -> Option<String> {
    if matches!(link.source, Source::Mirror { .. }) {
        return Some("mirror mode sends nothing to the head".into());
    }
    match &link.view.state {
        LinkState::Connected => None,
        LinkState::Disconnected { reason } => Some(format!("not connected ({reason})")),
        other => Some(format!("not connected yet ({other:?})")),
    }
}

impl CalibrationState {
    /// Hands the link the pose map it should use, if that changed: the calibration being built
    /// or loaded, while "Apply" is on and no calibration run is jogging the head with raw
    /// targets. Called every frame; clones only on a change.
    fn sync_link(&mut self, link: &mut Link) {
        let wanted =
            (self.apply && self.calibrator.is_none() && !self.calibration.channels.is_empty())
                .then_some(&self.calibration);
        if wanted != self.in_link.as_ref() {
            let want = wanted.cloned();
            link.set_pose_map(
                want.clone()
                    .map(|c| Arc::new(c) as Arc<dyn facetwin_link::PoseMap>),
            );
            self.in_link = want;
        }
    }
}

/// Handles [`MirrorRequest`]s.
#[allow(clippy::too_many_arguments)]
pub fn handle_requests(
    mut requests: MessageReader<MirrorRequest>,
    mut state: ResMut<MirrorState>,
    mut link: ResMut<Link>,
    tap: Res<LinkTap>,
    mut link_requests: MessageWriter<LinkRequest>,
    mut replay_pose: ResMut<ReplayPose>,
    mut display: ResMut<DisplayPose>,
) {
    let now = tap.0.now();
    let now_ns = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
    for r in requests.read() {
        let state = &mut *state;
        match r {
            MirrorRequest::StartRecording(prefix) => {
                if state.recording.is_recording() {
                    state.recording.status = Some(Err("already recording".into()));
                    continue;
                }
                match Recorder::new(prefix) {
                    Ok(mut rec) => {
                        let note = format!("recording started; source: {}", link.source.label());
                        if let Err(e) = rec.record_event_kind(now_ns, "session", &note, None) {
                            state.recording.status = Some(Err(e.to_string()));
                            continue;
                        }
                        state.recording.recorder = Some(rec);
                        state.recording.prefix = Some(prefix.clone());
                        state.recording.started = Some(now);
                        state.recording.stats = RecorderStats::default();
                        state.recording.status =
                            Some(Ok(format!("recording to {}.*.mcap", prefix.display())));
                    }
                    Err(e) => state.recording.status = Some(Err(e.to_string())),
                }
            }
            MirrorRequest::StopRecording => {
                let Some(rec) = state.recording.recorder.take() else {
                    continue;
                };
                let stats = rec.stats();
                state.recording.started = None;
                match rec.finish() {
                    Ok(segments) => {
                        state.recording.status = Some(Ok(format!(
                            "saved {} segment(s), {} messages ({} telemetry, {} commands)",
                            segments.len(),
                            stats.messages,
                            stats.telemetry,
                            stats.commands
                        )));
                        state.recording.last_segments = segments;
                    }
                    Err(e) => state.recording.status = Some(Err(e.to_string())),
                }
            }
            MirrorRequest::OpenReplay(path) if path.as_os_str().is_empty() => {
                state.replay.status = Some(Err(
                    "enter a recording: its prefix, its directory or one of its .mcap files".into(),
                ));
            }
            MirrorRequest::OpenReplay(path) => match Replay::open(path) {
                Ok(replay) => {
                    state.replay.load(replay, path.clone());
                    replay_pose.0 = state.replay.face_pose();
                }
                Err(e) => state.replay.status = Some(Err(e.to_string())),
            },
            MirrorRequest::CloseReplay => {
                state.replay = ReplayState::default();
                if replay_pose.0.take().is_some() {
                    // Back to the live head without a jump.
                    display.converging = true;
                }
            }
            MirrorRequest::Seek(t) => {
                if let Some(r) = &state.replay.replay {
                    state.replay.position = (*t).min(r.duration());
                }
            }
            MirrorRequest::PlayReplay(speed) => {
                if let Some(r) = &state.replay.replay {
                    if state.replay.position >= r.duration() {
                        state.replay.position = Duration::ZERO;
                    }
                    state.replay.playing = true;
                    state.replay.speed = sanitize_speed(*speed);
                    state.replay.show_on_face = true;
                }
            }
            MirrorRequest::PauseReplay => state.replay.playing = false,
            MirrorRequest::ShowReplayOnFace(show) => {
                state.replay.show_on_face = *show && state.replay.replay.is_some();
                if !state.replay.show_on_face && replay_pose.0.take().is_some() {
                    display.converging = true;
                }
            }
            MirrorRequest::PlayOnSimulatedHead(speed) => {
                if state.replay.replay.is_none() {
                    state.replay.status = Some(Err("open a recording first".into()));
                    continue;
                }
                state.replay.playing = false;
                state.replay.show_on_face = false;
                if replay_pose.0.take().is_some() {
                    display.converging = true;
                }
                state.replay.pending_play = Some(sanitize_speed(*speed));
                if link.source != Source::Simulated {
                    link_requests.write(LinkRequest::Switch(Source::Simulated));
                }
            }
            MirrorRequest::Shadow(on) => {
                if *on {
                    if state.shadow.shadow.is_none() {
                        state.shadow.shadow = Some(Shadow::new(
                            HeadConfig::default_head(),
                            facetwin_mirror::ShadowConfig::default(),
                        ));
                        state.shadow.log.clear();
                    }
                } else {
                    state.shadow.shadow = None;
                }
            }
            MirrorRequest::InjectFault {
                channel,
                kind,
                active,
            } => {
                if let Some(why) = command_blocker(&link) {
                    state.inject_status = Some(Err(format!("not sent: {why}")));
                    continue;
                }
                link.link.queue(Message::InjectFault {
                    channel: *channel,
                    kind: *kind,
                    active: *active,
                });
                let name = link
                    .channel_names
                    .get(usize::from(*channel))
                    .cloned()
                    .unwrap_or_default();
                let text = format!(
                    "InjectFault {kind:?} {} on channel {channel} ({name})",
                    if *active { "on" } else { "off" }
                );
                if let Some(rec) = state.recording.recorder.as_mut()
                    && let Err(e) = rec.record_event_kind(now_ns, "note", &text, Some(*channel))
                {
                    state.recording.fail("writing the recording", e);
                }
                let unsupported = link
                    .view
                    .info
                    .is_some_and(|i| i.capabilities & capability::FAULT_INJECTION == 0);
                state.inject_status = Some(if unsupported {
                    Err(format!(
                        "{text} queued, but this head does not report fault injection"
                    ))
                } else {
                    Ok(format!("{text} queued"))
                });
            }
            MirrorRequest::StartCalibration(channel) => {
                if state.calibration.calibrator.is_some() {
                    state.calibration.status = Some(Err("a calibration is running".into()));
                    continue;
                }
                if let Some(why) = command_blocker(&link) {
                    state.calibration.status = Some(Err(format!("cannot calibrate: {why}")));
                    continue;
                }
                if state.calibration.calibration.channels.len() < link.view.channels.len() {
                    let base = Calibration::from_view(&link.view);
                    for (i, c) in base.channels.into_iter().enumerate() {
                        if state.calibration.calibration.channels.len() <= i {
                            state.calibration.calibration.set(i, c);
                        }
                    }
                }
                let calibrator =
                    SharedCalibrator::new(Calibrator::new(*channel, CalibrationOptions::default()));
                // The calibrator jogs with raw targets: no mapping from this tick on.
                state.calibration.calibrator = Some(calibrator.clone());
                state.calibration.sync_link(&mut link);
                // It runs on the link's command clock, whatever the frame rate.
                link.link.run_procedure(Some(calibrator.procedure()));
                state.calibration.started = Some(now);
                state.calibration.progress = 0.0;
                state.calibration.status = None;
            }
            MirrorRequest::AbortCalibration => {
                if let Some(c) = &state.calibration.calibrator {
                    c.lock().abort();
                }
            }
            MirrorRequest::SaveCalibration(path) => {
                state.calibration.status =
                    Some(if state.calibration.calibration.channels.is_empty() {
                        Err("nothing to save: calibrate a channel first".into())
                    } else {
                        state
                            .calibration
                            .calibration
                            .save(path)
                            .map(|()| format!("saved {}", path.display()))
                            .map_err(|e| e.to_string())
                    });
            }
            MirrorRequest::LoadCalibration(path) => match Calibration::load(path) {
                Ok(c) => {
                    state.calibration.status = Some(Ok(format!(
                        "loaded {} ({} channels)",
                        path.display(),
                        c.channels.len()
                    )));
                    state.calibration.calibration = c;
                }
                Err(e) => state.calibration.status = Some(Err(e.to_string())),
            },
            MirrorRequest::ApplyCalibration(on) => {
                if *on && state.calibration.calibration.channels.is_empty() {
                    state.calibration.status = Some(Err(
                        "no calibration: calibrate a channel or load a file".into(),
                    ));
                } else {
                    state.calibration.apply = *on;
                }
            }
        }
    }
}

fn sanitize_speed(speed: f64) -> f64 {
    if speed.is_finite() && speed > 0.0 {
        speed.min(16.0)
    } else {
        1.0
    }
}

fn alarm_text(kind: AlarmKind) -> &'static str {
    match kind {
        AlarmKind::LowCurrent => "low current (torn tendon?)",
        AlarmKind::Position => "position (jam?)",
    }
}

/// Drains the tap and feeds history, monitor, recorder and shadow; follows the calibration
/// the link's thread runs (progress, result).
pub fn ingest(mut state: ResMut<MirrorState>, tap: Res<LinkTap>, mut link: ResMut<Link>) {
    let frames = tap.0.drain();
    let now = tap.0.now();
    let now_ns = u64::try_from(now.as_nanos()).unwrap_or(u64::MAX);
    let state = &mut *state;
    state.now = now;
    state.decode_errors = tap.0.decode_errors();
    state.dropped = tap.0.dropped();
    for f in &frames {
        state.take_frame(f);
    }
    // Shadow: run the simulation to the newest frame, collect its alarms.
    if let Some(shadow) = state.shadow.shadow.as_mut() {
        if let Some(last) = frames.last() {
            shadow.advance_to(last.t);
        }
        for e in shadow.take_events() {
            if let Some(rec) = state.recording.recorder.as_mut() {
                let name = link
                    .channel_names
                    .get(e.channel)
                    .cloned()
                    .unwrap_or_default();
                let text = format!(
                    "{} {} on channel {} ({name})",
                    if e.raised { "ALARM" } else { "cleared" },
                    alarm_text(e.kind),
                    e.channel
                );
                let ch = u8::try_from(e.channel).ok();
                if let Err(err) = rec.record_event_kind(
                    u64::try_from(e.t.as_nanos()).unwrap_or(0),
                    "alarm",
                    &text,
                    ch,
                ) {
                    state.recording.fail("writing the recording", err);
                }
            }
            if state.shadow.log.len() >= MAX_ALARM_LOG {
                state.shadow.log.pop_front();
            }
            state.shadow.log.push_back(e);
        }
    }
    // Link events (connected, rejected, clamped, faults) into the recording.
    let events = fresh_events(
        &mut state.seen_events,
        &mut state.last_event,
        &link.view.events,
    );
    if let Some(rec) = state.recording.recorder.as_mut() {
        let mut failed = None;
        for e in &events {
            if let Err(err) = rec.record_link_event(now_ns, e) {
                failed = Some(err);
                break;
            }
        }
        if failed.is_none()
            && let Err(err) = rec.flush_if_due(now_ns)
        {
            failed = Some(err);
        }
        match failed {
            Some(err) => state.recording.fail("writing the recording", err),
            None => state.recording.stats = rec.stats(),
        }
    }
    // Why commands are withheld.
    match &link.view.state {
        LinkState::Connected => state.safety.refusal = None,
        LinkState::Disconnected { reason }
            if reason.contains("protocol") || reason.contains("handshake") =>
        {
            state.safety.refusal = Some(reason.clone());
        }
        _ => {}
    }
    // Calibration.
    let mut finished = None;
    if let Some(shared) = &state.calibration.calibrator {
        let cal = shared.lock();
        let p = match cal.status() {
            "starting" => 0.0,
            "reading the channel's configuration" => 0.05,
            "searching the upper travel end" => 0.3,
            "searching the lower travel end" => 0.55,
            "finding the rest position (torque off)" => 0.75,
            "restoring the configuration and pose" => 0.85,
            "verifying the restored configuration" => 0.95,
            "done" => 1.0,
            _ => state.calibration.progress,
        };
        state.calibration.progress = state.calibration.progress.max(p);
        if cal.is_done() {
            finished = Some((cal.channel(), cal.result()));
        } else if !link.view.procedure
            && state
                .calibration
                .started
                .is_some_and(|s| now.saturating_sub(s) > Duration::from_secs(1))
        {
            // The session that ran it is gone (a source switch): nothing steps it any more.
            finished = Some((cal.channel(), Some(Err(CalibrationError::LinkLost))));
        }
    }
    if let Some((channel, result)) = finished {
        state.calibration.calibrator = None;
        state.calibration.started = None;
        let result = result.unwrap_or(Err(CalibrationError::Aborted));
        if let Ok(c) = &result {
            state.calibration.calibration.set(channel, c.clone());
            state.calibration.calibrated.insert(channel);
        }
        if let Some(rec) = state.recording.recorder.as_mut() {
            let text = match &result {
                Ok(c) => format!(
                    "calibrated channel {channel}: min {:+.3} max {:+.3} neutral {:+.3} direction {}",
                    c.min_norm, c.max_norm, c.neutral_norm, c.direction
                ),
                Err(e) => format!("calibration of channel {channel} failed: {e}"),
            };
            let _ = rec.record_event_kind(now_ns, "calibration", &text, u8::try_from(channel).ok());
        }
        state.calibration.last = Some((channel, result));
        // The designer's pose again (the calibrator restored the one it started from), mapped
        // by the link when "Apply" is on.
        state.calibration.sync_link(&mut link);
        link.link.set_desired(&link.desired);
    }
}

/// Moves the replay's playhead, shows its pose on the face, starts a pending command playback.
pub fn drive_replay(
    mut state: ResMut<MirrorState>,
    link: Res<Link>,
    mut replay_pose: ResMut<ReplayPose>,
    time: Res<Time<Real>>,
) {
    let r = &mut state.replay;
    if let Some(replay) = &r.replay {
        if r.playing {
            r.position = (r.position + time.delta().mul_f64(r.speed)).min(replay.duration());
            if r.position >= replay.duration() {
                r.playing = false;
            }
        }
        if r.show_on_face {
            replay_pose.0 = replay.positions_at(r.position);
        }
        if let Some(speed) = r.pending_play
            && link.source == Source::Simulated
        {
            r.pending_play = None;
            link.link.play(Box::new(replay.command_player(speed)));
            r.status = Some(Ok(format!(
                "playing {} recorded command poses on the simulated head at {speed}×",
                r.commands
            )));
        }
    } else {
        r.pending_play = None;
    }
}

/// Keeps the link's pose map in step with "Apply calibration" and the calibration itself
/// (loaded, extended by a run); the link maps every outgoing pose on its own thread.
pub fn apply_calibration(mut state: ResMut<MirrorState>, mut link: ResMut<Link>) {
    state.calibration.sync_link(&mut link);
}

// ---------------------------------------------------------------------------------------------
// View-models for the header and the shadow tab
// ---------------------------------------------------------------------------------------------

/// How a line of text is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Ok,
    Info,
    Warn,
    Bad,
}

/// The always-visible top of the window.
#[derive(Debug, Clone)]
pub struct HeaderView {
    pub link: (String, Level),
    /// Why commands are withheld, if they are.
    pub refusal: Option<String>,
    pub alarms: Vec<String>,
    pub recording: Option<String>,
    pub tap: (String, Level),
}

/// "ALARM: channel X (name) — …" for every channel in alarm.
pub fn alarm_banner(shadow: &Shadow, names: &[String]) -> Vec<String> {
    shadow
        .channels()
        .iter()
        .enumerate()
        .filter(|(_, c)| c.alarmed())
        .map(|(i, c)| {
            let name = names.get(i).map_or("?", String::as_str);
            let mut what = Vec::new();
            if c.current_alarm.active {
                what.push(alarm_text(AlarmKind::LowCurrent));
            }
            if c.position_alarm.active {
                what.push(alarm_text(AlarmKind::Position));
            }
            format!("ALARM: channel {i} ({name}) — {}", what.join(" / "))
        })
        .collect()
}

pub fn header_view(state: &MirrorState, link: &Link) -> HeaderView {
    let linkline = match &link.view.state {
        LinkState::Connected => (format!("{} — connected", link.source.label()), Level::Ok),
        LinkState::Disconnected { reason } => (
            format!("{} — disconnected: {reason}", link.source.label()),
            Level::Bad,
        ),
        other => (format!("{} — {other:?}", link.source.label()), Level::Warn),
    };
    let refusal = if link.view.state.is_connected() {
        None
    } else {
        state
            .safety
            .refusal
            .as_ref()
            .map(|r| format!("Commands withheld: {r}"))
    };
    let alarms = state
        .shadow
        .shadow
        .as_ref()
        .map(|s| alarm_banner(s, &link.channel_names))
        .unwrap_or_default();
    let recording = state.recording.elapsed(state.now).map(|e| {
        format!(
            "REC {:.1} s · {} msgs · {} segment(s)",
            e.as_secs_f64(),
            state.recording.stats.messages,
            state.recording.stats.segments
        )
    });
    let tap = (
        format!(
            "tap: {} frames · decode errors {} · dropped {}",
            state.packets.total(),
            state.decode_errors,
            state.dropped
        ),
        if state.decode_errors > 0 || state.dropped > 0 {
            Level::Bad
        } else {
            Level::Info
        },
    );
    HeaderView {
        link: linkline,
        refusal,
        alarms,
        recording,
        tap,
    }
}

/// One row of the shadow divergence table.
#[derive(Debug, Clone, PartialEq)]
pub struct ShadowRow {
    pub index: usize,
    pub name: String,
    pub commanded: f32,
    pub measured: f32,
    pub simulated: f32,
    pub position_error: f32,
    pub measured_ma: f32,
    pub simulated_ma: f32,
    pub current_ratio: Option<f32>,
    pub position_alarm: bool,
    pub current_alarm: bool,
}

pub fn shadow_rows(shadow: &Shadow, names: &[String]) -> Vec<ShadowRow> {
    shadow
        .channels()
        .iter()
        .enumerate()
        .map(|(i, c)| ShadowRow {
            index: i,
            name: names.get(i).cloned().unwrap_or_else(|| format!("ch{i}")),
            commanded: c.commanded,
            measured: c.measured_position,
            simulated: c.simulated_position,
            position_error: c.position_error,
            measured_ma: c.measured_current_ma,
            simulated_ma: c.simulated_current_ma,
            current_ratio: c.current_ratio,
            position_alarm: c.position_alarm.active,
            current_alarm: c.current_alarm.active,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The plugin
// ---------------------------------------------------------------------------------------------

/// The engineer's mirror: plots, packet monitor, recording / replay, shadow mode, calibration.
#[derive(Debug, Default)]
pub struct MirrorPlugin {
    /// Pause the plots and the packet monitor after this many frames (screenshot automation:
    /// a scrolling plot never gives a stable picture).
    pub freeze_after_frames: Option<u32>,
}

impl Plugin for MirrorPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<MirrorState>()
            .insert_resource(MirrorUi::new(self.freeze_after_frames))
            .init_resource::<ReplayPose>()
            .add_message::<MirrorRequest>()
            .add_systems(Update, (handle_requests, ingest, drive_replay).chain())
            .add_systems(Last, apply_calibration)
            .init_resource::<Dock>()
            .init_resource::<ReservedEdges>()
            .add_systems(
                EguiPrimaryContextPass,
                mirror_dock.in_set(super::ui::DockSet),
            );
    }
}

/// The window's tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Plots,
    Packets,
    Record,
    Shadow,
    Calibrate,
}

/// UI-only state of the mirror window.
#[derive(Resource, Debug)]
pub struct MirrorUi {
    pub tab: Tab,
    pub selected: Vec<usize>,
    pub window_s: f64,
    pub plots_paused: bool,
    /// The plots as they were when paused.
    frozen: Option<PlotsView>,
    reset_plots: bool,
    pub filter: PacketFilter,
    pub export_path: String,
    pub export_status: Option<Result<String, String>>,
    pub record_prefix: String,
    pub replay_path: String,
    pub speed: f64,
    pub inject_channel: usize,
    pub inject_kind: FaultKind,
    pub inject_active: bool,
    pub calib_channel: usize,
    pub calib_path: String,
    freeze_after: Option<u32>,
    frames: u32,
    /// Screenshot mode: the shadow table as it was when the picture froze.
    frozen_shadow: Option<Vec<ShadowRow>>,
    screenshot_frozen: bool,
}

fn default_prefix() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("recordings/session-{secs}")
}

impl MirrorUi {
    pub fn new(freeze_after: Option<u32>) -> Self {
        Self {
            tab: Tab::Plots,
            selected: DEFAULT_SELECTED.to_vec(),
            window_s: DEFAULT_WINDOW_S,
            plots_paused: false,
            frozen: None,
            reset_plots: false,
            filter: PacketFilter::default(),
            export_path: "recordings/packets.txt".into(),
            export_status: None,
            record_prefix: default_prefix(),
            replay_path: String::new(),
            speed: 1.0,
            inject_channel: 12,
            inject_kind: FaultKind::TornTendon,
            inject_active: true,
            calib_channel: 12,
            calib_path: "calibration.ron".into(),
            freeze_after,
            frames: 0,
            frozen_shadow: None,
            screenshot_frozen: false,
        }
        .with_tab_from_env()
    }

    /// `FACETWIN_MIRROR_TAB=plots|packets|record|shadow|calibrate` opens that tab at start
    /// (README pictures, screenshots of a given tab).
    fn with_tab_from_env(mut self) -> Self {
        if let Ok(t) = std::env::var("FACETWIN_MIRROR_TAB") {
            self.tab = match t.to_ascii_lowercase().as_str() {
                "packets" => Tab::Packets,
                "record" | "replay" => Tab::Record,
                "shadow" => Tab::Shadow,
                "calibrate" | "calibration" => Tab::Calibrate,
                _ => Tab::Plots,
            };
        }
        self
    }
}

fn color(level: Level) -> egui::Color32 {
    match level {
        Level::Ok => egui::Color32::LIGHT_GREEN,
        Level::Info => egui::Color32::GRAY,
        Level::Warn => egui::Color32::from_rgb(255, 190, 80),
        Level::Bad => egui::Color32::from_rgb(255, 110, 110),
    }
}

const ALARM_RED: egui::Color32 = egui::Color32::from_rgb(255, 90, 90);

fn status_line(ui: &mut egui::Ui, status: &Option<Result<String, String>>) {
    match status {
        Some(Ok(s)) => {
            ui.label(
                egui::RichText::new(s)
                    .small()
                    .color(egui::Color32::LIGHT_GREEN),
            );
        }
        Some(Err(e)) => {
            ui.label(
                egui::RichText::new(format!("⚠ {e}"))
                    .small()
                    .color(ALARM_RED),
            );
        }
        None => {}
    }
}

/// Colour of the k-th selected channel.
fn series_color(k: usize) -> egui::Color32 {
    const C: [egui::Color32; 6] = [
        egui::Color32::from_rgb(90, 180, 255),
        egui::Color32::from_rgb(255, 200, 80),
        egui::Color32::from_rgb(140, 230, 140),
        egui::Color32::from_rgb(230, 130, 230),
        egui::Color32::from_rgb(120, 230, 230),
        egui::Color32::from_rgb(240, 150, 100),
    ];
    C[k % C.len()]
}

/// The mirror in the bottom dock (full width, under the face) when its tab is chosen.
#[allow(clippy::too_many_arguments)]
fn mirror_dock(
    mut contexts: EguiContexts,
    mut state: ResMut<MirrorState>,
    mut mui: ResMut<MirrorUi>,
    link: Res<Link>,
    mut dock: ResMut<Dock>,
    mut reserved: ResMut<ReservedEdges>,
    mut requests: MessageWriter<MirrorRequest>,
    mut link_requests: MessageWriter<LinkRequest>,
) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    dock.mirror_alert = !state.alarmed().is_empty();
    if super::ui::is_hidden() {
        return Ok(());
    }
    let mui = &mut *mui;
    mui.frames = mui.frames.saturating_add(1);
    if mui.freeze_after.is_some_and(|n| mui.frames >= n) {
        mui.freeze_after = None;
        mui.plots_paused = true;
        mui.screenshot_frozen = true;
        state.packets.set_paused(true);
    }
    if dock.tab != DockTab::Mirror {
        // The timeline's panel (drawn next) sets its own height.
        reserved.bottom = 0.0;
        return Ok(());
    }
    let viewport = ctx.viewport_rect();
    let mut root = super::ui::root_ui(&ctx, "facetwin-mirror-root", viewport);
    let mut out = Vec::new();
    // A fixed height: a panel sized by its content would jump with every tab switch (and
    // the face with it).
    let height = (viewport.height() * 0.46).clamp(220.0, 520.0);
    let panel = egui::Panel::bottom("dock-mirror")
        .exact_size(height)
        .resizable(false)
        .show(&mut root, |ui| {
            super::ui::dock_tabs(ui, &mut dock);
            mirror_ui(ui, &mut state, mui, &link, &mut out, &mut link_requests);
        });
    reserved.bottom = (viewport.bottom() - panel.response.rect.top()).max(0.0);
    for r in out {
        requests.write(r);
    }
    Ok(())
}

/// The mirror's contents (header, tabs, the chosen tab).
pub fn mirror_ui(
    ui: &mut egui::Ui,
    state: &mut MirrorState,
    mui: &mut MirrorUi,
    link: &Link,
    out: &mut Vec<MirrorRequest>,
    link_requests: &mut MessageWriter<LinkRequest>,
) {
    let header = header_view(state, link);
    ui.horizontal_wrapped(|ui| {
        let stop = egui::Button::new(
            egui::RichText::new("E-STOP (Esc)")
                .strong()
                .color(egui::Color32::WHITE),
        )
        .fill(egui::Color32::from_rgb(190, 20, 20));
        if ui.add(stop).clicked() {
            link_requests.write(LinkRequest::EmergencyStop);
        }
        ui.label(
            egui::RichText::new(&header.link.0)
                .small()
                .color(color(header.link.1)),
        );
        if let Some(rec) = &header.recording {
            ui.label(egui::RichText::new(rec).small().strong().color(ALARM_RED));
        }
        ui.label(
            egui::RichText::new(&header.tap.0)
                .small()
                .color(color(header.tap.1)),
        );
    });
    if let Some(r) = &header.refusal {
        ui.label(egui::RichText::new(r).small().strong().color(ALARM_RED));
    }
    for a in &header.alarms {
        egui::Frame::new()
            .fill(egui::Color32::from_rgb(120, 10, 10))
            .inner_margin(4.0)
            .show(ui, |ui| {
                ui.label(egui::RichText::new(a).strong().color(egui::Color32::WHITE));
            });
    }
    ui.horizontal(|ui| {
        for (tab, label) in [
            (Tab::Plots, "Plots"),
            (Tab::Packets, "Packets"),
            (Tab::Record, "Record / replay"),
            (Tab::Shadow, "Shadow"),
            (Tab::Calibrate, "Calibrate"),
        ] {
            ui.selectable_value(&mut mui.tab, tab, label);
        }
    });
    ui.separator();
    match mui.tab {
        Tab::Plots => plots_tab_ui(ui, state, mui, link),
        Tab::Packets => packets_tab_ui(ui, state, mui),
        Tab::Record => record_tab_ui(ui, state, mui, link, out),
        Tab::Shadow => shadow_tab_ui(ui, state, mui, link, out),
        Tab::Calibrate => calibrate_tab_ui(ui, state, mui, link, out),
    }
}

fn channel_combo(ui: &mut egui::Ui, id: &str, names: &[String], value: &mut usize, width: f32) {
    let text = names
        .get(*value)
        .map_or_else(|| format!("ch{value}"), |n| format!("{value} {n}"));
    egui::ComboBox::from_id_salt(id)
        .selected_text(text)
        .width(width)
        .show_ui(ui, |ui| {
            for (i, n) in names.iter().enumerate() {
                ui.selectable_value(value, i, format!("{i} {n}"));
            }
        });
}

fn plots_tab_ui(ui: &mut egui::Ui, state: &MirrorState, mui: &mut MirrorUi, link: &Link) {
    ui.horizontal(|ui| {
        let label = if mui.plots_paused { "Resume" } else { "Pause" };
        if ui.button(label).clicked() {
            mui.plots_paused = !mui.plots_paused;
            if !mui.plots_paused {
                mui.frozen = None;
                mui.reset_plots = true;
            }
        }
        ui.label("window");
        let r = ui.add(
            egui::DragValue::new(&mut mui.window_s)
                .range(1.0..=HISTORY_S)
                .speed(0.2)
                .suffix(" s"),
        );
        if r.changed() {
            mui.reset_plots = true;
            mui.frozen = None;
        }
        let mut add = usize::MAX;
        egui::ComboBox::from_id_salt("mirror-add-channel")
            .selected_text("+ channel")
            .width(110.0)
            .show_ui(ui, |ui| {
                for (i, n) in link.channel_names.iter().enumerate() {
                    ui.selectable_value(&mut add, i, format!("{i} {n}"));
                }
            });
        if add != usize::MAX && !mui.selected.contains(&add) {
            mui.selected.push(add);
            mui.frozen = None;
        }
    });
    ui.horizontal_wrapped(|ui| {
        let mut remove = None;
        for (k, &c) in mui.selected.iter().enumerate() {
            let name = link.channel_names.get(c).map_or("?", String::as_str);
            let chip = egui::Button::new(
                egui::RichText::new(format!("{c} {name} ×"))
                    .small()
                    .color(series_color(k)),
            );
            if ui
                .add(chip)
                .on_hover_text("remove from the plots")
                .clicked()
            {
                remove = Some(k);
            }
        }
        if let Some(k) = remove {
            mui.selected.remove(k);
            mui.frozen = None;
        }
        if mui.plots_paused {
            ui.label(
                egui::RichText::new("paused: drag / scroll to zoom, double-click to reset")
                    .small()
                    .color(egui::Color32::from_rgb(255, 190, 80)),
            );
        }
    });
    let alarmed = state.alarmed();
    let view = if mui.plots_paused {
        if mui.frozen.is_none() {
            mui.frozen = Some(plots_view(
                &state.history,
                &link.channel_names,
                &link.limits,
                &mui.selected,
                mui.window_s,
                &alarmed,
            ));
        }
        mui.frozen.clone().unwrap_or_default()
    } else {
        plots_view(
            &state.history,
            &link.channel_names,
            &link.limits,
            &mui.selected,
            mui.window_s,
            &alarmed,
        )
    };
    let reset = std::mem::take(&mut mui.reset_plots);
    egui::ScrollArea::vertical()
        .id_salt("mirror-plots-scroll")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            let live = !mui.plots_paused;
            let sparks = |ui: &mut egui::Ui, selected: &[usize]| {
                ui.label(
                    egui::RichText::new("all channels · position (click to plot)")
                        .small()
                        .strong(),
                );
                sparklines_ui(ui, &view.sparklines, selected)
            };
            // Wide (the dock): detail plots left, the 25 sparklines right; narrow: stacked.
            let total = ui.available_width();
            let clicked = if total >= 1000.0 {
                let top_down = egui::Layout::top_down(egui::Align::Min);
                ui.horizontal_top(|ui| {
                    let left = (total * 0.6).floor();
                    ui.allocate_ui_with_layout(egui::vec2(left, 0.0), top_down, |ui| {
                        ui.set_width(left);
                        plots_ui(ui, &view, live, reset);
                    });
                    ui.separator();
                    let right = ui.available_width();
                    ui.allocate_ui_with_layout(egui::vec2(right, 0.0), top_down, |ui| {
                        ui.set_width(right);
                        sparks(ui, &mui.selected)
                    })
                    .inner
                })
                .inner
            } else {
                plots_ui(ui, &view, live, reset);
                ui.add_space(4.0);
                sparks(ui, &mui.selected)
            };
            if let Some(c) = clicked {
                if let Some(k) = mui.selected.iter().position(|&s| s == c) {
                    mui.selected.remove(k);
                } else {
                    mui.selected.push(c);
                }
                mui.frozen = None;
            }
        });
}

type Pick = fn(&ChannelSeries) -> &[PlotPoint];

/// The four detail plots (position with commands and fault markers, velocity, current,
/// temperature) for the selected channels, x in seconds before now.
pub fn plots_ui(ui: &mut egui::Ui, view: &PlotsView, live: bool, reset: bool) {
    let w = ((ui.available_width() - 8.0) / 2.0).max(120.0);
    // Never zoom into noise: each plot spans at least this much of its quantity.
    let plot = |id: &'static str, h: f32, pick: Pick, min_span: f64| {
        let (lo, hi) = view
            .series
            .iter()
            .flat_map(|s| {
                pick(s).iter().chain(if id == "mirror-pos" {
                    s.commanded.as_slice()
                } else {
                    &[]
                })
            })
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
                (lo.min(p.y), hi.max(p.y))
            });
        let mut p = Plot::new(id)
            .width(w)
            .height(h)
            .default_x_bounds(-view.window, 0.0)
            .auto_bounds([false, true])
            .link_axis("mirror-plots", [true, false])
            .link_cursor("mirror-plots", [true, false])
            .allow_scroll(!live)
            .allow_drag(!live)
            .y_axis_min_width(30.0);
        if lo.is_finite() && hi.is_finite() && hi - lo < min_span {
            let mid = 0.5 * (lo + hi);
            p = p
                .include_y(mid - 0.5 * min_span)
                .include_y(mid + 0.5 * min_span);
        }
        if reset || live {
            p = p.reset();
        }
        p
    };
    let quantities: [(&'static str, &'static str, Pick, f64); 4] = [
        (
            "mirror-pos",
            "position (travel) — solid measured, dashed commanded",
            |s| &s.position,
            0.2,
        ),
        ("mirror-vel", "velocity (travel/s)", |s| &s.velocity, 0.2),
        ("mirror-cur", "current (mA)", |s| &s.current_ma, 40.0),
        ("mirror-temp", "temperature (°C)", |s| &s.temperature_c, 4.0),
    ];
    egui::Grid::new("mirror-plot-grid")
        .num_columns(2)
        .spacing([6.0, 2.0])
        .show(ui, |ui| {
            for (k, (id, title, pick, min_span)) in quantities.into_iter().enumerate() {
                ui.vertical(|ui| {
                    ui.label(egui::RichText::new(title).small());
                    plot(id, 96.0, pick, min_span).show(ui, |pu| {
                        for (j, s) in view.series.iter().enumerate() {
                            let c = series_color(j);
                            let name = format!("{} {}", s.channel, s.name);
                            pu.line(Line::new(name.clone(), pick(s)).color(c).width(1.5));
                            if k == 0 {
                                pu.line(
                                    Line::new(format!("{name} cmd"), s.commanded.as_slice())
                                        .color(c.gamma_multiply(0.8))
                                        .style(LineStyle::dashed_loose())
                                        .width(1.0),
                                );
                            }
                            for m in &s.fault_marks {
                                pu.vline(
                                    VLine::new(
                                        format!(
                                            "fault {}",
                                            facetwin_mirror::record::fault_names(m.faults)
                                        ),
                                        m.t,
                                    )
                                    .color(ALARM_RED)
                                    .width(1.0),
                                );
                            }
                            if k == 0 && !s.fault_marks.is_empty() {
                                let pts: Vec<[f64; 2]> =
                                    s.fault_marks.iter().map(|m| [m.t, m.position]).collect();
                                pu.points(
                                    Points::new(format!("{name} faults"), pts)
                                        .shape(MarkerShape::Cross)
                                        .radius(5.0)
                                        .color(ALARM_RED),
                                );
                            }
                        }
                    });
                });
                if k % 2 == 1 {
                    ui.end_row();
                }
            }
        });
}

/// The 25 channels as small position sparklines; returns a clicked channel.
pub fn sparklines_ui(ui: &mut egui::Ui, sparks: &[Sparkline], selected: &[usize]) -> Option<usize> {
    let cols = 5usize;
    let gap = 3.0;
    let w = ((ui.available_width() - gap * (cols as f32 - 1.0)) / cols as f32).max(60.0);
    let h = 28.0;
    let mut clicked = None;
    egui::Grid::new("mirror-sparklines")
        .spacing([gap, gap])
        .show(ui, |ui| {
            for (k, s) in sparks.iter().enumerate() {
                let (rect, resp) = ui.allocate_exact_size(egui::vec2(w, h), egui::Sense::click());
                let painter = ui.painter_at(rect);
                let bg = if s.alarm {
                    egui::Color32::from_rgb(110, 20, 20)
                } else if s.faults != 0 {
                    egui::Color32::from_rgb(90, 55, 10)
                } else if selected.contains(&s.channel) {
                    egui::Color32::from_rgb(25, 45, 70)
                } else {
                    egui::Color32::from_gray(32)
                };
                painter.rect_filled(rect, 2.0, bg);
                let (lo, hi) = s.limits;
                let span = (hi - lo).max(1e-3);
                let y =
                    |v: f32| rect.bottom() - 2.0 - ((v - lo) / span).clamp(0.0, 1.0) * (h - 4.0);
                if let Some(c) = s.commanded {
                    painter.line_segment(
                        [
                            egui::pos2(rect.left(), y(c)),
                            egui::pos2(rect.right(), y(c)),
                        ],
                        egui::Stroke::new(1.0, egui::Color32::from_gray(90)),
                    );
                }
                let pts: Vec<egui::Pos2> = s
                    .measured
                    .iter()
                    .map(|&(x, v)| egui::pos2(rect.left() + x * w, y(v)))
                    .collect();
                if pts.len() >= 2 {
                    painter.line(
                        pts,
                        egui::Stroke::new(1.2, egui::Color32::from_rgb(110, 200, 255)),
                    );
                }
                let short: String = s.name.chars().take(16).collect();
                painter.text(
                    rect.left_top() + egui::vec2(2.0, 1.0),
                    egui::Align2::LEFT_TOP,
                    format!("{} {short}", s.channel),
                    egui::FontId::proportional(9.0),
                    egui::Color32::from_gray(200),
                );
                if let Some(v) = s.latest {
                    painter.text(
                        rect.right_bottom() + egui::vec2(-2.0, -1.0),
                        egui::Align2::RIGHT_BOTTOM,
                        format!("{v:+.2}"),
                        egui::FontId::monospace(9.0),
                        egui::Color32::from_gray(170),
                    );
                }
                let resp = resp.on_hover_text(format!(
                    "{} {}: measured {} · commanded {} · faults {}{}",
                    s.channel,
                    s.name,
                    s.latest.map_or("-".into(), |v| format!("{v:+.3}")),
                    s.commanded.map_or("-".into(), |v| format!("{v:+.3}")),
                    facetwin_mirror::record::fault_names(s.faults),
                    if s.alarm { " · SHADOW ALARM" } else { "" }
                ));
                if resp.clicked() {
                    clicked = Some(s.channel);
                }
                if (k + 1) % cols == 0 {
                    ui.end_row();
                }
            }
        });
    clicked
}

fn packets_tab_ui(ui: &mut egui::Ui, state: &mut MirrorState, mui: &mut MirrorUi) {
    ui.horizontal(|ui| {
        egui::ComboBox::from_id_salt("mirror-pkt-dir")
            .width(86.0)
            .selected_text(match mui.filter.direction {
                DirectionFilter::Both => "both ways",
                DirectionFilter::ToHead => "→ to head",
                DirectionFilter::FromHead => "← from head",
            })
            .show_ui(ui, |ui| {
                ui.selectable_value(
                    &mut mui.filter.direction,
                    DirectionFilter::Both,
                    "both ways",
                );
                ui.selectable_value(
                    &mut mui.filter.direction,
                    DirectionFilter::ToHead,
                    "→ to head",
                );
                ui.selectable_value(
                    &mut mui.filter.direction,
                    DirectionFilter::FromHead,
                    "← from head",
                );
            });
        egui::ComboBox::from_id_salt("mirror-pkt-type")
            .width(120.0)
            .selected_text(
                mui.filter
                    .msg_type
                    .map_or_else(|| "all types".to_owned(), |t| format!("{t:?}")),
            )
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut mui.filter.msg_type, None, "all types");
                for t in MsgType::ALL {
                    ui.selectable_value(&mut mui.filter.msg_type, Some(t), format!("{t:?}"));
                }
            });
        ui.add(
            egui::TextEdit::singleline(&mut mui.filter.text)
                .hint_text("text filter")
                .desired_width(110.0),
        );
        let label = if state.packets.is_paused() {
            "Resume"
        } else {
            "Pause"
        };
        if ui.button(label).clicked() {
            let paused = state.packets.is_paused();
            state.packets.set_paused(!paused);
        }
        if ui.button("Clear").clicked() {
            state.packets.clear();
        }
    });
    let rows = filtered_rows(&state.packets, &mui.filter);
    ui.horizontal(|ui| {
        ui.label(
            egui::RichText::new(format!(
                "{} of {} rows{}",
                rows.len(),
                state.packets.rows.len(),
                if state.packets.is_paused() {
                    let lost = state.packets.skipped;
                    format!(
                        " · paused: {} new frames held for the resume{}",
                        state.packets.held(),
                        if lost > 0 {
                            format!(", {lost} oldest lost")
                        } else {
                            String::new()
                        }
                    )
                } else {
                    String::new()
                }
            ))
            .small(),
        );
        let errors = state
            .packets
            .rows
            .iter()
            .filter(|r| r.severity == Severity::Error)
            .count();
        let level = if state.decode_errors > 0 || errors > 0 {
            Level::Bad
        } else {
            Level::Info
        };
        ui.label(
            egui::RichText::new(format!(
                "decode errors {} · error acks {errors}",
                state.decode_errors
            ))
            .small()
            .color(color(level)),
        );
    });
    ui.label(
        egui::RichText::new(format!(
            "{:>9} {} {:>3} {:<16} {}",
            "t (s)", "d", "seq", "type", "decoded"
        ))
        .monospace()
        .size(10.5)
        .color(egui::Color32::from_gray(150)),
    );
    let row_h = 14.0;
    let table_h = (ui.available_height() - 56.0).max(80.0);
    egui::ScrollArea::both()
        .id_salt("mirror-packets")
        .max_height(table_h)
        .auto_shrink([false, false])
        .stick_to_bottom(true)
        .show_rows(ui, row_h, rows.len(), |ui, range| {
            for r in rows.get(range).unwrap_or(&[]) {
                let c = match (r.severity, r.direction) {
                    (Severity::Error, _) => ALARM_RED,
                    (Severity::Warning, _) => egui::Color32::from_rgb(255, 190, 80),
                    (Severity::Normal, Direction::ToHead) => egui::Color32::from_rgb(150, 200, 255),
                    (Severity::Normal, Direction::FromHead) => egui::Color32::from_gray(200),
                };
                ui.add(
                    egui::Label::new(
                        egui::RichText::new(row_text(r))
                            .monospace()
                            .size(10.5)
                            .color(c),
                    )
                    .extend(),
                );
            }
        });
    ui.separator();
    ui.horizontal(|ui| {
        ui.label("export");
        ui.add(egui::TextEdit::singleline(&mut mui.export_path).desired_width(200.0));
        if ui
            .button(format!("Export {} rows", rows.len()))
            .on_hover_text("the filtered rows: time, direction, seq, type, raw hex, decoded")
            .clicked()
        {
            let path = PathBuf::from(mui.export_path.trim());
            mui.export_status = Some(if mui.export_path.trim().is_empty() {
                Err("give a file path".into())
            } else {
                export_packets(&rows, &path)
                    .map(|n| format!("wrote {n} rows to {}", path.display()))
            });
        }
    });
    status_line(ui, &mui.export_status);
}

fn record_tab_ui(
    ui: &mut egui::Ui,
    state: &MirrorState,
    mui: &mut MirrorUi,
    link: &Link,
    out: &mut Vec<MirrorRequest>,
) {
    egui::ScrollArea::both()
        .id_salt("mirror-record")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            ui.label(egui::RichText::new("Recording (MCAP, 1 s crash-safe segments)").strong());
            ui.horizontal(|ui| {
                ui.label("prefix");
                ui.add_enabled(
                    !state.recording.is_recording(),
                    egui::TextEdit::singleline(&mut mui.record_prefix).desired_width(240.0),
                );
                if state.recording.is_recording() {
                    if ui.button("Stop recording").clicked() {
                        out.push(MirrorRequest::StopRecording);
                        if let Some(p) = &state.recording.prefix {
                            mui.replay_path = p.display().to_string();
                        }
                        mui.record_prefix = default_prefix();
                    }
                } else if ui
                    .button(egui::RichText::new("Record").strong().color(ALARM_RED))
                    .clicked()
                {
                    out.push(MirrorRequest::StartRecording(PathBuf::from(
                        mui.record_prefix.trim(),
                    )));
                }
            });
            if let Some(e) = state.recording.elapsed(state.now) {
                let s = state.recording.stats;
                ui.label(
                    egui::RichText::new(format!(
                        "{:.1} s · {} messages ({} telemetry, {} commands, {} head, {} events) · \
                         {} segment(s), {} kB",
                        e.as_secs_f64(),
                        s.messages,
                        s.telemetry,
                        s.commands,
                        s.head_messages,
                        s.events,
                        s.segments,
                        s.bytes / 1024
                    ))
                    .small(),
                );
            }
            status_line(ui, &state.recording.status);
            ui.separator();
            ui.label(egui::RichText::new("Replay").strong());
            ui.horizontal(|ui| {
                ui.label("path");
                ui.add(
                    egui::TextEdit::singleline(&mut mui.replay_path)
                        .hint_text("recordings/session-… (prefix, dir or .mcap)")
                        .desired_width(240.0),
                );
                if ui.button("Open").clicked() {
                    out.push(MirrorRequest::OpenReplay(PathBuf::from(
                        mui.replay_path.trim(),
                    )));
                }
                if state.replay.replay.is_some() && ui.button("Close").clicked() {
                    out.push(MirrorRequest::CloseReplay);
                }
            });
            status_line(ui, &state.replay.status);
            let Some(replay) = &state.replay.replay else {
                return;
            };
            let dur = replay.duration().as_secs_f64();
            let mut t = state.replay.position.as_secs_f64();
            ui.horizontal(|ui| {
                ui.spacing_mut().slider_width = (ui.available_width() - 90.0).max(120.0);
                let r = ui.add(
                    egui::Slider::new(&mut t, 0.0..=dur.max(1e-3))
                        .suffix(" s")
                        .fixed_decimals(2),
                );
                if r.changed() {
                    out.push(MirrorRequest::Seek(Duration::from_secs_f64(t.max(0.0))));
                }
            });
            ui.horizontal(|ui| {
                for s in [1.0, 2.0, 4.0] {
                    ui.selectable_value(&mut mui.speed, s, format!("{s}×"));
                }
                if state.replay.playing {
                    if ui.button("Pause").clicked() {
                        out.push(MirrorRequest::PauseReplay);
                    }
                } else if ui.button("Play on the face").clicked() {
                    out.push(MirrorRequest::PlayReplay(mui.speed));
                }
                let mut show = state.replay.show_on_face;
                if ui.checkbox(&mut show, "face shows the replay").changed() {
                    out.push(MirrorRequest::ShowReplayOnFace(show));
                }
            });
            let sim_label = if link.source == Source::Simulated {
                "Play its commands on the simulated head"
            } else {
                "Switch to the simulated head and play its commands"
            };
            if ui
                .button(sim_label)
                .on_hover_text("the recorded SetTargets poses, at the chosen speed")
                .clicked()
            {
                out.push(MirrorRequest::PlayOnSimulatedHead(mui.speed));
            }
            if let Some(p) = link.view.playhead {
                ui.label(
                    egui::RichText::new(format!("link playing: {:.2} s", p.as_secs_f64())).small(),
                );
            }
            let pos = state.replay.position.as_secs_f64();
            Plot::new("mirror-replay-overview")
                .height(110.0)
                .legend(Legend::default().text_style(egui::TextStyle::Small))
                .y_axis_min_width(30.0)
                .show(ui, |pu| {
                    for (k, &c) in mui.selected.iter().enumerate() {
                        if let Some(series) = state.replay.overview.get(c) {
                            let name = link.channel_names.get(c).map_or("?", String::as_str);
                            pu.line(
                                Line::new(format!("{c} {name}"), series.as_slice())
                                    .color(series_color(k)),
                            );
                        }
                    }
                    for m in &state.replay.marks {
                        let color = match m.kind.as_str() {
                            "fault" | "alarm" => ALARM_RED,
                            _ => egui::Color32::from_rgb(255, 190, 80),
                        };
                        // One legend entry per kind; the list below the plot says what.
                        pu.vline(
                            VLine::new(m.kind.clone(), m.t_s)
                                .color(color.gamma_multiply(0.8))
                                .width(1.0),
                        );
                    }
                    pu.vline(VLine::new("playhead", pos).color(egui::Color32::WHITE));
                });
            let shown: Vec<&ReplayMark> = state
                .replay
                .marks
                .iter()
                .filter(|m| m.kind != "session")
                .take(6)
                .collect();
            for m in shown {
                ui.label(
                    egui::RichText::new(format!("{:>8.3} s  {}", m.t_s, m.text))
                        .small()
                        .monospace()
                        .color(match m.kind.as_str() {
                            "fault" | "alarm" => ALARM_RED,
                            _ => egui::Color32::from_gray(200),
                        }),
                );
            }
        });
}

fn shadow_tab_ui(
    ui: &mut egui::Ui,
    state: &MirrorState,
    mui: &mut MirrorUi,
    link: &Link,
    out: &mut Vec<MirrorRequest>,
) {
    let mut on = state.shadow.shadow.is_some();
    if ui
        .checkbox(
            &mut on,
            "Shadow mode: a simulated head fed the same commands, compared per motor",
        )
        .changed()
    {
        out.push(MirrorRequest::Shadow(on));
    }
    ui.horizontal(|ui| {
        ui.label("inject");
        channel_combo(
            ui,
            "mirror-inject-ch",
            &link.channel_names,
            &mut mui.inject_channel,
            150.0,
        );
        egui::ComboBox::from_id_salt("mirror-inject-kind")
            .width(100.0)
            .selected_text(format!("{:?}", mui.inject_kind))
            .show_ui(ui, |ui| {
                for k in FaultKind::ALL {
                    ui.selectable_value(&mut mui.inject_kind, k, format!("{k:?}"));
                }
            });
        ui.checkbox(&mut mui.inject_active, "on");
        let blocked = command_blocker(link);
        let r = ui.add_enabled(blocked.is_none(), egui::Button::new("Inject fault"));
        let r = match &blocked {
            Some(why) => r.on_disabled_hover_text(why.clone()),
            None => {
                r.on_hover_text("queues InjectFault (simulated heads and `facetwin head --pty`)")
            }
        };
        if r.clicked() {
            out.push(MirrorRequest::InjectFault {
                channel: u8::try_from(mui.inject_channel).unwrap_or(0),
                kind: mui.inject_kind,
                active: mui.inject_active,
            });
        }
    });
    status_line(ui, &state.inject_status);
    if matches!(link.source, Source::Mirror { .. }) && state.shadow.shadow.is_some() {
        ui.label(
            egui::RichText::new(
                "mirror mode: the host sends no commands, so the shadow has nothing to follow \
                 (position alarms mean the head moved on someone else's commands)",
            )
            .small()
            .color(color(Level::Warn)),
        );
    }
    let Some(shadow) = &state.shadow.shadow else {
        ui.label(
            egui::RichText::new(
                "Off. Turn it on, hold a pose (e.g. zygomaticus_major_l at 0.7) and inject a \
                 TornTendon: the low-current alarm appears within a fraction of a second.",
            )
            .small(),
        );
        return;
    };
    let rows = match &mui.frozen_shadow {
        Some(rows) => rows.clone(),
        None => shadow_rows(shadow, &link.channel_names),
    };
    if mui.screenshot_frozen && mui.frozen_shadow.is_none() {
        mui.frozen_shadow = Some(rows.clone());
    }
    egui::ScrollArea::both()
        .id_salt("mirror-shadow")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            egui::Grid::new("mirror-shadow-grid")
                .striped(true)
                .num_columns(8)
                .spacing([8.0, 1.0])
                .show(ui, |ui| {
                    for h in [
                        "ch",
                        "name",
                        "cmd",
                        "meas",
                        "sim",
                        "Δpos",
                        "I meas/sim mA",
                        "ratio",
                        "alarm",
                    ] {
                        ui.label(egui::RichText::new(h).small().strong());
                    }
                    ui.end_row();
                    for r in &rows {
                        let alarm = r.position_alarm || r.current_alarm;
                        let c = if alarm {
                            ALARM_RED
                        } else {
                            egui::Color32::from_gray(200)
                        };
                        let cell = |ui: &mut egui::Ui, s: String| {
                            ui.label(egui::RichText::new(s).monospace().size(10.5).color(c));
                        };
                        cell(ui, r.index.to_string());
                        cell(ui, r.name.chars().take(20).collect());
                        cell(ui, format!("{:+.2}", r.commanded));
                        cell(ui, format!("{:+.2}", r.measured));
                        cell(ui, format!("{:+.2}", r.simulated));
                        cell(ui, format!("{:+.3}", r.position_error));
                        cell(ui, format!("{:.0}/{:.0}", r.measured_ma, r.simulated_ma));
                        cell(
                            ui,
                            r.current_ratio.map_or("-".into(), |x| format!("{x:.2}")),
                        );
                        let what = match (r.position_alarm, r.current_alarm) {
                            (true, true) => "POSITION + LOW CURRENT",
                            (true, false) => "POSITION (jam?)",
                            (false, true) => "LOW CURRENT (torn tendon?)",
                            (false, false) => "",
                        };
                        cell(ui, what.into());
                        ui.end_row();
                    }
                });
            ui.separator();
            ui.label(egui::RichText::new("alarm log").small().strong());
            for e in state.shadow.log.iter().rev().take(12) {
                let name = link
                    .channel_names
                    .get(e.channel)
                    .map_or("?", String::as_str);
                ui.label(
                    egui::RichText::new(format!(
                        "{:>8.3} s {} ch{} ({name}) {} · Δpos {:+.3} · ratio {}",
                        e.t.as_secs_f64(),
                        if e.raised { "RAISED " } else { "cleared" },
                        e.channel,
                        alarm_text(e.kind),
                        e.position_error,
                        e.current_ratio.map_or("-".into(), |x| format!("{x:.2}"))
                    ))
                    .monospace()
                    .size(10.5)
                    .color(if e.raised {
                        ALARM_RED
                    } else {
                        egui::Color32::GRAY
                    }),
                );
            }
        });
}

fn calibrate_tab_ui(
    ui: &mut egui::Ui,
    state: &MirrorState,
    mui: &mut MirrorUi,
    link: &Link,
    out: &mut Vec<MirrorRequest>,
) {
    let cal = &state.calibration;
    ui.horizontal(|ui| {
        ui.label("channel");
        channel_combo(
            ui,
            "mirror-calib-ch",
            &link.channel_names,
            &mut mui.calib_channel,
            170.0,
        );
        if cal.calibrator.is_some() {
            if ui.button("Abort").clicked() {
                out.push(MirrorRequest::AbortCalibration);
            }
        } else {
            let blocked = command_blocker(link);
            let r = ui.add_enabled(blocked.is_none(), egui::Button::new("Start"));
            let r = match &blocked {
                Some(why) => r.on_disabled_hover_text(why.clone()),
                None => r.on_hover_text(
                    "lowers the current limit, jogs to both travel ends, finds the rest \
                     position with torque off, restores everything",
                ),
            };
            if r.clicked() {
                out.push(MirrorRequest::StartCalibration(mui.calib_channel));
            }
        }
    });
    if let Some(c) = &cal.calibrator {
        let c = c.lock();
        let elapsed = cal
            .started
            .map_or(0.0, |s| state.now.saturating_sub(s).as_secs_f64());
        ui.label(format!(
            "channel {}: {} · command {:+.2} · {elapsed:.1} s",
            c.channel(),
            c.status(),
            c.commanded()
        ));
        ui.add(egui::ProgressBar::new(cal.progress).show_percentage());
    }
    if let Some((ch, result)) = &cal.last {
        match result {
            Ok(c) => ui.colored_label(
                egui::Color32::LIGHT_GREEN,
                format!(
                    "channel {ch} ({}): min {:+.3} · max {:+.3} · neutral {:+.3} · direction {:+}",
                    c.name, c.min_norm, c.max_norm, c.neutral_norm, c.direction
                ),
            ),
            Err(e) => ui.colored_label(ALARM_RED, format!("channel {ch}: calibration failed: {e}")),
        };
    }
    status_line(ui, &cal.status);
    ui.separator();
    ui.horizontal(|ui| {
        ui.label("file");
        ui.add(egui::TextEdit::singleline(&mut mui.calib_path).desired_width(200.0));
        if ui.button("Save").clicked() {
            out.push(MirrorRequest::SaveCalibration(PathBuf::from(
                mui.calib_path.trim(),
            )));
        }
        if ui.button("Load").clicked() {
            out.push(MirrorRequest::LoadCalibration(PathBuf::from(
                mui.calib_path.trim(),
            )));
        }
    });
    let mut apply = cal.apply;
    if ui
        .checkbox(
            &mut apply,
            "Apply calibration (map the designer's pose on the host)",
        )
        .changed()
    {
        out.push(MirrorRequest::ApplyCalibration(apply));
    }
    if !cal.calibrated.is_empty() || !cal.calibration.channels.is_empty() {
        egui::ScrollArea::both()
            .id_salt("mirror-calib")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                egui::Grid::new("mirror-calib-grid")
                    .striped(true)
                    .spacing([10.0, 1.0])
                    .show(ui, |ui| {
                        for h in ["ch", "name", "min", "max", "neutral", "dir", ""] {
                            ui.label(egui::RichText::new(h).small().strong());
                        }
                        ui.end_row();
                        for (i, c) in cal.calibration.channels.iter().enumerate() {
                            let cell = |ui: &mut egui::Ui, s: String| {
                                ui.label(egui::RichText::new(s).monospace().size(10.5));
                            };
                            cell(ui, i.to_string());
                            cell(ui, c.name.clone());
                            cell(ui, format!("{:+.3}", c.min_norm));
                            cell(ui, format!("{:+.3}", c.max_norm));
                            cell(ui, format!("{:+.3}", c.neutral_norm));
                            cell(ui, format!("{:+}", c.direction));
                            cell(
                                ui,
                                if cal.calibrated.contains(&i) {
                                    "calibrated".into()
                                } else {
                                    String::new()
                                },
                            );
                            ui.end_row();
                        }
                    });
            });
    }
}
