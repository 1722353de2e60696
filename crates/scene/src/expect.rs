//! Evaluating expectations on a recording.

use crate::format::Expectation;
use crate::plan::{Check, Plan};
use crate::result::{Outcome, Status};
use crate::run::{Recording, RunOptions, Sample};
use facetwin_protocol::fault;

/// Largest distance between a requested time and the telemetry sample used for it.
const MAX_SAMPLE_GAP_S: f64 = 0.05;

fn fault_names(bits: u8) -> String {
    let names: Vec<&str> = fault::names(bits).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join("+")
    }
}

struct Eval<'a> {
    plan: &'a Plan,
    rec: &'a Recording,
}

type Verdict = (bool, String, Option<f64>);

pub(crate) fn evaluate(
    plan: &Plan,
    expectations: &[Expectation],
    rec: &Recording,
    options: &RunOptions,
) -> Vec<Outcome> {
    let ev = Eval { plan, rec };
    plan.checks
        .iter()
        .zip(expectations)
        .map(|(check, e)| {
            let label = e.label();
            if let Check::Image = check {
                let _ = options.render;
                return Outcome {
                    label,
                    status: Status::Skipped,
                    message: "skipped: needs --render".into(),
                    at_s: None,
                };
            }
            let (ok, message, at_s) = ev.check(check);
            Outcome {
                label,
                status: if ok { Status::Pass } else { Status::Fail },
                message,
                at_s,
            }
        })
        .collect()
}

impl Eval<'_> {
    fn name(&self, ch: usize) -> &str {
        self.plan.channel_names.get(ch).map_or("?", String::as_str)
    }

    fn window(&self, from: f64, to: f64) -> impl Iterator<Item = &Sample> {
        self.rec
            .samples
            .iter()
            .filter(move |s| s.t >= from - 1e-9 && s.t <= to + 1e-9)
    }

    fn nearest(&self, t: f64) -> Option<&Sample> {
        self.rec
            .samples
            .iter()
            .min_by(|a, b| (a.t - t).abs().total_cmp(&(b.t - t).abs()))
            .filter(|s| (s.t - t).abs() <= MAX_SAMPLE_GAP_S)
    }

    /// The commanded trajectory at `t`. A streamed target is reached one command period after it
    /// is sent, so target k belongs at `t_k + period`; between two consecutive targets of a
    /// stream the trajectory is interpolated linearly, after the last one (or across a gap in
    /// the stream) it holds.
    fn commanded(&self, ch: usize, t: f64) -> Option<f32> {
        let p = self.rec.period_s;
        let cmds = &self.rec.commands;
        let i = cmds.partition_point(|(tc, _)| *tc + p <= t + 1e-9);
        let k = i.checked_sub(1)?;
        let (tk, vk) = (cmds[k].0, *cmds[k].1.get(ch)?);
        let Some((tn, next)) = cmds.get(k + 1) else {
            return Some(vk);
        };
        let vn = *next.get(ch)?;
        if tn - tk > 1.5 * p + 1e-9 {
            return Some(vk);
        }
        let u = ((t - (tk + p)) / (tn - tk)).clamp(0.0, 1.0) as f32;
        Some(vk + (vn - vk) * u)
    }

    fn check(&self, check: &Check) -> Verdict {
        match check {
            Check::Tracking { ch, from, to, max } => self.tracking(*ch, *from, *to, *max),
            Check::Apex {
                ch,
                apex,
                window,
                tol_s,
                min_value,
            } => self.apex(*ch, *apex, *window, *tol_s, *min_value),
            Check::FaultRaised { ch, bit, by } => self.fault_raised(*ch, *bit, *by),
            Check::NoFault { ch, mask, from, to } => self.no_fault(*ch, *mask, *from, *to),
            Check::SafeState {
                silence,
                within_s,
                neutral_by,
                tol,
            } => self.safe_state(*silence, *within_s, *neutral_by, *tol),
            Check::Position { ch, at, min, max } => self.position(*ch, *at, *min, *max),
            Check::Disconnected { by } => self.disconnected(*by),
            Check::Reconnected { by } => self.reconnected(*by),
            Check::StaysConnected { from, to } => self.stays_connected(*from, *to),
            Check::MeshNear { at, pose, max_mm } => self.mesh_near(*at, pose, *max_mm),
            Check::CurrentDeviation {
                ch,
                from,
                to,
                min_ratio,
            } => self.current_deviation(*ch, *from, *to, *min_ratio),
            Check::Image => (true, "skipped".into(), None),
        }
    }

    fn tracking(&self, ch: usize, from: f64, to: f64, max: f32) -> Verdict {
        let mut worst: Option<(f32, f64, f32, f32)> = None;
        let mut n = 0;
        for s in self.window(from, to) {
            let Some(c) = s.tel.channels().get(ch) else {
                continue;
            };
            let Some(cmd) = self.commanded(ch, s.t) else {
                continue;
            };
            n += 1;
            let m = c.position_norm();
            let err = (m - cmd).abs();
            if worst.is_none_or(|w| err > w.0) {
                worst = Some((err, s.t, m, cmd));
            }
        }
        let name = self.name(ch);
        match worst {
            None => (
                false,
                format!("{name}: no telemetry with a command to compare in {from}..{to} s"),
                None,
            ),
            Some((err, t, m, cmd)) => {
                let ok = err <= max;
                let verdict = if ok { "within" } else { "exceeds" };
                (
                    ok,
                    format!(
                        "{name}: max |measured - commanded| = {err:.4} at t = {t:.3} s \
                         (measured {m:.4}, commanded {cmd:.4}) {verdict} {max} over {n} samples"
                    ),
                    Some(t),
                )
            }
        }
    }

    fn apex(
        &self,
        ch: usize,
        apex: f64,
        window: (f64, f64),
        tol_s: f64,
        min_value: f32,
    ) -> Verdict {
        let name = self.name(ch);
        let minimum = min_value < 0.0;
        let mut best: Option<(f32, f64)> = None;
        for s in self.window(window.0, window.1) {
            let Some(c) = s.tel.channels().get(ch) else {
                continue;
            };
            let v = c.position_norm();
            let better = best.is_none_or(|(b, _)| if minimum { v < b } else { v > b });
            if better {
                best = Some((v, s.t));
            }
        }
        let Some((v, t)) = best else {
            return (
                false,
                format!(
                    "{name}: no telemetry in {:.3}..{:.3} s to find the apex",
                    window.0, window.1
                ),
                None,
            );
        };
        let off_ms = (t - apex) * 1000.0;
        let timing_ok = (t - apex).abs() <= tol_s + 1e-9;
        let value_ok = if minimum {
            v <= min_value
        } else {
            v >= min_value
        };
        let kind = if minimum { "minimum" } else { "peak" };
        let cmp = if minimum { "<=" } else { ">=" };
        let mut msg = format!(
            "{name}: measured {kind} {v:.4} at t = {t:.3} s, authored apex {apex:.3} s: \
             {off_ms:+.1} ms (allowed +-{:.1} ms)",
            tol_s * 1000.0
        );
        if !timing_ok {
            msg.push_str(" -- too far from the apex");
        }
        if value_ok {
            msg.push_str(&format!("; value {cmp} {min_value}"));
        } else {
            msg.push_str(&format!("; value {v:.4} does not reach {min_value}"));
        }
        (timing_ok && value_ok, msg, Some(t))
    }

    /// First time `bit` is seen on `ch`, in telemetry or in a fault event.
    fn first_fault(&self, ch: usize, bit: u8) -> Option<f64> {
        let tel = self
            .rec
            .samples
            .iter()
            .find(|s| {
                s.tel
                    .channels()
                    .get(ch)
                    .is_some_and(|c| c.faults & bit != 0)
            })
            .map(|s| s.t);
        let ev = self
            .rec
            .fault_events
            .iter()
            .find(|(_, c, f)| (usize::from(*c) == ch || *c == 0xFF) && f & bit != 0)
            .map(|e| e.0);
        match (tel, ev) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn fault_raised(&self, ch: usize, bit: u8, by: f64) -> Verdict {
        let name = self.name(ch);
        let fname = fault_names(bit);
        match self.first_fault(ch, bit) {
            Some(t) if t <= by + 1e-9 => (
                true,
                format!("{fname} on {name} first reported at t = {t:.3} s (by {by} s)"),
                Some(t),
            ),
            Some(t) => (
                false,
                format!("{fname} on {name} first reported at t = {t:.3} s, later than {by} s"),
                Some(t),
            ),
            None => {
                let seen = self
                    .rec
                    .samples
                    .iter()
                    .filter(|s| s.t <= by)
                    .filter_map(|s| s.tel.channels().get(ch))
                    .fold(0u8, |acc, c| acc | c.faults);
                (
                    false,
                    format!(
                        "{fname} never reported on {name} by {by} s (faults seen on it: {})",
                        fault_names(seen)
                    ),
                    None,
                )
            }
        }
    }

    fn no_fault(&self, ch: Option<usize>, mask: u8, from: f64, to: f64) -> Verdict {
        let who = ch.map_or("any channel", |c| self.name(c)).to_owned();
        for s in self.window(from, to) {
            for (i, c) in s.tel.channels().iter().enumerate() {
                if ch.is_some_and(|want| want != i) {
                    continue;
                }
                let bad = c.faults & mask;
                if bad != 0 {
                    return (
                        false,
                        format!(
                            "{} on {} at t = {:.3} s (expected none on {who} in {from}..{to} s)",
                            fault_names(bad),
                            self.name(i),
                            s.t
                        ),
                        Some(s.t),
                    );
                }
            }
        }
        for &(t, c, f) in &self.rec.fault_events {
            let relevant = ch.is_none_or(|want| usize::from(c) == want || c == 0xFF);
            if t >= from && t <= to && relevant && f & mask != 0 {
                let on = if c == 0xFF {
                    "the head".to_owned()
                } else {
                    self.name(usize::from(c)).to_owned()
                };
                return (
                    false,
                    format!(
                        "fault event {} on {on} at t = {t:.3} s (expected none on {who} in \
                         {from}..{to} s)",
                        fault_names(f & mask)
                    ),
                    Some(t),
                );
            }
        }
        let n = self.window(from, to).count();
        (
            n > 0,
            if n > 0 {
                format!("no fault on {who} in {n} samples over {from}..{to} s")
            } else {
                format!("no telemetry in {from}..{to} s")
            },
            None,
        )
    }

    fn safe_state(&self, silence: (f64, f64), within_s: f64, neutral_by: f64, tol: f32) -> Verdict {
        let n = self.plan.channel_names.len();
        let safe = self.rec.samples.iter().find(|s| {
            s.t >= silence.0 - 1e-9
                && s.tel.torque_mask & low_mask(n) == 0
                && s.tel
                    .channels()
                    .iter()
                    .all(|c| c.faults & fault::WATCHDOG != 0)
        });
        let Some(safe) = safe else {
            return (
                false,
                format!(
                    "no telemetry after the silence at {:.3} s shows every channel torque off \
                     with WATCHDOG",
                    silence.0
                ),
                None,
            );
        };
        let after_ms = (safe.t - silence.0) * 1000.0;
        if safe.t - silence.0 > within_s + 1e-9 {
            return (
                false,
                format!(
                    "safe state (torque off + WATCHDOG) first seen at t = {:.3} s, {after_ms:.1} \
                     ms after the silence began at {:.3} s (allowed {:.1} ms)",
                    safe.t,
                    silence.0,
                    within_s * 1000.0
                ),
                Some(safe.t),
            );
        }
        let neutral = &self.rec.neutral;
        let worst = |s: &Sample| -> (f32, usize) {
            s.tel
                .channels()
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let n0 = neutral.get(i).copied().unwrap_or(0.0);
                    ((c.position_norm() - n0).abs(), i)
                })
                .fold((0.0, 0), |a, b| if b.0 > a.0 { b } else { a })
        };
        let at_neutral = self
            .rec
            .samples
            .iter()
            .filter(|s| s.t >= safe.t)
            .find(|s| worst(s).0 <= tol);
        match at_neutral {
            Some(s) if s.t <= neutral_by + 1e-9 => (
                true,
                format!(
                    "safe state {after_ms:.1} ms after the silence (t = {:.3} s); every channel \
                     within {tol} of neutral at t = {:.3} s (by {neutral_by} s)",
                    safe.t, s.t
                ),
                Some(s.t),
            ),
            _ => {
                let last = self
                    .rec
                    .samples
                    .iter()
                    .rfind(|s| s.t >= safe.t && s.t <= neutral_by);
                let detail = last.map_or_else(
                    || "no telemetry".to_owned(),
                    |s| {
                        let (d, i) = worst(s);
                        format!(
                            "at t = {:.3} s {} is still {d:.4} from neutral",
                            s.t,
                            self.name(i)
                        )
                    },
                );
                (
                    false,
                    format!(
                        "safe state at t = {:.3} s, but not every channel within {tol} of \
                         neutral by {neutral_by} s: {detail}",
                        safe.t
                    ),
                    last.map(|s| s.t),
                )
            }
        }
    }

    fn position(&self, ch: usize, at: f64, min: f32, max: f32) -> Verdict {
        let name = self.name(ch);
        let Some(s) = self.nearest(at) else {
            return (
                false,
                format!("{name}: no telemetry within {MAX_SAMPLE_GAP_S} s of t = {at} s"),
                None,
            );
        };
        let Some(c) = s.tel.channels().get(ch) else {
            return (false, format!("{name}: not in telemetry"), None);
        };
        let p = c.position_norm();
        let ok = p >= min && p <= max;
        (
            ok,
            format!(
                "{name}: measured {p:.4} at t = {:.3} s, {} {min}..{max}",
                s.t,
                if ok { "within" } else { "outside" }
            ),
            Some(s.t),
        )
    }

    fn disconnected(&self, by: f64) -> Verdict {
        match self.rec.link.iter().find(|(_, c, _)| !c) {
            Some((t, _, what)) if *t <= by + 1e-9 => (
                true,
                format!("{what} at t = {t:.3} s (by {by} s)"),
                Some(*t),
            ),
            Some((t, _, what)) => (
                false,
                format!("{what} only at t = {t:.3} s, later than {by} s"),
                Some(*t),
            ),
            None => (
                false,
                format!("the host never noticed a disconnect (by {by} s)"),
                None,
            ),
        }
    }

    fn reconnected(&self, by: f64) -> Verdict {
        let Some(down) = self.rec.link.iter().position(|(_, c, _)| !c) else {
            return (false, "the link never went down".into(), None);
        };
        let down_t = self.rec.link[down].0;
        match self.rec.link[down..].iter().find(|(_, c, _)| *c) {
            Some((t, _, _)) if *t <= by + 1e-9 => (
                true,
                format!("down at t = {down_t:.3} s, connected again at t = {t:.3} s (by {by} s)"),
                Some(*t),
            ),
            Some((t, _, _)) => (
                false,
                format!(
                    "down at t = {down_t:.3} s, connected again only at t = {t:.3} s, later \
                     than {by} s"
                ),
                Some(*t),
            ),
            None => (
                false,
                format!("down at t = {down_t:.3} s and never connected again"),
                None,
            ),
        }
    }

    fn stays_connected(&self, from: f64, to: f64) -> Verdict {
        let before = self.rec.link.iter().rfind(|(t, _, _)| *t <= from);
        if let Some((t, false, what)) = before {
            return (
                false,
                format!("{what} since t = {t:.3} s, before the window {from}..{to} s"),
                Some(*t),
            );
        }
        match self
            .rec
            .link
            .iter()
            .find(|(t, c, _)| !c && *t > from && *t <= to)
        {
            Some((t, _, what)) => (false, format!("{what} at t = {t:.3} s"), Some(*t)),
            None => (true, format!("connected throughout {from}..{to} s"), None),
        }
    }

    fn mesh_near(&self, at: f64, pose: &[f32], max_mm: f32) -> Verdict {
        let Some((t, measured)) = self
            .rec
            .mesh_track
            .iter()
            .min_by(|a, b| (a.0 - at).abs().total_cmp(&(b.0 - at).abs()))
        else {
            return (false, "no rig frames recorded".into(), None);
        };
        match crate::mesh::max_distance_mm(measured, pose) {
            Ok((d, v)) => {
                let ok = d <= max_mm;
                (
                    ok,
                    format!(
                        "face from measured positions at t = {t:.3} s vs reference pose: max \
                         vertex distance {d:.3} mm (vertex {v}) {} {max_mm} mm",
                        if ok { "<=" } else { ">" }
                    ),
                    Some(*t),
                )
            }
            Err(e) => (false, format!("cannot deform the default face: {e}"), None),
        }
    }

    fn current_deviation(&self, ch: usize, from: f64, to: f64, min_ratio: f32) -> Verdict {
        let name = self.name(ch);
        let Some(k) = self.plan.shadow_channels.iter().position(|&c| c == ch) else {
            return (false, format!("{name}: no shadow model"), None);
        };
        let (mut measured, mut expected, mut n) = (0.0f64, 0.0f64, 0usize);
        for s in self.window(from, to) {
            let (Some(c), Some(&e)) = (s.tel.channels().get(ch), s.shadow_a.get(k)) else {
                continue;
            };
            measured += f64::from(c.current_ma).abs() / 1000.0;
            expected += f64::from(e).abs();
            n += 1;
        }
        if n == 0 {
            return (
                false,
                format!("{name}: no telemetry in {from}..{to} s"),
                None,
            );
        }
        let (mean_m, mean_e) = (measured / n as f64 * 1000.0, expected / n as f64 * 1000.0);
        if mean_e < 1.0 {
            return (
                false,
                format!(
                    "{name}: the healthy model draws only {mean_e:.2} mA on average in \
                     {from}..{to} s: nothing to compare"
                ),
                None,
            );
        }
        let ratio = mean_m / mean_e;
        let ok = ratio < f64::from(min_ratio);
        (
            ok,
            format!(
                "{name}: mean |current| {mean_m:.1} mA measured vs {mean_e:.1} mA for a healthy \
                 channel over {from}..{to} s: ratio {ratio:.3} {} {min_ratio} ({})",
                if ok { "<" } else { ">=" },
                if ok {
                    "deviation detected"
                } else {
                    "no deviation detected"
                }
            ),
            Some(from),
        )
    }
}

fn low_mask(n: usize) -> u32 {
    if n >= 32 { u32::MAX } else { (1u32 << n) - 1 }
}
