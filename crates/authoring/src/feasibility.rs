//! Can the motors do what a clip asks? Checked against the motor model.
//!
//! For every channel that some track moves (channels without keys are not
//! simulated), the channel's authored curve — the clamped sum of its channel
//! tracks and its AU tracks through the AU table — is split at the key times
//! of those tracks into segments (segment *j* starts at key time *j*; the last
//! one is the hold after the last key). Per channel:
//!
//! * **BeyondTravel**: the unclamped value at a key time lies outside the
//!   channel's travel limits (it will be clamped, the designer should know).
//! * **TooFast**: the authored curve's steepest slope in a segment (finite
//!   differences at ≤ 0.5 ms) exceeds the motor's `max_velocity_norm_s`.
//! * **OverCurrent**: the segment is played through a
//!   [`facetwin_motor::Channel`] at 10 kHz with targets streamed at 100 Hz
//!   (time-to-target 10 ms, see [`crate::playback`]); if the motor current
//!   reaches `current_margin` (95 %) of the current limit — where the firmware
//!   clamps it, i.e. the motion needs more than the limit — the segment is
//!   flagged with the peak current.
//!
//! Every issue carries the largest tracking error `|measured − expected|`
//! the simulated motor produced in that segment, and every simulated
//! channel gets a [`ChannelReport`] with its largest tracking error, peak
//! current and steepest slope. A 2 s clip on all 25 channels costs 25 × 21 000
//! motor ticks (tens of ms, spread over the available cores), fast enough
//! to run after each edit.

use crate::au::AuTable;
use crate::clip::{Clip, Contribution};
use crate::playback::{PlaybackOptions, motor_for_channel, simulate};
use facetwin_head::HeadConfig;

/// What is wrong.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum IssueKind {
    /// The summed value at a key lies outside the travel limits.
    BeyondTravel { value: f32, min: f32, max: f32 },
    /// The segment needs `needed` norm/s; the motor allows `max`.
    TooFast { needed: f32, max: f32 },
    /// The simulated current reached `peak_a` against a limit of `limit_a`.
    OverCurrent { peak_a: f32, limit_a: f32 },
}

/// One problem of one channel, at one key (segment start).
#[derive(Debug, Clone, PartialEq)]
pub struct Issue {
    pub channel: String,
    pub channel_index: usize,
    /// The track and key index the segment starts at (the first contributing
    /// track with a key at that time).
    pub track: Option<usize>,
    pub key_index: Option<usize>,
    pub time_ms: u32,
    pub kind: IssueKind,
    /// Largest |measured − expected| of the simulated motor in this segment.
    pub tracking_error_norm: f32,
}

/// What the simulation of one channel found.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelReport {
    pub channel: String,
    pub channel_index: usize,
    /// Largest |measured − expected| over the whole playback.
    pub max_tracking_error_norm: f32,
    /// Largest |current| over the whole playback, A.
    pub peak_current_a: f32,
    /// Steepest authored slope, norm/s.
    pub peak_speed_needed: f32,
    pub max_velocity_norm_s: f32,
    pub current_limit_a: f32,
}

/// Issues (sorted by channel, then time) and per-channel results.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FeasibilityReport {
    pub issues: Vec<Issue>,
    pub channels: Vec<ChannelReport>,
}

impl FeasibilityReport {
    /// True without issues.
    pub fn is_feasible(&self) -> bool {
        self.issues.is_empty()
    }

    /// The report of one channel.
    pub fn channel(&self, name: &str) -> Option<&ChannelReport> {
        self.channels.iter().find(|c| c.channel == name)
    }
}

/// Options of the check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeasibilityOptions {
    pub playback: PlaybackOptions,
    /// Fraction of the current limit that counts as over-current.
    pub current_margin: f32,
    /// Tolerance on the velocity limit (1.0 = none).
    pub velocity_margin: f32,
    /// Worker threads (0 = available parallelism).
    pub threads: usize,
}

impl Default for FeasibilityOptions {
    fn default() -> Self {
        Self {
            playback: PlaybackOptions::default(),
            current_margin: 0.95,
            velocity_margin: 1.0,
            threads: 0,
        }
    }
}

/// Checks a clip against the head's motors.
pub fn check_clip(
    clip: &Clip,
    table: &AuTable,
    head: &HeadConfig,
    opts: &FeasibilityOptions,
) -> FeasibilityReport {
    let n = table.layout().len().min(head.channels.len());
    let jobs: Vec<(usize, Vec<Contribution>)> = (0..n)
        .map(|ch| (ch, clip.contributions(table, ch)))
        .filter(|(_, c)| !c.is_empty())
        .collect();
    let threads = if opts.threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        opts.threads
    }
    .clamp(1, jobs.len().max(1));
    let mut results: Vec<(Vec<Issue>, ChannelReport)> = if threads == 1 {
        jobs.iter()
            .filter_map(|(ch, c)| check_channel(clip, table, head, *ch, c, opts))
            .collect()
    } else {
        let chunk = jobs.len().div_ceil(threads);
        std::thread::scope(|s| {
            let handles: Vec<_> = jobs
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || {
                        part.iter()
                            .filter_map(|(ch, c)| check_channel(clip, table, head, *ch, c, opts))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    };
    results.sort_by_key(|(_, r)| r.channel_index);
    let mut report = FeasibilityReport::default();
    for (issues, ch) in results {
        report.issues.extend(issues);
        report.channels.push(ch);
    }
    report
}

/// What a channel's check depends on: its contributing tracks (index,
/// weight, keys) and the clip's length.
#[derive(Debug, Clone, PartialEq)]
struct Signature {
    duration_ms: u32,
    tracks: Vec<(Contribution, Vec<crate::timeline::Key>)>,
}

/// Re-checks only the channels whose tracks changed since the last call
/// (an edit of one track re-simulates the channels it moves, ~2 ms each),
/// for running the check after every edit.
#[derive(Debug, Clone, Default)]
pub struct FeasibilityCache {
    entries: Vec<Option<(Signature, Vec<Issue>, ChannelReport)>>,
    opts: Option<FeasibilityOptions>,
    /// Channels simulated by the last [`FeasibilityCache::check`].
    pub last_simulated: usize,
}

impl FeasibilityCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Like [`check_clip`], reusing unchanged channels' results. The cache
    /// is tied to one table and head: call [`FeasibilityCache::clear`]
    /// after changing either.
    pub fn check(
        &mut self,
        clip: &Clip,
        table: &AuTable,
        head: &HeadConfig,
        opts: &FeasibilityOptions,
    ) -> FeasibilityReport {
        if self.opts.as_ref() != Some(opts) {
            self.clear();
            self.opts = Some(*opts);
        }
        let n = table.layout().len().min(head.channels.len());
        self.entries.resize(n, None);
        let mut report = FeasibilityReport::default();
        self.last_simulated = 0;
        for ch in 0..n {
            let contributions = clip.contributions(table, ch);
            if contributions.is_empty() {
                self.entries[ch] = None;
                continue;
            }
            let sig = Signature {
                duration_ms: clip.duration_ms,
                tracks: contributions
                    .iter()
                    .map(|c| (*c, clip.tracks[c.track].keys.clone()))
                    .collect(),
            };
            let fresh = match &self.entries[ch] {
                Some((old, _, _)) => *old != sig,
                None => true,
            };
            if fresh {
                self.last_simulated += 1;
                self.entries[ch] = check_channel(clip, table, head, ch, &contributions, opts)
                    .map(|(issues, r)| (sig, issues, r));
            }
            if let Some((_, issues, r)) = &self.entries[ch] {
                report.issues.extend(issues.iter().cloned());
                report.channels.push(r.clone());
            }
        }
        report
    }

    /// Forgets every cached result.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.opts = None;
    }
}

#[derive(Clone, Copy, Default)]
struct SegStats {
    peak_current: f32,
    max_error: f32,
}

fn check_channel(
    clip: &Clip,
    table: &AuTable,
    head: &HeadConfig,
    ch: usize,
    contributions: &[Contribution],
    opts: &FeasibilityOptions,
) -> Option<(Vec<Issue>, ChannelReport)> {
    let layout = table.layout();
    let name = layout.name(ch).to_owned();
    let (lo, hi) = layout.limits(ch);
    let mut motor = motor_for_channel(head, ch)?;
    let cfg = motor.config();
    let raw = |t: f32| clip.sample_contributions(contributions, t);
    let exact = |t: f32| raw(t).clamp(lo, hi);
    // The simulation needs the curve at every 0.1 ms tick (twice); sample it
    // once per millisecond and interpolate (exact at whole ms, where the
    // stream's commands fall).
    let pb = &opts.playback;
    let end_ms = clip.duration_ms.max(clip.last_key_ms()) as f32;
    let first = (pb.lead_ms - pb.time_to_target()).floor() - 1.0;
    let last = (end_ms + pb.tail_ms.max(0.0) + pb.lead_ms.max(0.0)).ceil() + 1.0;
    let grid: Vec<f32> = (0..=((last - first).max(0.0) as usize))
        .map(|i| exact(first + i as f32))
        .collect();
    let curve = |t: f32| {
        let x = (t - first).clamp(0.0, (grid.len() - 1) as f32);
        let i = (x as usize).min(grid.len().saturating_sub(2));
        let f = x - i as f32;
        grid[i] + (grid[(i + 1).min(grid.len() - 1)] - grid[i]) * f
    };

    // Segment boundaries: every key time of every contributing track.
    let mut times: Vec<u32> = contributions
        .iter()
        .flat_map(|c| clip.tracks[c.track].keys.iter().map(|k| k.time_ms))
        .collect();
    times.sort_unstable();
    times.dedup();
    let key_of = |t: u32| -> (Option<usize>, Option<usize>) {
        contributions
            .iter()
            .find_map(|c| {
                clip.tracks[c.track]
                    .key_at(t)
                    .map(|k| (Some(c.track), Some(k)))
            })
            .unwrap_or((None, None))
    };
    let segment_of = |t: f32| -> usize {
        // Last key time ≤ t (times before the first key belong to segment 0).
        times.partition_point(|&k| k as f32 <= t).saturating_sub(1)
    };

    // Simulation: per-segment peak current and tracking error.
    let mut stats = vec![SegStats::default(); times.len().max(1)];
    let mut max_error = 0.0_f32;
    let mut peak_current = 0.0_f32;
    let shift = opts.playback.lead_ms - opts.playback.time_to_target();
    simulate(&mut motor, curve, end_ms, &opts.playback, |tick| {
        let seg = segment_of(tick.t_ms + shift);
        let err = (tick.measured - tick.expected).abs();
        let cur = tick.current_a.abs();
        let s = &mut stats[seg];
        s.max_error = s.max_error.max(err);
        s.peak_current = s.peak_current.max(cur);
        max_error = max_error.max(err);
        peak_current = peak_current.max(cur);
    });

    let mut issues = Vec::new();
    let mut issue = |j: usize, kind: IssueKind| {
        let t = times.get(j).copied().unwrap_or(0);
        let (track, key_index) = key_of(t);
        issues.push(Issue {
            channel: name.clone(),
            channel_index: ch,
            track,
            key_index,
            time_ms: t,
            kind,
            tracking_error_norm: stats.get(j).map_or(0.0, |s| s.max_error),
        });
    };

    let mut peak_speed = 0.0_f32;
    for (j, &t) in times.iter().enumerate() {
        let value = raw(t as f32);
        if value < lo - 1e-4 || value > hi + 1e-4 {
            issue(
                j,
                IssueKind::BeyondTravel {
                    value,
                    min: lo,
                    max: hi,
                },
            );
        }
        if let Some(&next) = times.get(j + 1) {
            let (a, b) = (t as f32, next as f32);
            let steps = ((b - a) / 0.5).ceil().max(16.0) as usize;
            let h = (b - a) / steps as f32;
            let mut prev = exact(a);
            let mut needed = 0.0_f32;
            for i in 1..=steps {
                let v = exact(a + i as f32 * h);
                needed = needed.max((v - prev).abs() / h * 1000.0);
                prev = v;
            }
            peak_speed = peak_speed.max(needed);
            if needed > cfg.max_velocity_norm_s * opts.velocity_margin {
                issue(
                    j,
                    IssueKind::TooFast {
                        needed,
                        max: cfg.max_velocity_norm_s,
                    },
                );
            }
        }
        let s = stats[j];
        if s.peak_current >= opts.current_margin * cfg.current_limit_a {
            issue(
                j,
                IssueKind::OverCurrent {
                    peak_a: s.peak_current,
                    limit_a: cfg.current_limit_a,
                },
            );
        }
    }
    let report = ChannelReport {
        channel: name,
        channel_index: ch,
        max_tracking_error_norm: max_error,
        peak_current_a: peak_current,
        peak_speed_needed: peak_speed,
        max_velocity_norm_s: cfg.max_velocity_norm_s,
        current_limit_a: cfg.current_limit_a,
    };
    Some((issues, report))
}
