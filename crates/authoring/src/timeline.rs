//! Keyframe tracks: keys at millisecond times with Step, Linear or cubic
//! Bezier interpolation.
//!
//! A key's `interp` governs the segment that *starts* at it. Before the first
//! key a track holds the first value, after the last key the last value.
//!
//! ## Bezier segments
//!
//! As in animation editors, each key has an incoming and an outgoing tangent
//! handle `(dt_ms, dvalue)` relative to the key. Between keys `k0` and `k1`
//! (times `t0 < t1`) the curve is the cubic Bezier through the points
//!
//! ```text
//! P0 = (t0, v0)                P1 = (t0 + out0.dt, v0 + out0.dv)
//! P2 = (t1 + in1.dt, v1 + in1.dv)     P3 = (t1, v1)
//! ```
//!
//! Handle times are clamped to the segment (`0 ≤ out.dt ≤ t1 − t0`,
//! `−(t1 − t0) ≤ in.dt ≤ 0`; a clamped handle keeps its slope, its `dv` is
//! scaled with its `dt`). With both inner control points inside the segment
//! in time, the curve's time coordinate `x(s)` is non-decreasing in the
//! curve parameter `s` (its derivative is a quadratic Bezier whose minimum is
//! ≥ 0 at the corners of the allowed handle box), so each time has exactly
//! one value: `s` is found by safeguarded Newton iteration (bisection
//! fallback) on `x(s) = t`, then `y(s)` is the value. Zero-length handles
//! give a straight line; handles of a third of the segment with `dv = 0`
//! give the classic ease-in/ease-out.

use serde::{Deserialize, Serialize};

/// How a segment is interpolated (set on the key that starts it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Interpolation {
    /// Hold the key's value until the next key.
    Step,
    /// Straight line to the next key.
    #[default]
    Linear,
    /// Cubic Bezier through this key's out-handle and the next key's in-handle.
    Bezier,
}

/// A tangent handle relative to its key: time offset (ms) and value offset.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Handle {
    pub dt_ms: f32,
    pub dvalue: f32,
}

impl Handle {
    pub const fn new(dt_ms: f32, dvalue: f32) -> Self {
        Self { dt_ms, dvalue }
    }
}

/// One keyframe.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Key {
    pub time_ms: u32,
    pub value: f32,
    /// Interpolation of the segment from this key to the next.
    #[serde(default)]
    pub interp: Interpolation,
    /// Incoming handle (dt_ms ≤ 0), used by a Bezier segment ending here.
    #[serde(default)]
    pub in_handle: Handle,
    /// Outgoing handle (dt_ms ≥ 0), used by a Bezier segment starting here.
    #[serde(default)]
    pub out_handle: Handle,
}

impl Key {
    /// A linear key.
    pub const fn new(time_ms: u32, value: f32) -> Self {
        Self {
            time_ms,
            value,
            interp: Interpolation::Linear,
            in_handle: Handle::new(0.0, 0.0),
            out_handle: Handle::new(0.0, 0.0),
        }
    }

    /// A key with the given interpolation and zero-length handles.
    pub const fn with_interp(time_ms: u32, value: f32, interp: Interpolation) -> Self {
        let mut k = Self::new(time_ms, value);
        k.interp = interp;
        k
    }

    /// A Bezier key with explicit handles.
    pub const fn bezier(time_ms: u32, value: f32, in_handle: Handle, out_handle: Handle) -> Self {
        Self {
            time_ms,
            value,
            interp: Interpolation::Bezier,
            in_handle,
            out_handle,
        }
    }

    /// A flat-tangent Bezier key whose handles reach `reach_ms` either side
    /// (ease in and out).
    pub fn ease(time_ms: u32, value: f32, reach_ms: f32) -> Self {
        Self::bezier(
            time_ms,
            value,
            Handle::new(-reach_ms, 0.0),
            Handle::new(reach_ms, 0.0),
        )
    }
}

/// What a track drives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TrackTarget {
    /// A channel's normalised position (added to the AU pose).
    Channel(String),
    /// An action unit's intensity (0..=1).
    Au(String),
}

impl TrackTarget {
    /// The channel or AU name.
    pub fn name(&self) -> &str {
        match self {
            Self::Channel(n) | Self::Au(n) => n,
        }
    }
}

/// One animated parameter: keys sorted by time, at most one key per time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Track {
    pub target: TrackTarget,
    #[serde(default)]
    pub keys: Vec<Key>,
}

impl Track {
    pub fn new(target: TrackTarget) -> Self {
        Self {
            target,
            keys: Vec::new(),
        }
    }

    /// The track's value at `t_ms` (None without keys).
    pub fn evaluate(&self, t_ms: f32) -> Option<f32> {
        let keys = &self.keys;
        let first = keys.first()?;
        let last = keys.last()?;
        if t_ms.is_nan() || t_ms <= first.time_ms as f32 {
            return Some(first.value);
        }
        if t_ms >= last.time_ms as f32 {
            return Some(last.value);
        }
        let i = keys.partition_point(|k| k.time_ms as f32 <= t_ms);
        // first.time < t < last.time ⇒ 1 ≤ i ≤ len − 1.
        Some(evaluate_segment(&keys[i - 1], &keys[i], t_ms))
    }

    /// Index of the key at exactly `time_ms`.
    pub fn key_at(&self, time_ms: u32) -> Option<usize> {
        self.keys.binary_search_by_key(&time_ms, |k| k.time_ms).ok()
    }

    /// Inserts a key, keeping the keys sorted; a key at the same time is
    /// replaced and returned.
    pub fn insert_key(&mut self, key: Key) -> Option<Key> {
        match self.keys.binary_search_by_key(&key.time_ms, |k| k.time_ms) {
            Ok(i) => Some(std::mem::replace(&mut self.keys[i], key)),
            Err(i) => {
                self.keys.insert(i, key);
                None
            }
        }
    }

    /// Time of the last key (0 without keys).
    pub fn end_ms(&self) -> u32 {
        self.keys.last().map_or(0, |k| k.time_ms)
    }
}

/// Value of the segment from `k0` to `k1` at `t_ms` (`k0.interp` decides).
/// Outside the segment the nearest end's value is returned.
pub fn evaluate_segment(k0: &Key, k1: &Key, t_ms: f32) -> f32 {
    let t0 = k0.time_ms as f32;
    let t1 = k1.time_ms as f32;
    if t_ms.is_nan() || t_ms <= t0 || t1 <= t0 {
        return k0.value;
    }
    if t_ms >= t1 {
        return k1.value;
    }
    match k0.interp {
        Interpolation::Step => k0.value,
        Interpolation::Linear => {
            let u = (t_ms - t0) / (t1 - t0);
            k0.value + (k1.value - k0.value) * u
        }
        Interpolation::Bezier => {
            let [p0, p1, p2, p3] = bezier_points(k0, k1);
            let seg = f64::from(p3.0 - p0.0);
            let u = f64::from(t_ms - p0.0) / seg;
            let x1 = f64::from(p1.0 - p0.0) / seg;
            let x2 = f64::from(p2.0 - p0.0) / seg;
            let s = solve_bezier_time(x1, x2, u);
            let (y0, y1, y2, y3) = (
                f64::from(p0.1),
                f64::from(p1.1),
                f64::from(p2.1),
                f64::from(p3.1),
            );
            let m = 1.0 - s;
            (m * m * m * y0 + 3.0 * m * m * s * y1 + 3.0 * m * s * s * y2 + s * s * s * y3) as f32
        }
    }
}

/// The four control points `(time_ms, value)` of the Bezier segment from
/// `k0` to `k1`, handles clamped to the segment (for drawing and evaluation).
pub fn bezier_points(k0: &Key, k1: &Key) -> [(f32, f32); 4] {
    let t0 = k0.time_ms as f32;
    let t1 = k1.time_ms as f32;
    let seg = (t1 - t0).max(0.0);
    let clamp_handle = |h: Handle, lo: f32, hi: f32| -> (f32, f32) {
        let dt = if h.dt_ms.is_finite() { h.dt_ms } else { 0.0 };
        let dv = if h.dvalue.is_finite() { h.dvalue } else { 0.0 };
        let c = dt.clamp(lo, hi);
        // Keep the handle's slope when its length is clamped.
        let dv = if dt != 0.0 && c != dt {
            dv * (c / dt)
        } else {
            dv
        };
        (c, dv)
    };
    let (odt, odv) = clamp_handle(k0.out_handle, 0.0, seg);
    let (idt, idv) = clamp_handle(k1.in_handle, -seg, 0.0);
    [
        (t0, k0.value),
        (t0 + odt, k0.value + odv),
        (t1 + idt, k1.value + idv),
        (t1, k1.value),
    ]
}

/// Solves `x(s) = u` for the normalised Bezier time coordinate
/// `x(s) = 3(1−s)²s·x1 + 3(1−s)s²·x2 + s³` with `x1, x2 ∈ [0, 1]`
/// (monotonic), `u ∈ [0, 1]`.
fn solve_bezier_time(x1: f64, x2: f64, u: f64) -> f64 {
    let x = |s: f64| {
        let m = 1.0 - s;
        3.0 * m * m * s * x1 + 3.0 * m * s * s * x2 + s * s * s
    };
    let dx = |s: f64| {
        let m = 1.0 - s;
        3.0 * m * m * x1 + 6.0 * m * s * (x2 - x1) + 3.0 * s * s * (1.0 - x2)
    };
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    let mut s = u.clamp(0.0, 1.0);
    for _ in 0..64 {
        let f = x(s) - u;
        if f.abs() < 1e-10 {
            return s;
        }
        if f > 0.0 {
            hi = s;
        } else {
            lo = s;
        }
        let d = dx(s);
        let newton = s - f / d;
        s = if d > 1e-12 && newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
        if hi - lo < 1e-12 {
            break;
        }
    }
    s
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn track(keys: &[Key]) -> Track {
        Track {
            target: TrackTarget::Channel("jaw".into()),
            keys: keys.to_vec(),
        }
    }

    #[test]
    fn step_holds_until_the_next_key() {
        let t = track(&[
            Key::with_interp(0, 0.2, Interpolation::Step),
            Key::new(100, 0.8),
        ]);
        assert_eq!(t.evaluate(-5.0), Some(0.2));
        assert_eq!(t.evaluate(0.0), Some(0.2));
        assert_eq!(t.evaluate(99.9), Some(0.2));
        assert_eq!(t.evaluate(100.0), Some(0.8));
        assert_eq!(t.evaluate(1e6), Some(0.8));
        assert_eq!(track(&[]).evaluate(3.0), None);
    }

    #[test]
    fn linear_interpolates() {
        let t = track(&[Key::new(0, 0.0), Key::new(100, 1.0), Key::new(300, 0.0)]);
        assert!((t.evaluate(25.0).unwrap() - 0.25).abs() < 1e-6);
        assert!((t.evaluate(200.0).unwrap() - 0.5).abs() < 1e-6);
        assert_eq!(t.evaluate(100.0), Some(1.0));
    }

    #[test]
    fn bezier_with_zero_handles_is_linear() {
        let t = track(&[
            Key::with_interp(0, 0.0, Interpolation::Bezier),
            Key::new(100, 1.0),
        ]);
        for i in 0..=100 {
            let v = t.evaluate(i as f32).unwrap();
            assert!((v - i as f32 / 100.0).abs() < 1e-5, "{i}: {v}");
        }
    }

    #[test]
    fn bezier_ease_is_symmetric_and_flat_at_the_ends() {
        let t = track(&[
            Key::ease(0, 0.0, 100.0 / 3.0),
            Key::ease(100, 1.0, 100.0 / 3.0),
        ]);
        let v = |x: f32| t.evaluate(x).unwrap();
        assert!((v(50.0) - 0.5).abs() < 1e-5);
        for x in [5.0, 10.0, 30.0, 45.0] {
            assert!((v(x) + v(100.0 - x) - 1.0).abs() < 1e-5, "symmetry at {x}");
            assert!(v(x) < x / 100.0, "ease-in below the line at {x}");
        }
        // Flat start: the slope near 0 is far below the linear 0.01/ms.
        assert!(v(1.0) < 0.001);
        // Monotonic.
        let mut prev = -1.0;
        for i in 0..=1000 {
            let y = v(i as f32 * 0.1);
            assert!(y >= prev - 1e-6);
            prev = y;
        }
    }

    #[test]
    fn bezier_handles_shape_the_curve_and_are_clamped_in_time() {
        // An overshooting out handle: the curve goes above the target.
        let k0 = Key::bezier(0, 0.0, Handle::default(), Handle::new(30.0, 0.9));
        let k1 = Key::bezier(100, 0.5, Handle::new(-30.0, 0.0), Handle::default());
        let t = track(&[k0, k1]);
        let peak = (0..=100)
            .map(|i| t.evaluate(i as f32).unwrap())
            .fold(f32::MIN, f32::max);
        assert!(peak > 0.5, "{peak}");
        // Handles reaching far past the neighbour are clamped to it in time
        // (keeping their slope), so the curve stays a function of time:
        // sampling forwards never needs two values for one time.
        let k0 = Key::bezier(0, 0.0, Handle::default(), Handle::new(500.0, 0.0));
        let k1 = Key::bezier(100, 1.0, Handle::new(-500.0, 0.0), Handle::default());
        let pts = bezier_points(&k0, &k1);
        assert_eq!(pts[1], (100.0, 0.0));
        assert_eq!(pts[2], (0.0, 1.0));
        let t = track(&[k0, k1]);
        let mut prev = -1.0;
        for i in 0..=1000 {
            let y = t.evaluate(i as f32 * 0.1).unwrap();
            assert!(y >= prev - 1e-5, "monotonic at {}", i as f32 * 0.1);
            prev = y;
        }
        assert!((t.evaluate(50.0).unwrap() - 0.5).abs() < 1e-4);
        // Slope kept when clamped: (60 ms, 0.6) on a 30 ms segment → (30, 0.3).
        let k0 = Key::bezier(0, 0.0, Handle::default(), Handle::new(60.0, 0.6));
        let k1 = Key::new(30, 0.0);
        assert_eq!(bezier_points(&k0, &k1)[1], (30.0, 0.3));
    }

    #[test]
    fn bezier_time_solver_inverts_x() {
        for &(x1, x2) in &[
            (0.0, 1.0),
            (1.0, 0.0),
            (0.3, 0.7),
            (0.9, 0.1),
            (0.0, 0.0),
            (1.0, 1.0),
        ] {
            for i in 0..=200 {
                let u = i as f64 / 200.0;
                let s = solve_bezier_time(x1, x2, u);
                let m = 1.0 - s;
                let x = 3.0 * m * m * s * x1 + 3.0 * m * s * s * x2 + s * s * s;
                assert!((x - u).abs() < 1e-7, "x1={x1} x2={x2} u={u}: x={x}");
            }
        }
    }
}
