//! Motors to skin: turns actuator positions into a deformed face mesh, fast.
//!
//! [`Deformer::new`] resolves the rig's landmark anchors on one face and precomputes, per
//! actuator, a sparse list of the vertices it moves with their displacement at +1 travel (Waters
//! 1987 falloffs) or rotation weight, plus the skin graph (one-ring adjacency) of the region the
//! muscles can reach. [`Deformer::apply`] then costs time proportional to that region only:
//!
//! 1. **Muscles.** Linear and sphincter muscles add their precomputed displacement scaled by the
//!    actuator's travel: linear muscles slide the skin along its surface toward the origin, and
//!    the skin bunching between origin and insertion bulges out along its normal. Rotations
//!    (jaw, eyelid skin) then turn the muscle-displaced point about their axis, blended by a
//!    smooth per-vertex weight (1 on the lower lip and chin, so they ride the jaw rigidly).
//! 2. **Skin relaxation.** A few Jacobi iterations of a membrane (graph Laplacian) energy of the
//!    displacement over the skin's edges, softly anchored to the muscle result, over the Waters
//!    muscles' reach plus a two-ring border: their pull spreads into the surrounding skin
//!    (stretch) and cone and falloff edges are smoothed instead of denting. Jaw-driven skin is
//!    anchored stiffly (the rigid part of the jaw is not relaxed at all); sphincter and rotation
//!    fields are smooth by construction and are not relaxed.
//! 3. **Normals** are recomputed only for the vertices around moved ones, from the triangles
//!    that have a moving vertex (the others' contribution is precomputed). Authored normals that
//!    differ from the geometric ones keep that difference.
//!
//! All activations at 0 restores the rest mesh bit-exactly; `apply` does not allocate (once its
//! output mesh has the rest mesh's size).

use std::f32::consts::{FRAC_PI_2, PI};

use crate::landmarks::Landmarks;
use crate::mesh::FaceMesh;
use crate::rig::{Anchor, Lip, MuscleModel, Rig, RigError};

type V3 = [f32; 3];

/// Tuning of the skin relaxation (the defaults suit the default head).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeformerSettings {
    /// Jacobi iterations of the skin relaxation per `apply` (0 disables it).
    pub relax_iterations: u32,
    /// Soft anchor of the skin to the muscle result, relative to the pull of its neighbours:
    /// 1.0 = each iteration is half muscle target, half neighbour average.
    pub anchor_stiffness: f32,
    /// Extra anchor stiffness on jaw-driven skin (times the jaw weight), keeps it rigid.
    pub jaw_stiffness: f32,
    /// Rings of skin around the Waters muscles' reach that relaxation may also move.
    pub border_rings: u32,
}

impl Default for DeformerSettings {
    fn default() -> Self {
        DeformerSettings {
            relax_iterations: 3,
            anchor_stiffness: 1.0,
            jaw_stiffness: 30.0,
            border_rings: 2,
        }
    }
}

/// One vertex of a linear kernel: local vertex index and its displacement at +1 travel.
#[derive(Debug, Clone, Copy)]
struct LinEntry {
    k: u32,
    v: V3,
}

/// One vertex of a rotation kernel: local vertex index and its blend weight.
#[derive(Debug, Clone, Copy)]
struct RotEntry {
    k: u32,
    w: f32,
}

#[derive(Debug, Clone)]
enum Kernel {
    /// Displacement linear in travel (Waters linear muscle, sphincter).
    Linear(Vec<LinEntry>),
    /// Rotation about `axis` through `centre` by `rad_per_unit · travel`, blended per vertex.
    Rotation {
        centre: V3,
        axis: V3,
        rad_per_unit: f32,
        entries: Vec<RotEntry>,
    },
    /// Rigid part moved by the app: no skin deformation.
    None,
}

#[derive(Debug, Clone)]
struct ActuatorKernel {
    channel: usize,
    min_norm: f32,
    max_norm: f32,
    kernel: Kernel,
}

/// Precomputed, allocation-free muscle → skin deformation of one face. See the module docs.
#[derive(Debug, Clone)]
pub struct Deformer {
    rig: Rig,
    rest: FaceMesh,
    settings: DeformerSettings,
    kernels: Vec<ActuatorKernel>,
    /// Mesh vertex indices each channel can move (sorted), by channel.
    affected: Vec<Vec<u32>>,
    lines: Vec<(String, V3, V3)>,

    // Local vertex space: 0..n_free move and are relaxed; n_free..n_moved move rigidly with
    // their target (stiff jaw skin); n_moved..n_normal only get new normals.
    local_to_vertex: Vec<u32>,
    n_free: usize,
    n_moved: usize,
    n_normal: usize,
    rest_local: Vec<V3>,
    /// Relaxation graph of the free locals (indices of moved locals, padded with `n_moved`
    /// whose displacement is always zero; neighbours outside the region count as zero
    /// displacement through `relax_b`).
    nbr: Padded,
    relax_a: Vec<f32>,
    relax_b: Vec<f32>,
    /// Triangles (local indices) with at least one moving vertex.
    tris: Vec<[u32; 3]>,
    /// For each normal local, its triangles in `tris`.
    inc: Padded,
    /// For each normal local, the (constant) area-weighted normal sum of its other triangles.
    normal_static: Vec<V3>,
    /// When authored normals differ from the geometric ones: per normal local, authored rest
    /// normal minus geometric rest normal, and 1 / length of the geometric rest normal sum.
    normal_base: Option<(Vec<V3>, Vec<f32>)>,

    // Scratch (sized once).
    activations: Vec<f32>,
    target: Vec<V3>,
    disp: Vec<V3>,
    disp_next: Vec<V3>,
    pos: Vec<V3>,
    face: Vec<V3>,
    /// Whether the last `apply` left a deformation in its output (and which buffer that was).
    dirty: bool,
    last_out: usize,
}

impl Deformer {
    /// Builds the deformer for `mesh` with its `landmarks`, with default relaxation settings.
    pub fn new(mesh: &FaceMesh, landmarks: &Landmarks, rig: &Rig) -> Result<Deformer, RigError> {
        Deformer::with_settings(mesh, landmarks, rig, DeformerSettings::default())
    }

    /// Builds the deformer with explicit relaxation settings.
    pub fn with_settings(
        mesh: &FaceMesh,
        landmarks: &Landmarks,
        rig: &Rig,
        settings: DeformerSettings,
    ) -> Result<Deformer, RigError> {
        Deformer::from_lookup(mesh, &|name: &str| landmarks.get(name), rig, settings)
    }

    /// Builds the deformer with any landmark lookup (name → head-space point).
    pub fn from_lookup(
        mesh: &FaceMesh,
        lookup: &dyn Fn(&str) -> Option<[f32; 3]>,
        rig: &Rig,
        settings: DeformerSettings,
    ) -> Result<Deformer, RigError> {
        build(mesh, lookup, rig, settings)
    }

    /// The rest mesh (the input mesh, with normals computed if it had none). Clone it once to
    /// get the output mesh for [`Deformer::apply`].
    pub fn rest(&self) -> &FaceMesh {
        &self.rest
    }

    /// The rig this deformer was built from.
    pub fn rig(&self) -> &Rig {
        &self.rig
    }

    /// The relaxation settings in use.
    pub fn settings(&self) -> &DeformerSettings {
        &self.settings
    }

    /// Mesh vertex indices (sorted) that the actuator on `channel` moves directly; empty for
    /// rigid parts and unused channels.
    pub fn affected_vertices(&self, channel: usize) -> &[u32] {
        self.affected.get(channel).map_or(&[], Vec::as_slice)
    }

    /// Number of vertices `apply` may move: every actuator's reach, plus a border around the
    /// Waters muscles into which the skin relaxation spreads their pull.
    pub fn movable_vertex_count(&self) -> usize {
        self.n_moved
    }

    /// Muscle segments in head space, for drawing over the face: `(actuator, from, to)`.
    /// Linear muscles give origin → insertion; sphincters and eyelids a closed polygon of
    /// segments (several entries with the same name); the jaw its hinge axis.
    pub fn muscle_lines(&self) -> Vec<(String, [f32; 3], [f32; 3])> {
        self.lines.clone()
    }

    /// Deforms the face: `positions_norm[channel]` is each actuator's normalised travel (missing
    /// channels are 0, NaN counts as 0, values are clamped to the actuator's limits). Writes
    /// positions and normals into `out`, which must be a clone of [`Deformer::rest`] (anything
    /// else of the wrong size is replaced by one, once). Vertices out of every actuator's
    /// reach are never written.
    pub fn apply(&mut self, positions_norm: &[f32], out: &mut FaceMesh) {
        let n = self.rest.positions.len();
        if out.positions.len() != n || out.normals.len() != n {
            out.clone_from(&self.rest);
        }

        let mut any = false;
        for (a, k) in self.activations.iter_mut().zip(&self.kernels) {
            let raw = positions_norm.get(k.channel).copied().unwrap_or(0.0);
            let raw = if raw.is_finite() { raw } else { 0.0 };
            *a = raw.clamp(k.min_norm, k.max_norm);
            any |= *a != 0.0 && !matches!(k.kernel, Kernel::None);
        }

        let out_id = out.positions.as_ptr() as usize;
        if !any {
            // Fast path: rest pose, bit-exact (nothing to do if this buffer is already at rest).
            if self.dirty || self.last_out != out_id {
                for &v in &self.local_to_vertex[..self.n_normal] {
                    let v = v as usize;
                    out.positions[v] = self.rest.positions[v];
                    out.normals[v] = self.rest.normals[v];
                }
            }
            self.dirty = false;
            self.last_out = out_id;
            return;
        }

        self.muscles();
        self.relax();
        self.write(out);
        self.dirty = true;
        self.last_out = out_id;
    }

    /// Step 1: muscle displacements into `target` (moved locals only).
    fn muscles(&mut self) {
        let target = &mut self.target[..self.n_moved];
        target.fill([0.0; 3]);
        for (kernel, &a) in self.kernels.iter().zip(&self.activations) {
            if a == 0.0 {
                continue;
            }
            if let Kernel::Linear(entries) = &kernel.kernel {
                for e in entries {
                    let t = &mut target[e.k as usize];
                    t[0] += a * e.v[0];
                    t[1] += a * e.v[1];
                    t[2] += a * e.v[2];
                }
            }
        }
        for (kernel, &a) in self.kernels.iter().zip(&self.activations) {
            if a == 0.0 {
                continue;
            }
            if let Kernel::Rotation {
                centre,
                axis,
                rad_per_unit,
                entries,
            } = &kernel.kernel
            {
                // M = R - I, so that the blended rotation of p is p + w·M·(p - centre).
                let m = rotation_minus_identity(*axis, rad_per_unit * a);
                for e in entries {
                    let k = e.k as usize;
                    let r = self.rest_local[k];
                    let t = &mut target[k];
                    let q = [
                        r[0] + t[0] - centre[0],
                        r[1] + t[1] - centre[1],
                        r[2] + t[2] - centre[2],
                    ];
                    t[0] += e.w * (m[0][0] * q[0] + m[0][1] * q[1] + m[0][2] * q[2]);
                    t[1] += e.w * (m[1][0] * q[0] + m[1][1] * q[1] + m[1][2] * q[2]);
                    t[2] += e.w * (m[2][0] * q[0] + m[2][1] * q[1] + m[2][2] * q[2]);
                }
            }
        }
    }

    /// Step 2: Jacobi iterations of `d_i = a_i·t_i + b_i·Σ_j d_j` (membrane energy with a soft
    /// anchor to the muscle target) over the free locals, result in `disp`.
    fn relax(&mut self) {
        let (f, m) = (self.n_free, self.n_moved);
        // `disp[m]` stays zero: the padding slot of the neighbour lists.
        self.disp[..m].copy_from_slice(&self.target[..m]);
        self.disp_next[f..m].copy_from_slice(&self.target[f..m]);
        for _ in 0..self.settings.relax_iterations {
            let cur = &self.disp[..=m];
            let next = &mut self.disp_next[..f];
            let target = &self.target[..f];
            let ab = self.relax_a[..f].iter().zip(&self.relax_b[..f]);
            let mut overflow = self.nbr.overflow.iter().peekable();
            let rows = self.nbr.slots[..f].iter();
            for (i, (((out, t), (&a, &b)), row)) in
                next.iter_mut().zip(target).zip(ab).zip(rows).enumerate()
            {
                let mut s = [0.0f32; 3];
                for &j in row {
                    let d = cur[j as usize];
                    s[0] += d[0];
                    s[1] += d[1];
                    s[2] += d[2];
                }
                while let Some(&&(r, j)) = overflow.peek() {
                    if r as usize != i {
                        break;
                    }
                    let d = cur[j as usize];
                    s[0] += d[0];
                    s[1] += d[1];
                    s[2] += d[2];
                    overflow.next();
                }
                *out = [
                    a * t[0] + b * s[0],
                    a * t[1] + b * s[1],
                    a * t[2] + b * s[2],
                ];
            }
            std::mem::swap(&mut self.disp, &mut self.disp_next);
        }
    }

    /// Step 3: positions, then normals of the vertices around moved ones, into `out`.
    fn write(&mut self, out: &mut FaceMesh) {
        let m = self.n_moved;
        let moved = self.local_to_vertex[..m].iter();
        for (((p, r), d), &v) in self.pos[..m]
            .iter_mut()
            .zip(&self.rest_local[..m])
            .zip(&self.disp[..m])
            .zip(moved)
        {
            *p = [r[0] + d[0], r[1] + d[1], r[2] + d[2]];
            out.positions[v as usize] = *p;
        }
        for (f, t) in self.face.iter_mut().zip(&self.tris) {
            let a = self.pos[t[0] as usize];
            let b = self.pos[t[1] as usize];
            let c = self.pos[t[2] as usize];
            *f = cross(sub(b, a), sub(c, a));
        }
        let nn = self.n_normal;
        let mut overflow = self.inc.overflow.iter().peekable();
        for (k, (row, s)) in self.inc.slots[..nn]
            .iter()
            .zip(&self.normal_static[..nn])
            .enumerate()
        {
            let mut acc = *s;
            for &t in row {
                let f = self.face[t as usize];
                acc[0] += f[0];
                acc[1] += f[1];
                acc[2] += f[2];
            }
            while let Some(&&(r, t)) = overflow.peek() {
                if r as usize != k {
                    break;
                }
                let f = self.face[t as usize];
                acc[0] += f[0];
                acc[1] += f[1];
                acc[2] += f[2];
                overflow.next();
            }
            let n = match &self.normal_base {
                // Authored normal + change of the geometric normal (scaled by its rest length,
                // which saves a normalisation).
                Some((base, inv_len)) => {
                    let (b, l) = (base[k], inv_len[k]);
                    [b[0] + l * acc[0], b[1] + l * acc[1], b[2] + l * acc[2]]
                }
                None => acc,
            };
            let v = self.local_to_vertex[k] as usize;
            let len2 = dot(n, n);
            out.normals[v] = if len2 > 1e-30 {
                scale(n, 1.0 / len2.sqrt())
            } else {
                self.rest.normals[v]
            };
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Building.

/// Weights of the jaw: 1 below the mouth slot, 0 above it, fading to the back and the neck.
#[derive(Debug, Clone, Copy)]
struct JawField {
    pivot: V3,
    axis: V3,
    upper: V3,
    lower: V3,
    mid_y: f32,
    corner_x: f32,
    corner_y: f32,
    pivot_x: f32,
    pivot_y: f32,
    slot_half: f32,
    corner_band: f32,
    cheek_band: f32,
    angle_y: f32,
    angle_z: f32,
    back_fade: f32,
    chin_y: f32,
    chin_z: f32,
    neck_y: f32,
}

impl JawField {
    /// 1 below the mouth slot (and the line from the corners toward the pivots), 0 above,
    /// from the position alone.
    fn split(&self, p: V3) -> f32 {
        let ax = p[0].abs();
        let (yc, h) = if ax <= self.corner_x {
            let t = ax / self.corner_x.max(1e-6);
            (
                lerp(self.mid_y, self.corner_y, t * t),
                lerp(self.slot_half, self.corner_band, t * t),
            )
        } else {
            let span = (self.pivot_x - self.corner_x).max(1e-3);
            let t = ((ax - self.corner_x) / span).min(1.0);
            (
                lerp(self.corner_y, self.pivot_y - self.cheek_band, t),
                lerp(self.corner_band, self.cheek_band, t),
            )
        };
        smoothstep(yc + h, yc - h, p[1])
    }

    /// Height of the slot's centre line at `x` (lips only).
    fn slot_y(&self, x: f32) -> f32 {
        let t = (x.abs() / self.corner_x.max(1e-6)).min(1.0);
        lerp(self.mid_y, self.corner_y, t * t)
    }

    /// Jaw weight of a vertex at `p` whose slot split is `split`.
    fn weight(&self, p: V3, split: f32) -> f32 {
        if split <= 0.0 {
            return 0.0;
        }
        let back = smoothstep(self.angle_z, self.angle_z + self.back_fade, p[2]);
        // Lower border of the jaw: from the chin back to the jaw angle.
        let span = self.chin_z - self.angle_z;
        let t = if span.abs() > 1e-6 {
            ((self.chin_z - p[2]) / span).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let border = lerp(self.chin_y, self.angle_y, t);
        let fade = (self.chin_y - self.neck_y).max(0.01);
        let neck = smoothstep(border - fade, border, p[1]);
        split * back * neck
    }
}

/// Per-vertex slot split (1 = lower side): by position, refined by connectivity where the lips
/// are separate in the mesh. Around the lips, vertices reachable from the lower lip without
/// crossing the slot are lower (1), those reachable from the upper lip upper (0). The region
/// searched is narrowed from the corners inward until the two lips are not connected (lips that
/// touch near the corners, or a mesh without a slot, fall back to the position split).
fn slot_split(positions: &[V3], adjacency: &Adjacency, jaw: &JawField) -> Vec<f32> {
    let mut split: Vec<f32> = positions.iter().map(|&p| jaw.split(p)).collect();
    let band = (4.0 * jaw.slot_half).max(0.5 * (jaw.upper[1] - jaw.lower[1]).abs());
    let depth = 0.4 * jaw.corner_x;
    let front = jaw.upper[2].max(jaw.lower[2]);
    for frac in [0.9f32, 0.8, 0.7, 0.6, 0.5, 0.4] {
        let half_w = frac * jaw.corner_x;
        let inside = |p: V3| {
            p[0].abs() < half_w && (p[1] - jaw.slot_y(p[0])).abs() < band && p[2] > front - depth
        };
        let seed = |target: V3| {
            positions
                .iter()
                .enumerate()
                .filter(|(_, p)| inside(**p))
                .min_by(|a, b| dist2(*a.1, target).total_cmp(&dist2(*b.1, target)))
                .map(|(i, _)| i)
        };
        let (Some(up), Some(lo)) = (seed(jaw.upper), seed(jaw.lower)) else {
            return split;
        };
        let lower_side = flood(positions, adjacency, lo, &inside);
        if lower_side[up] {
            continue;
        }
        let upper_side = flood(positions, adjacency, up, &inside);
        for (i, &p) in positions.iter().enumerate() {
            let topo = if lower_side[i] {
                1.0
            } else if upper_side[i] {
                0.0
            } else {
                continue;
            };
            let f = 1.0 - smoothstep(0.6 * half_w, half_w, p[0].abs());
            split[i] = lerp(split[i], topo, f);
        }
        break;
    }
    split
}

/// Vertices reachable from `seed` through vertices satisfying `inside`.
fn flood(
    positions: &[V3],
    adjacency: &Adjacency,
    seed: usize,
    inside: &dyn Fn(V3) -> bool,
) -> Vec<bool> {
    let mut seen = vec![false; positions.len()];
    let mut stack = vec![seed];
    seen[seed] = true;
    while let Some(v) = stack.pop() {
        for &u in adjacency.neighbours(v) {
            let u = u as usize;
            if !seen[u] && inside(positions[u]) {
                seen[u] = true;
                stack.push(u);
            }
        }
    }
    seen
}

fn resolve(
    a: &Anchor,
    actuator: &str,
    lookup: &dyn Fn(&str) -> Option<V3>,
) -> Result<V3, RigError> {
    a.resolve(lookup).map_err(|name| RigError::MissingLandmark {
        actuator: actuator.to_owned(),
        landmark: name.to_owned(),
    })
}

fn build(
    mesh: &FaceMesh,
    lookup: &dyn Fn(&str) -> Option<V3>,
    rig: &Rig,
    settings: DeformerSettings,
) -> Result<Deformer, RigError> {
    rig.validate(&rig.name)?;
    let n = mesh.positions.len();
    if n == 0 || mesh.indices.is_empty() {
        return Err(RigError::Mesh(
            "the mesh has no vertices or no triangles".to_owned(),
        ));
    }
    if u32::try_from(n).is_err() {
        return Err(RigError::Mesh(format!("too many vertices ({n})")));
    }
    if !mesh.indices.len().is_multiple_of(3) {
        return Err(RigError::Mesh(format!(
            "index count {} is not a multiple of 3",
            mesh.indices.len()
        )));
    }
    if let Some(&bad) = mesh.indices.iter().find(|&&i| i as usize >= n) {
        return Err(RigError::Mesh(format!(
            "index {bad} out of range ({n} vertices)"
        )));
    }
    if mesh.positions.iter().flatten().any(|v| !v.is_finite()) {
        return Err(RigError::Mesh("a vertex position is not finite".to_owned()));
    }
    let tris: Vec<[u32; 3]> = mesh
        .indices
        .chunks_exact(3)
        .map(|t| [t[0], t[1], t[2]])
        .collect();

    // Rest normals: authored where valid, else geometric.
    let geometric = vertex_normals(&mesh.positions, &tris);
    let mut rest = mesh.clone();
    if rest.normals.len() != n {
        rest.normals = geometric.clone();
    } else {
        for (nv, g) in rest.normals.iter_mut().zip(&geometric) {
            let len2 = dot(*nv, *nv);
            if !len2.is_finite() || len2 < 1e-12 {
                *nv = *g;
            }
        }
    }
    let normals = &rest.normals;

    // Jaw field (first JawRotation actuator), needed by `lip`-gated muscles too.
    let mut jaw: Option<JawField> = None;
    for act in &rig.actuators {
        if let MuscleModel::JawRotation {
            pivot_l,
            pivot_r,
            mouth,
            upper_lip,
            lower_lip,
            corner_l,
            corner_r,
            slot_half_m,
            corner_band_m,
            cheek_band_m,
            jaw_angle,
            back_fade_m,
            chin,
            neck,
            ..
        } = &act.model
        {
            let r = |a: &Anchor| resolve(a, &act.name, lookup);
            let (pl, pr) = (r(pivot_l)?, r(pivot_r)?);
            let (mc, ul, ll) = (r(mouth)?, r(upper_lip)?, r(lower_lip)?);
            let (cl, cr) = (r(corner_l)?, r(corner_r)?);
            let (ja, ch, nk) = (r(jaw_angle)?, r(chin)?, r(neck)?);
            let axis = normalize_or_zero(sub(pl, pr));
            if axis == [0.0; 3] {
                return Err(RigError::Invalid {
                    origin: rig.name.clone(),
                    actuator: act.name.clone(),
                    message: "the two jaw pivots coincide".to_owned(),
                });
            }
            jaw = Some(JawField {
                pivot: scale(add(pl, pr), 0.5),
                axis,
                upper: ul,
                lower: ll,
                mid_y: mc[1],
                corner_x: 0.5 * (cl[0].abs() + cr[0].abs()),
                corner_y: 0.5 * (cl[1] + cr[1]),
                pivot_x: 0.5 * (pl[0].abs() + pr[0].abs()),
                pivot_y: 0.5 * (pl[1] + pr[1]),
                slot_half: *slot_half_m,
                corner_band: *corner_band_m,
                cheek_band: *cheek_band_m,
                angle_y: ja[1],
                angle_z: ja[2],
                back_fade: *back_fade_m,
                chin_y: ch[1],
                chin_z: ch[2],
                neck_y: nk[1],
            });
            break;
        }
    }

    let adjacency = Adjacency::new(n, &tris);
    let split: Vec<f32> = match &jaw {
        Some(j) => slot_split(&mesh.positions, &adjacency, j),
        None => Vec::new(),
    };

    // Per actuator: sparse (global vertex, displacement or weight) lists.
    enum Raw {
        Linear(Vec<(u32, V3)>),
        Rotation {
            centre: V3,
            axis: V3,
            rad_per_unit: f32,
            entries: Vec<(u32, f32)>,
        },
        None,
    }
    const MIN_DISP: f32 = 1e-5;
    const MIN_WEIGHT: f32 = 2e-4;
    let mut raws = Vec::with_capacity(rig.actuators.len());
    let mut lines = Vec::new();
    for act in &rig.actuators {
        let r = |a: &Anchor| resolve(a, &act.name, lookup);
        let raw = match &act.model {
            MuscleModel::Linear {
                origin,
                insertion,
                zone_deg,
                falloff_start,
                falloff_end,
                max_displacement_m,
                bulge,
                max_depth_m,
                lip,
            } => {
                let o = r(origin)?;
                let ins = r(insertion)?;
                lines.push((act.name.clone(), o, ins));
                let len = norm(sub(ins, o));
                if len < 1e-5 {
                    return Err(RigError::Invalid {
                        origin: rig.name.clone(),
                        actuator: act.name.clone(),
                        message: "origin and insertion coincide on this face".to_owned(),
                    });
                }
                let axis = scale(sub(ins, o), 1.0 / len);
                let zone = zone_deg.to_radians();
                let rs = falloff_start * len;
                let rf = falloff_end * len;
                let n_ins = normals[nearest_vertex(&mesh.positions, ins)];
                let gate_lip = if split.is_empty() { None } else { *lip };
                let mut entries = Vec::new();
                for (i, &p) in mesh.positions.iter().enumerate() {
                    let op = sub(p, o);
                    let d = norm(op);
                    if d >= rf || d < 1e-7 {
                        continue;
                    }
                    let cos_mu = (dot(op, axis) / d).clamp(-1.0, 1.0);
                    let mu = cos_mu.acos();
                    if mu >= zone {
                        continue;
                    }
                    let ang = raised_cos(mu / zone);
                    let radial = if d <= rs {
                        (d / rs * FRAC_PI_2).sin()
                    } else {
                        raised_cos((d - rs) / (rf - rs))
                    };
                    let np = normals[i];
                    let mut gate = facing(dot(np, n_ins));
                    if let Some(dmax) = max_depth_m {
                        let depth = dot(sub(p, ins), n_ins).abs();
                        gate *= 1.0 - smoothstep(0.6 * dmax, *dmax, depth);
                    }
                    if let Some(side) = gate_lip {
                        let s = split[i];
                        gate *= match side {
                            Lip::Upper => 1.0 - s,
                            Lip::Lower => s,
                        };
                    }
                    let w = ang * gate;
                    if w <= 0.0 {
                        continue;
                    }
                    // Pull toward the origin, slid along the skin (tangent plane).
                    let pull = sub(o, p);
                    let tangent = normalize_or_zero(sub(pull, scale(np, dot(pull, np))));
                    let mut v = scale(tangent, max_displacement_m * w * radial);
                    // Bunching skin between origin and insertion bulges outward.
                    let bunch = (PI * (d / rs).min(1.0)).sin();
                    v = add(v, scale(np, bulge * max_displacement_m * w * bunch));
                    if norm(v) * act.max_norm.abs().max(act.min_norm.abs()) >= MIN_DISP {
                        entries.push((i as u32, v));
                    }
                }
                Raw::Linear(entries)
            }
            MuscleModel::Sphincter {
                centre,
                semi_axes_m,
                falloff_start,
                falloff_end,
                max_displacement_m,
                pucker_m,
                max_depth_m,
            } => {
                let c = r(centre)?;
                push_ellipse(&mut lines, &act.name, c, *semi_axes_m);
                let [ax, ay] = *semi_axes_m;
                let k = max_displacement_m / (0.5 * (ax + ay));
                let mut entries = Vec::new();
                for (i, &p) in mesh.positions.iter().enumerate() {
                    let dx = p[0] - c[0];
                    let dy = p[1] - c[1];
                    let rr = ((dx / ax).powi(2) + (dy / ay).powi(2)).sqrt();
                    let g = falloff(rr, *falloff_start, *falloff_end);
                    if g <= 0.0 {
                        continue;
                    }
                    let mut gate = facing(normals[i][2]);
                    if let Some(dmax) = max_depth_m {
                        gate *= 1.0 - smoothstep(0.6 * dmax, *dmax, c[2] - p[2]);
                    }
                    let w = g * gate;
                    if w <= 0.0 {
                        continue;
                    }
                    let v = [-k * w * dx, -k * w * dy, pucker_m * w];
                    if norm(v) * act.max_norm.abs().max(act.min_norm.abs()) >= MIN_DISP {
                        entries.push((i as u32, v));
                    }
                }
                Raw::Linear(entries)
            }
            MuscleModel::JawRotation { max_angle_deg, .. } => match &jaw {
                Some(j) => {
                    let half = scale(j.axis, j.pivot_x.max(0.01));
                    lines.push((act.name.clone(), sub(j.pivot, half), add(j.pivot, half)));
                    let entries = mesh
                        .positions
                        .iter()
                        .enumerate()
                        .filter_map(|(i, &p)| {
                            let w = j.weight(p, split[i]);
                            (w >= MIN_WEIGHT).then_some((i as u32, w))
                        })
                        .collect();
                    Raw::Rotation {
                        centre: j.pivot,
                        axis: j.axis,
                        rad_per_unit: max_angle_deg.to_radians(),
                        entries,
                    }
                }
                None => Raw::None,
            },
            MuscleModel::Lid {
                eye,
                lid,
                semi_axes_m,
                falloff_start,
                falloff_end,
                angle_per_unit_deg,
                follow,
            } => {
                let e = r(eye)?;
                let l = r(lid)?;
                lines.push((act.name.clone(), e, l));
                let [ax, ay] = *semi_axes_m;
                let front = e[2] + 0.6 * (l[2] - e[2]);
                let entries = mesh
                    .positions
                    .iter()
                    .enumerate()
                    .filter_map(|(i, &p)| {
                        let rr =
                            (((p[0] - l[0]) / ax).powi(2) + ((p[1] - l[1]) / ay).powi(2)).sqrt();
                        let w = falloff(rr, *falloff_start, *falloff_end)
                            * smoothstep(e[1], l[1], p[1])
                            * smoothstep(e[2], front, p[2])
                            * facing(normals[i][2])
                            * follow;
                        (w.abs() >= MIN_WEIGHT).then_some((i as u32, w))
                    })
                    .collect();
                Raw::Rotation {
                    centre: e,
                    axis: [1.0, 0.0, 0.0],
                    // Negative travel closes the lid: rotation about +X moves the front down.
                    rad_per_unit: -angle_per_unit_deg.to_radians(),
                    entries,
                }
            }
            MuscleModel::Rigid { .. } => Raw::None,
        };
        raws.push(raw);
    }

    // Skin graph.
    // Reach of the Waters linear muscles (their fields get relaxed) and of everything.
    let mut reach_linear = vec![false; n];
    let mut reach = vec![false; n];
    let mut jaw_w = vec![0.0f32; n];
    let mut affected: Vec<Vec<u32>> = vec![Vec::new(); rig.channel_count()];
    for (act, raw) in rig.actuators.iter().zip(&raws) {
        let list: Vec<u32> = match raw {
            Raw::Linear(e) => e.iter().map(|x| x.0).collect(),
            Raw::Rotation { entries, .. } => entries.iter().map(|x| x.0).collect(),
            Raw::None => Vec::new(),
        };
        // Waters muscles need relaxing; sphincter and rotation fields are smooth already.
        let waters = matches!(act.model, MuscleModel::Linear { .. });
        for &v in &list {
            reach[v as usize] = true;
            reach_linear[v as usize] |= waters;
        }
        if let (MuscleModel::JawRotation { .. }, Raw::Rotation { entries, .. }) = (&act.model, raw)
        {
            for &(v, w) in entries {
                jaw_w[v as usize] = jaw_w[v as usize].max(w);
            }
        }
        if let Some(slot) = affected.get_mut(usize::from(act.channel)) {
            *slot = list;
        }
    }
    // Relaxed region: the linear muscles' reach plus border rings (sphincter and rotation
    // fields are smooth by construction and move with their target).
    let mut relaxed = reach_linear;
    for _ in 0..settings.border_rings {
        let frontier: Vec<usize> = (0..n).filter(|&v| relaxed[v]).collect();
        for v in frontier {
            for &u in adjacency.neighbours(v) {
                relaxed[u as usize] = true;
            }
        }
    }
    let moved: Vec<bool> = (0..n).map(|v| reach[v] || relaxed[v]).collect();
    // Normal region: the moved vertices and every vertex of a triangle touching one.
    let mut normal_set = moved.clone();
    let moving_tri = |t: &[u32; 3]| t.iter().any(|&i| moved[i as usize]);
    for t in tris.iter().filter(|t| moving_tri(t)) {
        for &i in t {
            normal_set[i as usize] = true;
        }
    }
    // Stiff jaw skin (anchor ≥ 96 %) follows its target without relaxation too.
    let stiffness =
        |v: usize| settings.anchor_stiffness.max(1e-3) + settings.jaw_stiffness.max(0.0) * jaw_w[v];
    let free: Vec<bool> = (0..n)
        .map(|v| relaxed[v] && settings.relax_iterations > 0 && stiffness(v) < 24.0)
        .collect();

    // Local numbering: free, anchored, normal-only (each in vertex order, for locality).
    const NONE: u32 = u32::MAX;
    let mut to_local = vec![NONE; n];
    let mut local_to_vertex = Vec::new();
    for pass in 0..3 {
        for v in 0..n {
            let take = match pass {
                0 => free[v],
                1 => moved[v] && !free[v],
                _ => normal_set[v] && !moved[v],
            };
            if take {
                to_local[v] = local_to_vertex.len() as u32;
                local_to_vertex.push(v as u32);
            }
        }
    }
    let n_free = free.iter().filter(|&&m| m).count();
    let n_moved = moved.iter().filter(|&&m| m).count();
    let n_normal = local_to_vertex.len();
    let rest_local: Vec<V3> = local_to_vertex
        .iter()
        .map(|&v| mesh.positions[v as usize])
        .collect();

    // Relaxation CSR over the free locals.
    let mut nbr_start = Vec::with_capacity(n_free + 1);
    let mut nbr = Vec::new();
    let mut relax_a = Vec::with_capacity(n_free);
    let mut relax_b = Vec::with_capacity(n_free);
    nbr_start.push(0u32);
    for &v in &local_to_vertex[..n_free] {
        let ns = adjacency.neighbours(v as usize);
        let deg = ns.len() as f32;
        for &u in ns {
            let l = to_local[u as usize];
            if (l as usize) < n_moved {
                nbr.push(l);
            }
        }
        nbr_start.push(nbr.len() as u32);
        if deg == 0.0 {
            relax_a.push(1.0);
            relax_b.push(0.0);
        } else {
            let kappa = stiffness(v as usize) * deg;
            relax_a.push(kappa / (kappa + deg));
            relax_b.push(1.0 / (kappa + deg));
        }
    }

    // Normals: triangles with a moving vertex are recomputed each frame; the others' (constant)
    // contribution is summed once.
    let mut tris_local = Vec::new();
    let mut normal_static = vec![[0.0f32; 3]; n_normal];
    let mut geometric_rest = vec![[0.0f32; 3]; n_normal];
    let mut inc_count = vec![0u32; n_normal + 1];
    for t in &tris {
        if !t.iter().any(|&i| normal_set[i as usize]) {
            continue;
        }
        let [a, b, c] = t.map(|i| mesh.positions[i as usize]);
        let fnrm = cross(sub(b, a), sub(c, a));
        let lt = t.map(|i| to_local[i as usize]);
        let dynamic = moving_tri(t);
        for &l in &lt {
            if (l as usize) < n_normal {
                geometric_rest[l as usize] = add(geometric_rest[l as usize], fnrm);
                if dynamic {
                    inc_count[l as usize + 1] += 1;
                } else {
                    normal_static[l as usize] = add(normal_static[l as usize], fnrm);
                }
            }
        }
        if dynamic {
            tris_local.push(lt);
        }
    }
    for i in 0..n_normal {
        inc_count[i + 1] += inc_count[i];
    }
    let inc_start = inc_count;
    let mut fill = inc_start.clone();
    let mut inc = vec![0u32; inc_start[n_normal] as usize];
    for (ti, t) in tris_local.iter().enumerate() {
        for &l in t {
            let slot = &mut fill[l as usize];
            inc[*slot as usize] = ti as u32;
            *slot += 1;
        }
    }
    let base: Vec<V3> = (0..n_normal)
        .map(|k| {
            sub(
                normals[local_to_vertex[k] as usize],
                normalize_or_zero(geometric_rest[k]),
            )
        })
        .collect();
    let inv_len: Vec<f32> = geometric_rest
        .iter()
        .map(|g| {
            let l = norm(*g);
            if l > 1e-20 { 1.0 / l } else { 0.0 }
        })
        .collect();
    // Authored normals that are the geometric ones need no correction.
    let normal_base = base
        .iter()
        .any(|b| norm(*b) > 1e-3)
        .then_some((base, inv_len));

    let kernels = rig
        .actuators
        .iter()
        .zip(raws)
        .map(|(act, raw)| {
            let kernel = match raw {
                Raw::Linear(e) => Kernel::Linear(
                    e.into_iter()
                        .map(|(v, d)| LinEntry {
                            k: to_local[v as usize],
                            v: d,
                        })
                        .collect(),
                ),
                Raw::Rotation {
                    centre,
                    axis,
                    rad_per_unit,
                    entries,
                } => Kernel::Rotation {
                    centre,
                    axis,
                    rad_per_unit,
                    entries: entries
                        .into_iter()
                        .map(|(v, w)| RotEntry {
                            k: to_local[v as usize],
                            w,
                        })
                        .collect(),
                },
                Raw::None => Kernel::None,
            };
            ActuatorKernel {
                channel: usize::from(act.channel),
                min_norm: act.min_norm,
                max_norm: act.max_norm,
                kernel,
            }
        })
        .collect::<Vec<_>>();

    Ok(Deformer {
        rig: rig.clone(),
        rest,
        settings,
        activations: vec![0.0; kernels.len()],
        kernels,
        affected,
        lines,
        local_to_vertex,
        n_free,
        n_moved,
        n_normal,
        rest_local: rest_local.clone(),
        nbr: Padded::from_csr(&nbr_start, &nbr, n_moved as u32),
        relax_a,
        relax_b,
        face: vec![[0.0; 3]; tris_local.len() + 1],
        inc: Padded::from_csr(&inc_start, &inc, tris_local.len() as u32),
        tris: tris_local,
        normal_static,
        normal_base,
        target: vec![[0.0; 3]; n_moved],
        disp: vec![[0.0; 3]; n_moved + 1],
        disp_next: vec![[0.0; 3]; n_moved + 1],
        pos: rest_local,
        dirty: false,
        last_out: 0,
    })
}

/// Slots per row of a [`Padded`] list (most vertices have 5–7 neighbours / triangles).
const SLOTS: usize = 8;

/// Fixed-width index lists (fast, branch-free inner loops): each row holds up to [`SLOTS`]
/// indices, padded with an index whose value is always zero; the rare extra entries are kept
/// aside as `(row, index)` pairs in row order.
#[derive(Debug, Clone, Default)]
struct Padded {
    slots: Vec<[u32; SLOTS]>,
    overflow: Vec<(u32, u32)>,
}

impl Padded {
    fn from_csr(start: &[u32], items: &[u32], pad: u32) -> Padded {
        let mut slots = Vec::with_capacity(start.len().saturating_sub(1));
        let mut overflow = Vec::new();
        for (row, w) in start.windows(2).enumerate() {
            let list = &items[w[0] as usize..w[1] as usize];
            let mut r = [pad; SLOTS];
            for (k, &x) in list.iter().enumerate() {
                match r.get_mut(k) {
                    Some(slot) => *slot = x,
                    None => overflow.push((row as u32, x)),
                }
            }
            slots.push(r);
        }
        Padded { slots, overflow }
    }
}

/// One-ring adjacency (CSR, deduplicated).
#[derive(Debug)]
struct Adjacency {
    start: Vec<u32>,
    nbr: Vec<u32>,
}

impl Adjacency {
    fn new(n: usize, tris: &[[u32; 3]]) -> Adjacency {
        let mut edges: Vec<(u32, u32)> = Vec::with_capacity(tris.len() * 6);
        for t in tris {
            for (a, b) in [(t[0], t[1]), (t[1], t[2]), (t[2], t[0])] {
                if a != b {
                    edges.push((a, b));
                    edges.push((b, a));
                }
            }
        }
        edges.sort_unstable();
        edges.dedup();
        let mut start = vec![0u32; n + 1];
        for &(a, _) in &edges {
            start[a as usize + 1] += 1;
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        Adjacency {
            start,
            nbr: edges.into_iter().map(|e| e.1).collect(),
        }
    }

    fn neighbours(&self, v: usize) -> &[u32] {
        &self.nbr[self.start[v] as usize..self.start[v + 1] as usize]
    }
}

/// Area-weighted vertex normals (unit, or +Z for isolated/degenerate vertices).
fn vertex_normals(positions: &[V3], tris: &[[u32; 3]]) -> Vec<V3> {
    let mut acc = vec![[0.0f32; 3]; positions.len()];
    for t in tris {
        let [a, b, c] = t.map(|i| positions[i as usize]);
        let fnrm = cross(sub(b, a), sub(c, a));
        for &i in t {
            acc[i as usize] = add(acc[i as usize], fnrm);
        }
    }
    acc.into_iter()
        .map(|v| {
            let n = normalize_or_zero(v);
            if n == [0.0; 3] { [0.0, 0.0, 1.0] } else { n }
        })
        .collect()
}

fn dist2(a: V3, b: V3) -> f32 {
    let d = sub(a, b);
    dot(d, d)
}

fn nearest_vertex(positions: &[V3], p: V3) -> usize {
    let mut best = (f32::INFINITY, 0);
    for (i, &q) in positions.iter().enumerate() {
        let d = sub(q, p);
        let d2 = dot(d, d);
        if d2 < best.0 {
            best = (d2, i);
        }
    }
    best.1
}

fn push_ellipse(lines: &mut Vec<(String, V3, V3)>, name: &str, c: V3, [ax, ay]: [f32; 2]) {
    const SEGMENTS: usize = 16;
    let at = |i: usize| {
        let t = i as f32 / SEGMENTS as f32 * 2.0 * PI;
        [c[0] + ax * t.cos(), c[1] + ay * t.sin(), c[2]]
    };
    for i in 0..SEGMENTS {
        lines.push((name.to_owned(), at(i), at(i + 1)));
    }
}

/// `R(axis, angle) - I` (Rodrigues).
fn rotation_minus_identity(axis: V3, angle: f32) -> [[f32; 3]; 3] {
    let (s, c) = angle.sin_cos();
    let t = 1.0 - c;
    let [x, y, z] = axis;
    [
        [t * x * x - t, t * x * y - s * z, t * x * z + s * y],
        [t * x * y + s * z, t * y * y - t, t * y * z - s * x],
        [t * x * z - s * y, t * y * z + s * x, t * z * z - t],
    ]
}

/// 1 at `x <= 0`, smoothly (C¹) to 0 at `x >= 1`.
fn raised_cos(x: f32) -> f32 {
    if x <= 0.0 {
        1.0
    } else if x >= 1.0 {
        0.0
    } else {
        0.5 * (1.0 + (PI * x).cos())
    }
}

/// 1 up to `start`, raised-cosine to 0 at `end`.
fn falloff(r: f32, start: f32, end: f32) -> f32 {
    raised_cos((r - start) / (end - start))
}

/// Skin facing away from the muscle's surface (back of the head, the back of the mouth) is
/// not moved; side walls (e.g. inside the mouth slot) follow their lip.
fn facing(cos: f32) -> f32 {
    smoothstep(-0.5, 0.0, cos)
}

/// Hermite smoothstep from `e0` (0) to `e1` (1); `e0 > e1` gives the falling edge.
fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    if e0 == e1 {
        return if x < e0 { 0.0 } else { 1.0 };
    }
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

fn lerp(a: f32, b: f32, t: f32) -> f32 {
    a + (b - a) * t
}

fn add(a: V3, b: V3) -> V3 {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

fn sub(a: V3, b: V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn scale(a: V3, s: f32) -> V3 {
    [a[0] * s, a[1] * s, a[2] * s]
}

fn dot(a: V3, b: V3) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn cross(a: V3, b: V3) -> V3 {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

fn norm(a: V3) -> f32 {
    dot(a, a).sqrt()
}

fn normalize_or_zero(a: V3) -> V3 {
    let l = norm(a);
    if l > 1e-20 && l.is_finite() {
        scale(a, 1.0 / l)
    } else {
        [0.0; 3]
    }
}
