//! Bounded least-squares fit of actuator positions to an AU-derived pose.
//!
//! A target pose `p` that comes from AU intensities (`p = M·a`, the AU table
//! `M` applied to captured intensities `a`) can leave the travel limits, and
//! channels are shared between AUs (AU9 and AU10 both pull levator_labii;
//! AU6, AU7 and AU45 share orbicularis_oculi and the lid). Clamping each
//! channel on its own ignores that coupling. Instead we look for the
//! reachable pose whose **AU read-out** is closest to the target's:
//!
//! ```text
//! minimise  ‖A·x − A·p‖²   subject to   lo ≤ x ≤ hi
//! ```
//!
//! where `A` maps actuator positions to AU space: row `j` of `A` is the
//! `j`-th basis AU's channel vector divided by its squared length,
//! `A_j = m_jᵀ / ‖m_j‖²`, so `A_j·x` reads "how much of AU j does pose x
//! show" (1 for `x = m_j`). The basis is the L and R variants of lateral AUs
//! plus the bilateral-only AUs (see [`AuTable::basis`]). When `p` is
//! reachable the minimum is `x = p` (zero residual); when it is not, the
//! other channels of the AUs that saturate compensate in AU space.
//!
//! The problem is a convex box-constrained quadratic program with Hessian
//! `Q = AᵀA + εI` (ε = 1e-6 keeps it strictly convex where AUs do not
//! separate two channels; channels no AU moves — eyes, neck — have only ε
//! and come out as `clamp(p)`). It is solved by **projected coordinate
//! descent** (Gauss–Seidel with clamping):
//!
//! ```text
//! x_i ← clamp(x_i − (Q·(x − p))_i / Q_ii, lo_i, hi_i)
//! ```
//!
//! sweeping all channels until no coordinate moves by more than 1e-6 (at
//! most `max_sweeps`), warm-started from `clamp(p)` or the previous frame.
//! Every iterate is inside the box, so the result always respects the
//! limits; each coordinate step is an exact minimisation along that
//! coordinate, so the objective never increases, and for a strictly convex
//! QP the sweeps converge to the unique minimiser.

use crate::au::AuTable;

/// The fit for one AU table (Q precomputed).
#[derive(Debug, Clone, PartialEq)]
pub struct BoundedFit {
    n: usize,
    q: Vec<f64>,
    lo: Vec<f32>,
    hi: Vec<f32>,
    /// Rows of A (AU read-outs), for diagnostics.
    a: Vec<Vec<(usize, f64)>>,
    /// Sweep limit.
    pub max_sweeps: usize,
    /// Convergence tolerance on the largest coordinate change.
    pub tolerance: f64,
}

/// How a fit went.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitStats {
    pub sweeps: usize,
    pub converged: bool,
    /// ‖A·(x − p)‖² at the solution.
    pub objective: f64,
}

const RIDGE: f64 = 1e-6;

impl BoundedFit {
    pub fn new(table: &AuTable) -> Self {
        let layout = table.layout();
        let n = layout.len();
        let mut q = vec![0.0; n * n];
        let mut a = Vec::new();
        for (_, unit) in table.basis() {
            let norm2: f64 = unit
                .weights
                .iter()
                .map(|(_, w)| f64::from(*w).powi(2))
                .sum();
            if norm2 <= 0.0 {
                continue;
            }
            let row: Vec<(usize, f64)> = unit
                .weights
                .iter()
                .map(|&(i, w)| (i, f64::from(w) / norm2))
                .collect();
            for &(i, ai) in &row {
                for &(k, ak) in &row {
                    q[i * n + k] += ai * ak;
                }
            }
            a.push(row);
        }
        for i in 0..n {
            q[i * n + i] += RIDGE;
        }
        Self {
            n,
            q,
            lo: layout.min().to_vec(),
            hi: layout.max().to_vec(),
            a,
            max_sweeps: 200,
            tolerance: 1e-6,
        }
    }

    /// Number of channels.
    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The AU read-out `A·x` of a pose (one value per basis AU).
    pub fn au_space(&self, pose: &[f32]) -> Vec<f32> {
        self.a
            .iter()
            .map(|row| {
                row.iter()
                    .map(|&(i, a)| a * f64::from(pose.get(i).copied().unwrap_or(0.0)))
                    .sum::<f64>() as f32
            })
            .collect()
    }

    /// `‖A·(x − p)‖²` (plus the tiny ridge term).
    pub fn objective(&self, target: &[f32], x: &[f32]) -> f64 {
        let n = self.n;
        let r: Vec<f64> = (0..n)
            .map(|i| f64::from(x[i]) - f64::from(target[i]))
            .collect();
        let mut f = 0.0;
        for i in 0..n {
            let qi = &self.q[i * n..(i + 1) * n];
            f += r[i] * qi.iter().zip(&r).map(|(q, r)| q * r).sum::<f64>();
        }
        f
    }

    /// Fits `x` (in/out: the warm start, e.g. the previous frame; it is
    /// clamped first) to the target pose `target`. Both must have
    /// [`BoundedFit::len`] entries (extra entries are ignored, missing
    /// ones leave the fit untouched).
    pub fn fit(&self, target: &[f32], x: &mut [f32]) -> FitStats {
        let n = self.n;
        if target.len() < n || x.len() < n {
            return FitStats {
                sweeps: 0,
                converged: false,
                objective: f64::NAN,
            };
        }
        let p: Vec<f64> = target[..n]
            .iter()
            .map(|v| if v.is_finite() { f64::from(*v) } else { 0.0 })
            .collect();
        let lo: Vec<f64> = self.lo.iter().map(|v| f64::from(*v)).collect();
        let hi: Vec<f64> = self.hi.iter().map(|v| f64::from(*v)).collect();
        let mut xs: Vec<f64> = (0..n)
            .map(|i| {
                let v = if x[i].is_finite() {
                    f64::from(x[i])
                } else {
                    p[i]
                };
                v.clamp(lo[i], hi[i])
            })
            .collect();
        // Residual r = x − p and gradient g = Q·r, kept up to date.
        let mut r: Vec<f64> = (0..n).map(|i| xs[i] - p[i]).collect();
        let mut g: Vec<f64> = (0..n)
            .map(|i| {
                self.q[i * n..(i + 1) * n]
                    .iter()
                    .zip(&r)
                    .map(|(q, r)| q * r)
                    .sum()
            })
            .collect();
        let mut sweeps = 0;
        let mut converged = false;
        while sweeps < self.max_sweeps {
            sweeps += 1;
            let mut biggest = 0.0_f64;
            for i in 0..n {
                let qii = self.q[i * n + i];
                let new = (xs[i] - g[i] / qii).clamp(lo[i], hi[i]);
                let d = new - xs[i];
                if d != 0.0 {
                    xs[i] = new;
                    r[i] += d;
                    let qi = &self.q[i * n..(i + 1) * n];
                    for (gk, qik) in g.iter_mut().zip(qi) {
                        // Q is symmetric: column i = row i.
                        *gk += qik * d;
                    }
                    biggest = biggest.max(d.abs());
                }
            }
            if biggest <= self.tolerance {
                converged = true;
                break;
            }
        }
        for i in 0..n {
            x[i] = xs[i] as f32;
        }
        let objective = r.iter().zip(&g).map(|(r, g)| r * g).sum::<f64>();
        FitStats {
            sweeps,
            converged,
            objective,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reachable_targets_are_reproduced() {
        let t = AuTable::builtin();
        let fit = BoundedFit::new(&t);
        let p = t.pose(&[("AU6", 0.7), ("AU12", 0.9), ("AU45L", 1.0)]);
        let mut x = vec![0.0; 25];
        let s = fit.fit(&p, &mut x);
        assert!(s.converged, "{s:?}");
        for (a, b) in x.iter().zip(&p) {
            assert!((a - b).abs() < 1e-4, "{x:?} vs {p:?}");
        }
    }

    #[test]
    fn unreachable_targets_beat_plain_clamping_in_au_space() {
        let t = AuTable::builtin();
        let fit = BoundedFit::new(&t);
        // AU9 + AU10 overdrive levator labii (0.7 + 0.9 > 1).
        let mut p = vec![0.0; 25];
        for (au, s) in [("AU9", 1.0), ("AU10", 1.0), ("AU4", 0.3)] {
            t.accumulate(t.index(au).unwrap(), s, &mut p);
        }
        let mut clamped = p.clone();
        t.layout().clamp(&mut clamped);
        let mut x = clamped.clone();
        let s = fit.fit(&p, &mut x);
        assert!(s.converged);
        let l = t.layout();
        for (i, v) in x.iter().enumerate() {
            let (lo, hi) = l.limits(i);
            assert!(*v >= lo && *v <= hi);
        }
        assert!(fit.objective(&p, &x) < fit.objective(&p, &clamped) - 1e-3);
        // The coupled channel (corrugator, shared by AU9) moved to compensate.
        let c = l.index("corrugator_l").unwrap();
        assert!(x[c] > clamped[c] + 0.01, "{} vs {}", x[c], clamped[c]);
    }
}
