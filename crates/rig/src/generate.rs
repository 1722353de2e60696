//! The default face, made by code: a signed-distance human head sculpted from smooth primitives
//! (smooth union / smooth subtraction), polygonised with naive surface nets on a rectilinear grid
//! that is finer over the face than over the back of the head, relaxed with Taubin smoothing and
//! projected back onto the surface.
//!
//! Frame: metres, +Y up, +Z forward, +X = the head's left; origin = centre of the head at eye
//! height. Eye sockets are left open (the eyeballs are separate rigid parts of radius
//! [`EYE_RADIUS_M`] centred at [`EYE_L`] / [`EYE_R`]); the mouth has a thin slot between the lips
//! reaching [`MOUTH_SLOT_DEPTH_M`] into the head so that the jaw can open.
//!
//! Everything is deterministic: same code, same bytes.

use crate::FaceMesh;
use crate::landmarks::Landmarks;

/// Radius of the eyeballs the sockets are made for.
pub const EYE_RADIUS_M: f32 = 0.012;
/// Centre of the left eyeball (head's left, +X).
pub const EYE_L: [f32; 3] = [0.0315, 0.0, 0.069];
/// Centre of the right eyeball.
pub const EYE_R: [f32; 3] = [-EYE_L[0], EYE_L[1], EYE_L[2]];
/// How far the mouth slot reaches into the head behind the front of the lips.
pub const MOUTH_SLOT_DEPTH_M: f32 = 0.026;

/// Linear RGBA of the skin.
pub const SKIN_COLOR: [f32; 4] = [0.745, 0.43, 0.325, 1.0];
/// Linear RGBA of the lips (vermilion).
pub const LIP_COLOR: [f32; 4] = [0.5, 0.13, 0.12, 1.0];
/// Linear RGBA of the eyebrows (a tint on the skin; the face has no hair).
pub const BROW_COLOR: [f32; 4] = [0.07, 0.04, 0.025, 1.0];
/// Linear RGBA of the mouth interior (the slot walls).
pub const MOUTH_INTERIOR_COLOR: [f32; 4] = [0.09, 0.012, 0.014, 1.0];

/// The generated default face: its mesh and its (exact) landmarks.
#[derive(Debug, Clone)]
pub struct GeneratedFace {
    pub mesh: FaceMesh,
    pub landmarks: Landmarks,
}

/// Builds the default face mesh (≈ 20k–40k vertices) and its landmarks.
pub fn generate_default_face() -> GeneratedFace {
    let grid = Grid::new();
    let field = grid.sample();
    let (mut positions, indices) = surface_nets(&grid, &field);
    let adjacency = Adjacency::new(positions.len(), &indices);
    taubin_smooth(&mut positions, &adjacency, SMOOTH_PASSES, 0.5, -0.53);
    for p in &mut positions {
        *p = project_to_surface(*p);
    }
    let mut edit = EditMesh::new(&positions, &indices);
    edit.decimate();
    for _ in 0..3 {
        edit.flip_pass();
        edit.relax(2);
    }
    let (positions, indices) = edit.compact();
    let normals = vertex_normals(&positions, &indices);
    let uvs = cylindrical_uvs(&positions);
    let colors = positions
        .iter()
        .map(|p| skin_color_at(V3::from(*p)))
        .collect();
    let mesh = FaceMesh {
        positions,
        normals,
        uvs,
        colors: Some(colors),
        indices,
    };
    GeneratedFace {
        mesh,
        landmarks: default_landmarks(),
    }
}

/// Signed distance (approximately Euclidean near the surface; metres, negative inside) of the
/// default head at `p`.
pub fn head_sdf(p: [f32; 3]) -> f32 {
    sdf(V3::from(p))
}

/// The landmarks of the default face, derived from the sculpt's parameters and placed exactly on
/// its implicit surface (surface landmarks) or at their anatomical interior positions.
pub fn default_landmarks() -> Landmarks {
    let mut lm = Landmarks::new(EYE_RADIUS_M);
    lm.insert("eye_l", EYE_L);
    lm.insert("eye_r", EYE_R);
    lm.insert("jaw_pivot_l", JAW_PIVOT_L.into());
    lm.insert("jaw_pivot_r", JAW_PIVOT_L.mirror().into());
    lm.insert("neck_base", [0.0, NECK_CUT_Y + 0.012, NECK_Z]);

    // Surface landmarks: (name of the left one or the midline one, nominal point, outward
    // direction). The point is found by casting a ray inward along -direction.
    let e = V3::from(EYE_L);
    let lid = lid_opening_half_height();
    let surface: [(&str, V3, V3); 17] = [
        ("brow_inner", v3(0.0155, 0.024, 0.09), v3(0.0, 0.2, 1.0)),
        ("brow_mid", v3(0.032, 0.029, 0.085), v3(0.0, 0.2, 1.0)),
        ("brow_outer", v3(0.05, 0.023, 0.07), v3(0.55, 0.1, 1.0)),
        (
            "upper_lid",
            v3(e.x, e.y + lid + 0.0022, 0.082),
            v3(0.0, 0.35, 1.0),
        ),
        (
            "lower_lid",
            v3(e.x, e.y - lid - 0.0018, 0.082),
            v3(0.0, -0.3, 1.0),
        ),
        (
            "nostril",
            v3(0.0072, NOSE_BASE_Y - 0.002, 0.101),
            v3(0.0, -1.0, 0.35),
        ),
        ("cheekbone", v3(0.05, -0.017, 0.06), v3(0.7, 0.0, 1.0)),
        ("cheek", v3(0.037, -0.045, 0.075), v3(0.35, 0.0, 1.0)),
        (
            "mouth_corner",
            v3(MOUTH_HALF_WIDTH + 0.0008, mouth_y(MOUTH_HALF_WIDTH), 0.085),
            v3(0.25, 0.0, 1.0),
        ),
        ("jaw_angle", v3(0.053, -0.084, 0.005), v3(0.75, -0.65, 0.0)),
        ("temple", v3(0.062, 0.032, 0.052), v3(1.0, 0.0, 0.45)),
        ("nose_bridge", v3(0.0, 0.004, 0.09), v3(0.0, 0.0, 1.0)),
        (
            "upper_lip",
            v3(0.0, MOUTH_Y + 0.0058, 0.095),
            v3(0.0, 0.0, 1.0),
        ),
        (
            "lower_lip",
            v3(0.0, MOUTH_Y - 0.0068, 0.095),
            v3(0.0, 0.0, 1.0),
        ),
        ("chin", v3(0.0, -0.105, 0.09), v3(0.0, -0.2, 1.0)),
        ("forehead", v3(0.0, 0.062, 0.09), v3(0.0, 0.3, 1.0)),
        ("nose_tip", nose_tip_nominal(), v3(0.0, 0.0, 1.0)),
    ];
    for (name, nominal, out) in surface {
        let hit = cast_inward(nominal, out.normalize()).unwrap_or(nominal);
        if nominal.x == 0.0 {
            lm.insert(name, [0.0, hit.y, hit.z]);
        } else {
            lm.insert(format!("{name}_l"), hit.into());
            lm.insert(format!("{name}_r"), hit.mirror().into());
        }
    }
    // The centre of the slot's opening: midway between the lips' surfaces, just inside the slot.
    let up = lm.get("upper_lip").unwrap_or([0.0, MOUTH_Y, 0.09]);
    let lo = lm.get("lower_lip").unwrap_or([0.0, MOUTH_Y, 0.09]);
    let front = up[2].min(lo[2]);
    let mc = v3(0.0, MOUTH_Y, front - 0.003);
    lm.insert("mouth_center", mc.into());
    lm
}

// ---------------------------------------------------------------------------------------------
// Small vector maths.

#[derive(Debug, Clone, Copy, PartialEq)]
struct V3 {
    x: f32,
    y: f32,
    z: f32,
}

const fn v3(x: f32, y: f32, z: f32) -> V3 {
    V3 { x, y, z }
}

impl From<[f32; 3]> for V3 {
    fn from(a: [f32; 3]) -> Self {
        v3(a[0], a[1], a[2])
    }
}

impl From<V3> for [f32; 3] {
    fn from(v: V3) -> Self {
        [v.x, v.y, v.z]
    }
}

impl std::ops::Add for V3 {
    type Output = V3;
    fn add(self, o: V3) -> V3 {
        v3(self.x + o.x, self.y + o.y, self.z + o.z)
    }
}

impl std::ops::Sub for V3 {
    type Output = V3;
    fn sub(self, o: V3) -> V3 {
        v3(self.x - o.x, self.y - o.y, self.z - o.z)
    }
}

impl std::ops::Mul<f32> for V3 {
    type Output = V3;
    fn mul(self, s: f32) -> V3 {
        v3(self.x * s, self.y * s, self.z * s)
    }
}

impl V3 {
    fn dot(self, o: V3) -> f32 {
        self.x * o.x + self.y * o.y + self.z * o.z
    }
    fn cross(self, o: V3) -> V3 {
        v3(
            self.y * o.z - self.z * o.y,
            self.z * o.x - self.x * o.z,
            self.x * o.y - self.y * o.x,
        )
    }
    fn length(self) -> f32 {
        self.dot(self).sqrt()
    }
    fn normalize(self) -> V3 {
        let l = self.length();
        if l > 0.0 { self * (1.0 / l) } else { self }
    }
    fn mirror(self) -> V3 {
        v3(-self.x, self.y, self.z)
    }
    fn abs_x(self) -> V3 {
        v3(self.x.abs(), self.y, self.z)
    }
}

// ---------------------------------------------------------------------------------------------
// Distance primitives and blends.

fn sd_sphere(p: V3, c: V3, r: f32) -> f32 {
    (p - c).length() - r
}

/// Ellipsoid (Quilez's bound: exact on the surface, good near it).
fn sd_ellipsoid(p: V3, c: V3, r: V3) -> f32 {
    let q = p - c;
    let k0 = v3(q.x / r.x, q.y / r.y, q.z / r.z).length();
    let k1 = v3(q.x / (r.x * r.x), q.y / (r.y * r.y), q.z / (r.z * r.z)).length();
    if k1 < 1e-12 {
        return -r.x.min(r.y).min(r.z);
    }
    k0 * (k0 - 1.0) / k1
}

/// Capsule from `a` to `b` whose radius goes linearly from `ra` to `rb`.
fn sd_cone_capsule(p: V3, a: V3, b: V3, ra: f32, rb: f32) -> f32 {
    let pa = p - a;
    let ba = b - a;
    let h = (pa.dot(ba) / ba.dot(ba)).clamp(0.0, 1.0);
    (pa - ba * h).length() - (ra + (rb - ra) * h)
}

fn sd_capsule(p: V3, a: V3, b: V3, r: f32) -> f32 {
    sd_cone_capsule(p, a, b, r, r)
}

/// Polynomial smooth minimum (smooth union), blend width `k`.
fn smin(a: f32, b: f32, k: f32) -> f32 {
    let h = (k - (a - b).abs()).max(0.0) / k;
    a.min(b) - h * h * k * 0.25
}

/// Smooth maximum (smooth intersection).
fn smax(a: f32, b: f32, k: f32) -> f32 {
    -smin(-a, -b, k)
}

/// Smooth subtraction of `b` from `a`.
fn ssub(a: f32, b: f32, k: f32) -> f32 {
    smax(a, -b, k)
}

/// Rotates `p` about the X axis by `angle` radians.
fn rot_x(p: V3, angle: f32) -> V3 {
    let (s, c) = angle.sin_cos();
    v3(p.x, c * p.y - s * p.z, s * p.y + c * p.z)
}

/// Rotates `p` about the Y axis by `angle` radians.
fn rot_y(p: V3, angle: f32) -> V3 {
    let (s, c) = angle.sin_cos();
    v3(c * p.x + s * p.z, p.y, -s * p.x + c * p.z)
}

/// Rotates `p` about the Z axis by `angle` radians.
fn rot_z(p: V3, angle: f32) -> V3 {
    let (s, c) = angle.sin_cos();
    v3(c * p.x - s * p.y, s * p.x + c * p.y, p.z)
}

// ---------------------------------------------------------------------------------------------
// The sculpt. All numbers in metres.

/// Height of the line between the lips at the midline.
const MOUTH_Y: f32 = -0.0715;
/// Half the width of the mouth (corner x).
const MOUTH_HALF_WIDTH: f32 = 0.0245;
/// Half the gap of the mouth slot at the midline.
const MOUTH_HALF_GAP: f32 = 0.0011;
/// Height of the base of the nose (subnasale).
const NOSE_BASE_Y: f32 = -0.047;
/// Where the neck stump is cut.
const NECK_CUT_Y: f32 = -0.175;
/// Depth of the neck's axis.
const NECK_Z: f32 = -0.018;
/// Left temporomandibular joint.
const JAW_PIVOT_L: V3 = v3(0.051, -0.02, 0.014);

/// The lip line's height at `x` (corners slightly up).
fn mouth_y(x: f32) -> f32 {
    let t = (x / MOUTH_HALF_WIDTH).clamp(-1.0, 1.0);
    MOUTH_Y + 0.0012 * t * t
}

fn nose_tip_nominal() -> V3 {
    v3(0.0, -0.035, 0.116)
}

/// Half-height of the palpebral fissure at the eye's centre line.
fn lid_opening_half_height() -> f32 {
    let (r, c) = lens_params();
    r - c + LID_OPEN_OFFSET
}

const LID_HALF_WIDTH: f32 = 0.018;
const LID_HALF_HEIGHT: f32 = 0.0056;
const LID_OPEN_OFFSET: f32 = 0.0003;
/// Gap between the eyeball and its socket.
const SOCKET_CLEARANCE: f32 = 0.0008;
/// Thickness of the lid skin over the eyeball's socket.
const LID_THICKNESS: f32 = 0.003;

/// Radius and centre offset of the two circles whose intersection is the almond-shaped fissure.
fn lens_params() -> (f32, f32) {
    let a = LID_HALF_WIDTH;
    let b = LID_HALF_HEIGHT;
    // (R - c) = b and R^2 - c^2 = a^2  =>  R + c = a^2 / b.
    let sum = a * a / b;
    let r = 0.5 * (sum + b);
    (r, r - b)
}

/// 2D distance to the almond-shaped eye opening, in the eye's frontal plane (`x` outward).
fn sd_fissure_2d(x: f32, y: f32) -> f32 {
    // Outer corner (canthus) a little higher than the inner one.
    let q = rot_z(v3(x, y, 0.0), -0.09);
    let (r, c) = lens_params();
    // Upper lid arches more than the lower one: shift the upper circle's centre.
    let yy = q.y - LID_OPEN_OFFSET;
    let upper = v3(q.x - 0.0012, yy + c, 0.0).length() - r;
    let lower = v3(q.x, yy - c * 1.08, 0.0).length() - r * 1.06;
    upper.max(lower)
}

/// The palpebral fissure as a cone from the eye's centre (`v` = point - eye centre): the
/// almond is drawn in angular coordinates, so its walls are radial and always open into the
/// socket, also at the corners where the lids wrap around the eyeball.
fn sd_fissure_cone(v: V3) -> f32 {
    let len = v.length();
    if v.z <= 0.0 {
        return len.max(0.001);
    }
    let ax = v.x.atan2(v.z) * FISSURE_ANGLE_SCALE;
    let ay = v.y.atan2(v.z) * FISSURE_ANGLE_SCALE;
    let d2 = sd_fissure_2d(ax, ay) * len / FISSURE_ANGLE_SCALE;
    d2.max(len - (EYE_RADIUS_M + LID_THICKNESS + 0.004))
}

/// Radius at which the fissure's angular almond has its nominal size.
const FISSURE_ANGLE_SCALE: f32 = EYE_RADIUS_M + LID_THICKNESS + 0.0008;

/// The slot between the lips (positive outside the slot): a slab of constant gap along the lip
/// line with rounded ends at the mouth corners (never thinner than a grid cell, so the two lips
/// stay cleanly separated surfaces), reaching [`MOUTH_SLOT_DEPTH_M`] into the head.
fn sd_mouth_slot(p: V3) -> f32 {
    let ax = (p.x.abs() - (MOUTH_HALF_WIDTH - MOUTH_HALF_GAP)).max(0.0);
    let ay = p.y - mouth_y(p.x);
    let across = (ax * ax + ay * ay).sqrt() - MOUTH_HALF_GAP;
    let back = (MOUTH_FRONT_Z - MOUTH_SLOT_DEPTH_M) - p.z;
    across.max(back)
}

/// Rough z of the front of the lips (for the slot's depth).
const MOUTH_FRONT_Z: f32 = 0.1;

/// A lip swept along x: an elliptical cross-section whose height, depth and forward position
/// vary from the midline to the corner. `upper` selects which side of the lip line it sits on.
fn sd_lip(p: V3, upper: bool) -> f32 {
    let w = MOUTH_HALF_WIDTH + 0.0015;
    let t = (p.x / w).clamp(-1.0, 1.0);
    let s = (1.0 - t * t).max(0.0);
    let at = t.abs();
    let (height, depth, front) = if upper {
        // Cupid's bow: peaks either side of a small dip at the midline.
        let bow =
            0.0011 * (-((at - 0.24) / 0.13).powi(2)).exp() - 0.0005 * (-(t / 0.07).powi(2)).exp();
        (
            0.0068 * s.powf(0.45) + bow,
            0.0044 * s.powf(0.35) + 0.0007,
            0.1012 - 0.017 * t * t,
        )
    } else {
        (
            0.0094 * s.powf(0.55),
            0.0054 * s.powf(0.4) + 0.0007,
            0.1004 - 0.017 * t * t,
        )
    };
    let half_h = 0.5 * height + 0.0006;
    let line = mouth_y(p.x);
    let yc = if upper {
        line + half_h - 0.0006
    } else {
        line - half_h + 0.0006
    };
    let zc = front - depth;
    let dy = (p.y - yc) / half_h.max(1e-4);
    let dz = (p.z - zc) / depth.max(1e-4);
    let d = ((dy * dy + dz * dz).sqrt() - 1.0) * half_h.min(depth).max(1e-4);
    d.max(p.x.abs() - w)
}

fn sd_upper_lip(p: V3) -> f32 {
    sd_lip(p, true)
}

fn sd_lower_lip(p: V3) -> f32 {
    sd_lip(p, false)
}

fn sdf(p: V3) -> f32 {
    let q = p.abs_x();

    // --- Skull ---------------------------------------------------------------------------------
    let mut d = sd_ellipsoid(p, v3(0.0, 0.02, -0.012), v3(0.0735, 0.095, 0.096));
    // Broader parietal vault (a flatter, wider top than an egg).
    d = smin(
        d,
        sd_ellipsoid(p, v3(0.0, 0.052, -0.018), v3(0.0715, 0.064, 0.087)),
        0.02,
    );
    // Forehead.
    d = smin(
        d,
        sd_ellipsoid(p, v3(0.0, 0.036, 0.03), v3(0.057, 0.062, 0.063)),
        0.02,
    );
    // Temples: slightly flatter.
    d = ssub(
        d,
        sd_ellipsoid(q, v3(0.1, 0.028, 0.048), v3(0.03, 0.036, 0.034)),
        0.03,
    );

    // --- Midface and jaw -----------------------------------------------------------------------
    // Maxilla / midface under the eyes.
    d = smin(
        d,
        sd_ellipsoid(p, v3(0.0, -0.036, 0.03), v3(0.054, 0.048, 0.057)),
        0.02,
    );
    // Malar fat pads (their edge toward the nose makes the nasolabial fold) and buccal fill.
    d = smin(
        d,
        sd_ellipsoid(q, v3(0.031, -0.036, 0.067), v3(0.017, 0.021, 0.014)),
        0.014,
    );
    d = smin(
        d,
        sd_ellipsoid(q, v3(0.041, -0.06, 0.05), v3(0.015, 0.02, 0.022)),
        0.02,
    );
    // Cheekbones (zygoma), soft.
    d = smin(
        d,
        sd_ellipsoid(
            rot_y(q - v3(0.047, -0.015, 0.052), -0.5),
            v3(0.0, 0.0, 0.0),
            v3(0.019, 0.0115, 0.0115),
        ),
        0.024,
    );
    // Zygomatic arches: the face's widest point, in front of the ears.
    d = smin(
        d,
        sd_ellipsoid(q, v3(0.0535, -0.013, 0.03), v3(0.011, 0.011, 0.027)),
        0.026,
    );
    // Mandible: one ellipsoid narrowing to the chin, cut below by the jaw line.
    let mandible = sd_ellipsoid(p, v3(0.0, -0.066, 0.01), v3(0.054, 0.058, 0.082));
    let jaw_line = {
        // Underside of the jaw: from the chin (y -0.114 at z 0.08) up to the angle.
        let n = v3(0.0, -1.0, -0.4).normalize();
        (p - v3(0.0, -0.114, 0.08)).dot(n)
    };
    let mandible = smax(mandible, jaw_line, 0.01);
    // Angle of the jaw.
    let gonion = sd_ellipsoid(
        rot_y(q - v3(0.047, -0.074, 0.006), 0.5),
        v3(0.0, 0.0, 0.0),
        v3(0.009, 0.014, 0.016),
    );
    let mandible = smin(mandible, gonion, 0.014);
    d = smin(d, mandible, 0.02);
    // Chin.
    d = smin(
        d,
        sd_ellipsoid(p, v3(0.0, -0.101, 0.078), v3(0.024, 0.0135, 0.0135)),
        0.026,
    );
    // Muzzle over the dental arch.
    d = smin(
        d,
        sd_ellipsoid(p, v3(0.0, -0.066, 0.066), v3(0.03, 0.025, 0.029)),
        0.02,
    );

    // Feature groups, skipped where they cannot change the value (bounding spheres).
    if group_near(q, v3(0.026, 0.012, 0.08), 0.048, d) {
        d = eyes_and_brows(d, p, q);
    }
    if group_near(p, v3(0.0, -0.026, 0.097), 0.045, d) {
        d = nose(d, p, q);
    }
    if group_near(p, v3(0.0, -0.076, 0.088), 0.042, d) {
        d = mouth(d, p, q);
    }
    if group_near(q, v3(0.078, -0.014, -0.008), 0.036, d) {
        d = ears(d, q);
    }

    // --- Neck ----------------------------------------------------------------------------------
    let nz = NECK_Z + 0.006 * ((-0.06 - p.y) / 0.1).clamp(0.0, 1.0);
    let nx = p.x / 0.054;
    let nzz = (p.z - nz) / 0.052;
    let neck = ((nx * nx + nzz * nzz).sqrt() - 1.0) * 0.052;
    let neck = neck.max(p.y + 0.03);
    d = smin(d, neck, 0.016);
    // Flat cut at the bottom of the stump.
    smax(d, NECK_CUT_Y - p.y, 0.006)
}

/// Brows, orbits, lids, eye sockets and palpebral fissures.
fn eyes_and_brows(mut d: f32, p: V3, q: V3) -> f32 {
    // --- Brows and eyes ------------------------------------------------------------------------
    let brow_at = |r: V3| {
        sd_ellipsoid(
            rot_y(r - v3(0.029, 0.022, 0.08), -0.42),
            v3(0.0, 0.0, 0.0),
            v3(0.025, 0.0085, 0.0105),
        )
    };
    let brow = smin(brow_at(p), brow_at(p.mirror()), 0.01);
    d = smin(d, brow, 0.016);
    // Glabella: smooth between the brows.
    d = smin(
        d,
        sd_ellipsoid(p, v3(0.0, 0.025, 0.084), v3(0.012, 0.011, 0.009)),
        0.012,
    );
    let e = V3::from(EYE_L);
    // Orbit: hollow the area in front of the eye so it sits under the brow.
    d = ssub(
        d,
        sd_ellipsoid(
            q,
            v3(e.x + 0.001, e.y + 0.001, e.z + 0.021),
            v3(0.019, 0.0125, 0.0085),
        ),
        0.011,
    );
    // Lids: a shell of skin over the eyeball, blended into the surroundings.
    d = smin(
        d,
        sd_sphere(q, e, EYE_RADIUS_M + LID_THICKNESS + 0.0008),
        0.0045,
    );
    // Socket for the eyeball.
    d = d.max(-sd_sphere(q, e, EYE_RADIUS_M + SOCKET_CLEARANCE));
    // Palpebral fissure through the lid shell.
    let fissure = sd_fissure_cone(q - e);
    d = smax(d, -fissure, 0.0024);
    d
}

/// Bridge, tip, alae, columella and nostrils.
fn nose(mut d: f32, p: V3, q: V3) -> f32 {
    // --- Nose ----------------------------------------------------------------------------------
    let tip = nose_tip_nominal();
    let bridge = sd_cone_capsule(
        p,
        v3(0.0, 0.004, 0.0835),
        v3(0.0, tip.y + 0.005, tip.z - 0.0075),
        0.0052,
        0.006,
    );
    d = smin(d, bridge, 0.01);
    let nose_body = sd_ellipsoid(p, v3(0.0, -0.031, 0.095), v3(0.0115, 0.017, 0.011));
    d = smin(d, nose_body, 0.008);
    let tip_d = sd_ellipsoid(
        p,
        v3(0.0, tip.y, tip.z - 0.0082),
        v3(0.0078, 0.0075, 0.0082),
    );
    d = smin(d, tip_d, 0.006);
    let alae = sd_ellipsoid(
        rot_y(q - v3(0.0118, NOSE_BASE_Y + 0.005, 0.0972), -0.5),
        v3(0.0, 0.0, 0.0),
        v3(0.0038, 0.0047, 0.0085),
    );
    d = smin(d, alae, 0.0075);
    // Columella.
    d = smin(
        d,
        sd_capsule(
            p,
            v3(0.0, NOSE_BASE_Y + 0.0015, 0.0995),
            v3(0.0, tip.y - 0.006, 0.109),
            0.0029,
        ),
        0.003,
    );
    // Nostrils.
    let nostril = sd_ellipsoid(
        rot_y(q - v3(0.0064, NOSE_BASE_Y + 0.001, 0.1035), 0.35),
        v3(0.0, 0.0, 0.0),
        v3(0.0028, 0.0021, 0.0048),
    );
    d = ssub(d, nostril, 0.0018);
    d
}

/// Philtrum, lips, labiomental fold and the mouth slot.
fn mouth(mut d: f32, p: V3, q: V3) -> f32 {
    // --- Mouth ---------------------------------------------------------------------------------
    // Philtrum groove.
    d = ssub(
        d,
        sd_capsule(
            p,
            v3(0.0, NOSE_BASE_Y - 0.003, 0.1005),
            v3(0.0, MOUTH_Y + 0.0085, 0.1),
            0.0017,
        ),
        0.0028,
    );
    d = smin(d, sd_upper_lip(p), 0.0035);
    d = smin(d, sd_lower_lip(p), 0.004);
    // Labiomental fold.
    d = ssub(
        d,
        sd_capsule(q, v3(0.0, -0.0905, 0.0975), v3(0.011, -0.089, 0.094), 0.003),
        0.007,
    );
    // The slot between the lips.
    d = d.max(-sd_mouth_slot(p));
    d
}

/// Simple ears.
fn ears(mut d: f32, q: V3) -> f32 {
    // --- Ears ----------------------------------------------------------------------------------
    let ear_c = v3(0.0755, -0.014, -0.01);
    let eq = rot_x(rot_y(q - ear_c, 0.3), 0.22);
    let ear_plate = sd_ellipsoid(eq, v3(0.0035, 0.0, 0.0), v3(0.0085, 0.031, 0.0185));
    let ear = ssub(
        ear_plate,
        sd_ellipsoid(eq, v3(0.011, -0.004, 0.002), v3(0.005, 0.016, 0.0105)),
        0.004,
    );
    let ear = ssub(
        ear,
        sd_ellipsoid(eq, v3(0.0085, -0.009, 0.004), v3(0.006, 0.007, 0.006)),
        0.003,
    );
    d = smin(d, ear, 0.006);
    d
}

/// Margin added to the group-culling test (the primitives are approximate distances).
const GROUP_MARGIN: f32 = 0.02;

/// Whether a feature group bounded by the sphere (`c`, `r`) may change a distance `d` at `x`.
fn group_near(x: V3, c: V3, r: f32, d: f32) -> bool {
    (x - c).length() - r < d.abs() + GROUP_MARGIN
}

/// Skin colour at a surface point: skin, redder lips, dark mouth interior.
fn skin_color_at(p: V3) -> [f32; 4] {
    let lips = sd_upper_lip(p).min(sd_lower_lip(p));
    // Lip weight: full inside the lip volumes, fading over ~1.2 mm.
    let w_lip = smoothstep(0.0011, 0.0002, lips);
    // Mouth interior: on the slot walls, deeper than ~2 mm behind the lips' front.
    let slot = sd_mouth_slot(p);
    let depth = MOUTH_FRONT_Z - 0.002 - p.z;
    let w_in = smoothstep(0.0012, 0.0002, slot.abs()) * smoothstep(0.0, 0.004, depth);
    let w_brow = eyebrow_weight(p);
    let mut c = [0.0; 4];
    for (i, ci) in c.iter_mut().enumerate() {
        let skin = SKIN_COLOR[i] + (BROW_COLOR[i] - SKIN_COLOR[i]) * w_brow;
        let base = skin + (LIP_COLOR[i] - skin) * w_lip;
        *ci = base + (MOUTH_INTERIOR_COLOR[i] - base) * w_in;
    }
    c
}

/// How much eyebrow tint a point gets: an arched band over each brow ridge, thick at the inner
/// end and thinning outward, with soft edges.
fn eyebrow_weight(p: V3) -> f32 {
    let x = p.x.abs();
    let t = (x - 0.034) / 0.021;
    let centre = 0.0286 - 0.0062 * t * t;
    let half = 0.0041 - 0.0019 * ((x - 0.013) / 0.042).clamp(0.0, 1.0);
    let across = smoothstep(half + 0.0014, half - 0.0008, (p.y - centre).abs());
    let along = smoothstep(0.0105, 0.0145, x) * smoothstep(0.0575, 0.052, x);
    let front = smoothstep(0.045, 0.06, p.z);
    0.8 * across * along * front
}

fn smoothstep(e0: f32, e1: f32, x: f32) -> f32 {
    let t = ((x - e0) / (e1 - e0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

// ---------------------------------------------------------------------------------------------
// Landmark placement.

/// First surface crossing of the ray from `nominal + out * 0.05` toward `-out` (marched in
/// 0.4 mm steps, then bisected).
fn cast_inward(nominal: V3, out: V3) -> Option<V3> {
    let start = nominal + out * 0.05;
    let dir = out * -1.0;
    let step = 0.0004;
    if sdf(start) <= 0.0 {
        return None;
    }
    let mut prev_t = 0.0;
    let mut t = step;
    while t < 0.12 {
        if sdf(start + dir * t) <= 0.0 {
            let (mut lo, mut hi) = (prev_t, t);
            for _ in 0..30 {
                let mid = 0.5 * (lo + hi);
                if sdf(start + dir * mid) > 0.0 {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            return Some(start + dir * (0.5 * (lo + hi)));
        }
        prev_t = t;
        t += step;
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Grid sampling.

/// Fine cell size over the face, coarse over the back and top of the head.
const FINE_CELL: f32 = 0.00105;
const COARSE_CELL: f32 = 0.0029;
const SMOOTH_PASSES: usize = 6;
/// Side of the coarsest sampling blocks, in cells (a power of two).
const TOP_BLOCK: usize = 8;

#[derive(Debug)]
struct Grid {
    xs: Vec<f32>,
    ys: Vec<f32>,
    zs: Vec<f32>,
}

/// Node coordinates from `lo` to beyond `hi`, spacing `fine` inside `[f0, f1]` and growing
/// smoothly to `coarse` over `ramp` outside it.
fn axis_nodes(lo: f32, hi: f32, f0: f32, f1: f32, anchor: f32, ramp: f32) -> Vec<f32> {
    let spacing = |x: f32| {
        let out = (f0 - x).max(x - f1).max(0.0);
        let t = smoothstep(0.0, ramp, out);
        FINE_CELL + (COARSE_CELL - FINE_CELL) * t
    };
    // Grow from the fine region outward so that the fine region's nodes do not depend on `lo`.
    let mut up = vec![anchor];
    while let Some(&last) = up.last() {
        if last > hi {
            break;
        }
        up.push(last + spacing(last));
    }
    let mut down = vec![];
    let mut x = anchor;
    while x >= lo {
        x -= spacing(x);
        down.push(x);
    }
    down.reverse();
    down.extend(up);
    down
}

impl Grid {
    fn new() -> Self {
        Self {
            xs: axis_nodes(-0.101, 0.101, -0.056, 0.056, 0.0, 0.02),
            // A node row exactly on the lip line, so the slot is always resolved.
            ys: axis_nodes(NECK_CUT_Y - 0.004, 0.125, -0.118, 0.045, MOUTH_Y, 0.02),
            zs: axis_nodes(-0.118, 0.126, 0.03, 0.15, 0.09, 0.02),
        }
        .padded()
    }

    /// Appends nodes so every axis has a multiple of [`TOP_BLOCK`] cells.
    fn padded(mut self) -> Self {
        for axis in [&mut self.xs, &mut self.ys, &mut self.zs] {
            while (axis.len() - 1) % TOP_BLOCK != 0 {
                let last = axis[axis.len() - 1];
                axis.push(last + COARSE_CELL);
            }
        }
        self
    }

    fn dims(&self) -> (usize, usize, usize) {
        (self.xs.len(), self.ys.len(), self.zs.len())
    }

    fn idx(&self, i: usize, j: usize, k: usize) -> usize {
        i + self.xs.len() * (j + self.ys.len() * k)
    }

    fn point(&self, i: usize, j: usize, k: usize) -> V3 {
        v3(self.xs[i], self.ys[j], self.zs[k])
    }

    /// Samples the SDF at every node, exactly near the surface only: blocks of cells are refined
    /// octree-style (8, 4, 2, 1 cells) while their corners cannot rule out a surface crossing;
    /// far blocks are filled by trilinear interpolation of their corners (which keeps the sign).
    fn sample(&self) -> Vec<f32> {
        let (nx, ny, nz) = self.dims();
        let mut values = vec![0.0f32; nx * ny * nz];
        let mut exact = vec![false; nx * ny * nz];
        let mut eval = |i: usize, j: usize, k: usize, values: &mut Vec<f32>| {
            let n = self.idx(i, j, k);
            if !exact[n] {
                values[n] = sdf(self.point(i, j, k));
                exact[n] = true;
            }
        };
        let b0 = TOP_BLOCK;
        let mut stack: Vec<(usize, usize, usize, usize)> = Vec::new();
        for k in (0..nz - 1).step_by(b0) {
            for j in (0..ny - 1).step_by(b0) {
                for i in (0..nx - 1).step_by(b0) {
                    stack.push((i, j, k, b0));
                }
            }
        }
        // Reverse so blocks are processed in ascending order (deterministic either way).
        stack.reverse();
        let mut far_blocks: Vec<(usize, usize, usize, usize)> = Vec::new();
        while let Some((i, j, k, b)) = stack.pop() {
            let corners = [
                (i, j, k),
                (i + b, j, k),
                (i, j + b, k),
                (i + b, j + b, k),
                (i, j, k + b),
                (i + b, j, k + b),
                (i, j + b, k + b),
                (i + b, j + b, k + b),
            ];
            for &(a, bb, c) in &corners {
                eval(a, bb, c, &mut values);
            }
            if b == 1 {
                continue;
            }
            let vals = corners.map(|(a, bb, c)| values[self.idx(a, bb, c)]);
            let all_pos = vals.iter().all(|&v| v >= 0.0);
            let all_neg = vals.iter().all(|&v| v < 0.0);
            let min_abs = vals.iter().fold(f32::MAX, |m, v| m.min(v.abs()));
            let half_diag = 0.5 * (self.point(i + b, j + b, k + b) - self.point(i, j, k)).length();
            if (all_pos || all_neg) && min_abs > 1.5 * half_diag + 0.0008 {
                far_blocks.push((i, j, k, b));
                continue;
            }
            let h = b / 2;
            for dk in [h, 0] {
                for dj in [h, 0] {
                    for di in [h, 0] {
                        stack.push((i + di, j + dj, k + dk, h));
                    }
                }
            }
        }
        for (i, j, k, b) in far_blocks {
            let c = |a: usize, bb: usize, cc: usize| values[self.idx(a, bb, cc)];
            let v = [
                c(i, j, k),
                c(i + b, j, k),
                c(i, j + b, k),
                c(i + b, j + b, k),
                c(i, j, k + b),
                c(i + b, j, k + b),
                c(i, j + b, k + b),
                c(i + b, j + b, k + b),
            ];
            let frac = |n: usize, n0: usize, coords: &[f32]| {
                let (c0, c1) = (coords[n0], coords[n0 + b]);
                if c1 > c0 {
                    (coords[n] - c0) / (c1 - c0)
                } else {
                    0.0
                }
            };
            for kk in k..=k + b {
                let tz = frac(kk, k, &self.zs);
                for jj in j..=j + b {
                    let ty = frac(jj, j, &self.ys);
                    for ii in i..=i + b {
                        let n = self.idx(ii, jj, kk);
                        if exact[n] {
                            continue;
                        }
                        let tx = frac(ii, i, &self.xs);
                        let lerp = |u: f32, w: f32, s: f32| u + (w - u) * s;
                        let c00 = lerp(v[0], v[1], tx);
                        let c10 = lerp(v[2], v[3], tx);
                        let c01 = lerp(v[4], v[5], tx);
                        let c11 = lerp(v[6], v[7], tx);
                        values[n] = lerp(lerp(c00, c10, ty), lerp(c01, c11, ty), tz);
                    }
                }
            }
        }
        values
    }
}

// ---------------------------------------------------------------------------------------------
// Naive surface nets.

fn surface_nets(grid: &Grid, values: &[f32]) -> (Vec<[f32; 3]>, Vec<u32>) {
    let (nx, ny, nz) = grid.dims();
    let inside = |i: usize, j: usize, k: usize| values[grid.idx(i, j, k)] < 0.0;
    let cell_idx = |i: usize, j: usize, k: usize| i + (nx - 1) * (j + (ny - 1) * k);
    let mut cell_vertex = vec![u32::MAX; (nx - 1) * (ny - 1) * (nz - 1)];
    let mut positions: Vec<[f32; 3]> = Vec::new();

    const CORNERS: [(usize, usize, usize); 8] = [
        (0, 0, 0),
        (1, 0, 0),
        (0, 1, 0),
        (1, 1, 0),
        (0, 0, 1),
        (1, 0, 1),
        (0, 1, 1),
        (1, 1, 1),
    ];
    const EDGES: [(usize, usize); 12] = [
        (0, 1),
        (2, 3),
        (4, 5),
        (6, 7),
        (0, 2),
        (1, 3),
        (4, 6),
        (5, 7),
        (0, 4),
        (1, 5),
        (2, 6),
        (3, 7),
    ];

    for k in 0..nz - 1 {
        for j in 0..ny - 1 {
            for i in 0..nx - 1 {
                let mut v = [0.0f32; 8];
                let mut mask = 0u8;
                for (n, &(a, b, c)) in CORNERS.iter().enumerate() {
                    v[n] = values[grid.idx(i + a, j + b, k + c)];
                    if v[n] < 0.0 {
                        mask |= 1 << n;
                    }
                }
                if mask == 0 || mask == 0xff {
                    continue;
                }
                let mut sum = v3(0.0, 0.0, 0.0);
                let mut count = 0.0f32;
                for &(e0, e1) in &EDGES {
                    let in0 = v[e0] < 0.0;
                    let in1 = v[e1] < 0.0;
                    if in0 == in1 {
                        continue;
                    }
                    let t = v[e0] / (v[e0] - v[e1]);
                    let (a0, b0, c0) = CORNERS[e0];
                    let (a1, b1, c1) = CORNERS[e1];
                    let p0 = grid.point(i + a0, j + b0, k + c0);
                    let p1 = grid.point(i + a1, j + b1, k + c1);
                    sum = sum + p0 + (p1 - p0) * t;
                    count += 1.0;
                }
                let p = sum * (1.0 / count);
                cell_vertex[cell_idx(i, j, k)] = u32::try_from(positions.len()).unwrap_or(u32::MAX);
                positions.push(p.into());
            }
        }
    }

    let mut indices = Vec::new();
    let mut quad = |c: [usize; 4], flip: bool, positions: &[[f32; 3]]| {
        let ids = c.map(|ci| cell_vertex[ci]);
        if ids.contains(&u32::MAX) {
            return;
        }
        let [a, b, cc, d] = if flip {
            [ids[0], ids[3], ids[2], ids[1]]
        } else {
            ids
        };
        // Split along the shorter diagonal.
        let p = |n: u32| V3::from(positions[n as usize]);
        if (p(a) - p(cc)).length() <= (p(b) - p(d)).length() {
            indices.extend_from_slice(&[a, b, cc, a, cc, d]);
        } else {
            indices.extend_from_slice(&[a, b, d, b, cc, d]);
        }
    };
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                let here = inside(i, j, k);
                // Edge along +X: cells around it vary in (y, z).
                if i + 1 < nx && j > 0 && k > 0 && j < ny - 1 && k < nz - 1 {
                    let there = inside(i + 1, j, k);
                    if here != there {
                        let c = [
                            cell_idx(i, j - 1, k - 1),
                            cell_idx(i, j, k - 1),
                            cell_idx(i, j, k),
                            cell_idx(i, j - 1, k),
                        ];
                        quad(c, !here, &positions);
                    }
                }
                // Edge along +Y: cells vary in (z, x).
                if j + 1 < ny && i > 0 && k > 0 && i < nx - 1 && k < nz - 1 {
                    let there = inside(i, j + 1, k);
                    if here != there {
                        let c = [
                            cell_idx(i - 1, j, k - 1),
                            cell_idx(i - 1, j, k),
                            cell_idx(i, j, k),
                            cell_idx(i, j, k - 1),
                        ];
                        quad(c, !here, &positions);
                    }
                }
                // Edge along +Z: cells vary in (x, y).
                if k + 1 < nz && i > 0 && j > 0 && i < nx - 1 && j < ny - 1 {
                    let there = inside(i, j, k + 1);
                    if here != there {
                        let c = [
                            cell_idx(i - 1, j - 1, k),
                            cell_idx(i, j - 1, k),
                            cell_idx(i, j, k),
                            cell_idx(i - 1, j, k),
                        ];
                        quad(c, !here, &positions);
                    }
                }
            }
        }
    }
    (positions, indices)
}

// ---------------------------------------------------------------------------------------------
// Adaptive decimation: collapse edges that are short compared to a target edge-length field
// (fine around the eyes, lips and nose, coarser over the face, coarse over the back of the
// head), then flip edges toward Delaunay and relax vertices tangentially on the surface.

/// Target edge length at `p`.
fn target_edge(p: V3) -> f32 {
    let e = V3::from(EYE_L);
    let pq = p.abs_x();
    // Hidden geometry: the back of the eye sockets and the deep mouth slot walls.
    let in_socket = (pq - e).length() < EYE_RADIUS_M + 0.0016 && pq.z < e.z + 0.008;
    if in_socket {
        return EDGE_HIDDEN;
    }
    if sd_mouth_slot(p).abs() < 0.0012 && p.z < MOUTH_FRONT_Z - 0.009 {
        return EDGE_HIDDEN;
    }
    let ell = |c: V3, r: V3| {
        let d = pq - c;
        v3(d.x / r.x, d.y / r.y, d.z / r.z).length()
    };
    let detail = [
        ell(v3(e.x, e.y + 0.002, e.z + 0.012), v3(0.021, 0.015, 0.02)),
        ell(v3(0.0, MOUTH_Y, 0.095), v3(0.034, 0.015, 0.03)),
        ell(v3(0.0, -0.036, 0.105), v3(0.02, 0.018, 0.02)),
    ]
    .into_iter()
    .fold(f32::MAX, f32::min);
    let w_detail = smoothstep(1.35, 1.0, detail);
    let face = smoothstep(0.0, 0.03, p.z - 0.02)
        * smoothstep(0.085, 0.06, p.y)
        * smoothstep(-0.14, -0.11, p.y)
        * smoothstep(0.07, 0.055, pq.x);
    let coarse = EDGE_FACE + (EDGE_BACK - EDGE_FACE) * (1.0 - face);
    coarse + (EDGE_DETAIL - coarse) * w_detail
}

const EDGE_DETAIL: f32 = 0.0011;
const EDGE_FACE: f32 = 0.0021;
const EDGE_BACK: f32 = 0.0048;
const EDGE_HIDDEN: f32 = 0.0035;

#[derive(Debug)]
struct EditMesh {
    pos: Vec<V3>,
    tris: Vec<[u32; 3]>,
    tri_alive: Vec<bool>,
    vtris: Vec<Vec<u32>>,
    valive: Vec<bool>,
}

fn tri_normal(a: V3, b: V3, c: V3) -> V3 {
    (b - a).cross(c - a)
}

/// 1 for an equilateral triangle, 0 for a degenerate one.
fn tri_quality(a: V3, b: V3, c: V3) -> f32 {
    let area2 = tri_normal(a, b, c).length();
    let s = (b - a).dot(b - a) + (c - b).dot(c - b) + (a - c).dot(a - c);
    if s <= 0.0 {
        return 0.0;
    }
    2.0 * 3.0f32.sqrt() * area2 / s
}

impl EditMesh {
    fn new(positions: &[[f32; 3]], indices: &[u32]) -> Self {
        let pos: Vec<V3> = positions.iter().map(|&p| V3::from(p)).collect();
        let tris: Vec<[u32; 3]> = indices
            .chunks_exact(3)
            .map(|t| [t[0], t[1], t[2]])
            .collect();
        let mut vtris = vec![Vec::new(); pos.len()];
        for (i, t) in tris.iter().enumerate() {
            for &v in t {
                vtris[v as usize].push(i as u32);
            }
        }
        Self {
            valive: vec![true; pos.len()],
            tri_alive: vec![true; tris.len()],
            pos,
            tris,
            vtris,
        }
    }

    fn neighbours(&self, v: u32) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::with_capacity(8);
        for &t in &self.vtris[v as usize] {
            for &w in &self.tris[t as usize] {
                if w != v && !out.contains(&w) {
                    out.push(w);
                }
            }
        }
        out
    }

    /// Triangles containing both `a` and `b`.
    fn edge_tris(&self, a: u32, b: u32) -> Vec<u32> {
        self.vtris[a as usize]
            .iter()
            .copied()
            .filter(|&t| self.tris[t as usize].contains(&b))
            .collect()
    }

    fn edge_key(&self, a: u32, b: u32) -> f32 {
        let (pa, pb) = (self.pos[a as usize], self.pos[b as usize]);
        (pa - pb).length() / target_edge((pa + pb) * 0.5)
    }

    /// Collapses `b` into `a` (at `m`) if that keeps the mesh manifold and well-shaped.
    fn try_collapse(&mut self, a: u32, b: u32) -> bool {
        let shared = self.edge_tris(a, b);
        if shared.len() != 2 {
            return false;
        }
        let na = self.neighbours(a);
        let nb = self.neighbours(b);
        let common = na.iter().filter(|v| nb.contains(v)).count();
        if common != 2 {
            return false;
        }
        if na.len() + nb.len() > 16 || na.len() <= 3 || nb.len() <= 3 {
            return false;
        }
        let mid = (self.pos[a as usize] + self.pos[b as usize]) * 0.5;
        let m = V3::from(project_to_surface(mid.into()));
        let limit = 1.3 * target_edge(m);
        for &v in na.iter().chain(nb.iter()) {
            if v != a && v != b && (self.pos[v as usize] - m).length() > limit {
                return false;
            }
        }
        for &v in &[a, b] {
            for &t in &self.vtris[v as usize] {
                if shared.contains(&t) {
                    continue;
                }
                let tri = self.tris[t as usize];
                let old = tri.map(|w| self.pos[w as usize]);
                let new = tri.map(|w| {
                    if w == a || w == b {
                        m
                    } else {
                        self.pos[w as usize]
                    }
                });
                let n0 = tri_normal(old[0], old[1], old[2]).normalize();
                let n1 = tri_normal(new[0], new[1], new[2]).normalize();
                if n0.dot(n1) < 0.6 || tri_quality(new[0], new[1], new[2]) < 0.2 {
                    return false;
                }
            }
        }
        // Apply.
        self.pos[a as usize] = m;
        for &t in &shared {
            self.tri_alive[t as usize] = false;
            for w in self.tris[t as usize] {
                self.vtris[w as usize].retain(|&x| x != t);
            }
        }
        let moved = std::mem::take(&mut self.vtris[b as usize]);
        for t in moved {
            for w in self.tris[t as usize].iter_mut() {
                if *w == b {
                    *w = a;
                }
            }
            self.vtris[a as usize].push(t);
        }
        self.valive[b as usize] = false;
        true
    }

    fn decimate(&mut self) {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        let mut heap: BinaryHeap<Reverse<(u32, u32, u32)>> = BinaryHeap::new();
        let push = |heap: &mut BinaryHeap<Reverse<(u32, u32, u32)>>, me: &Self, a: u32, b: u32| {
            let k = me.edge_key(a, b);
            if k < COLLAPSE_BELOW {
                let (a, b) = if a < b { (a, b) } else { (b, a) };
                heap.push(Reverse((k.to_bits(), a, b)));
            }
        };
        for t in &self.tris {
            for e in 0..3 {
                let (a, b) = (t[e], t[(e + 1) % 3]);
                if a < b {
                    push(&mut heap, self, a, b);
                }
            }
        }
        while let Some(Reverse((k, a, b))) = heap.pop() {
            if !self.valive[a as usize] || !self.valive[b as usize] {
                continue;
            }
            if self.edge_key(a, b).to_bits() != k {
                continue;
            }
            if self.try_collapse(a, b) {
                for n in self.neighbours(a) {
                    push(&mut heap, self, a, n);
                }
            }
        }
    }

    /// Flips edges whose opposite angles sum to more than 180° (on nearly flat pairs).
    fn flip_pass(&mut self) -> usize {
        let mut flips = 0;
        for t in 0..self.tris.len() {
            if !self.tri_alive[t] {
                continue;
            }
            for e in 0..3 {
                if !self.tri_alive[t] {
                    break;
                }
                let tri = self.tris[t];
                let (a, b, c) = (tri[e], tri[(e + 1) % 3], tri[(e + 2) % 3]);
                let shared = self.edge_tris(a, b);
                if shared.len() != 2 {
                    continue;
                }
                let Some(&u) = shared.iter().find(|&&s| s as usize != t) else {
                    continue;
                };
                let Some(&d) = self.tris[u as usize].iter().find(|&&w| w != a && w != b) else {
                    continue;
                };
                if c == d || self.neighbours(c).contains(&d) {
                    continue;
                }
                let [pa, pb, pc, pd] = [a, b, c, d].map(|v| self.pos[v as usize]);
                let angle = |o: V3, x: V3, y: V3| {
                    let (u1, u2) = ((x - o).normalize(), (y - o).normalize());
                    u1.dot(u2).clamp(-1.0, 1.0).acos()
                };
                if angle(pc, pa, pb) + angle(pd, pb, pa) <= std::f32::consts::PI + 0.05 {
                    continue;
                }
                let n0 = tri_normal(pa, pb, pc).normalize();
                let n1 = tri_normal(pb, pa, pd).normalize();
                if n0.dot(n1) < 0.9 {
                    continue;
                }
                // New triangles (a, d, c) and (d, b, c) keep the orientation.
                let m0 = tri_normal(pa, pd, pc).normalize();
                let m1 = tri_normal(pd, pb, pc).normalize();
                if m0.dot(n0) < 0.8 || m1.dot(n0) < 0.8 {
                    continue;
                }
                if self.neighbours(a).len() <= 3 || self.neighbours(b).len() <= 3 {
                    continue;
                }
                self.tris[t] = [a, d, c];
                self.tris[u as usize] = [d, b, c];
                self.vtris[b as usize].retain(|&x| x as usize != t);
                self.vtris[a as usize].retain(|&x| x != u);
                self.vtris[d as usize].push(t as u32);
                self.vtris[c as usize].push(u);
                flips += 1;
            }
        }
        flips
    }

    /// Moves every vertex part of the way toward the centroid of its neighbours within the
    /// tangent plane, then back onto the surface.
    fn relax(&mut self, passes: usize) {
        for _ in 0..passes {
            let mut next = self.pos.clone();
            for (v, out) in next.iter_mut().enumerate() {
                if !self.valive[v] {
                    continue;
                }
                let ns = self.neighbours(v as u32);
                if ns.is_empty() {
                    continue;
                }
                let mut avg = v3(0.0, 0.0, 0.0);
                for &n in &ns {
                    avg = avg + self.pos[n as usize];
                }
                avg = avg * (1.0 / ns.len() as f32);
                let p = self.pos[v];
                let g = sdf_gradient(p).normalize();
                let mut mv = avg - p;
                mv = mv - g * mv.dot(g);
                let lim = 0.25 * target_edge(p);
                let l = mv.length();
                if l > lim {
                    mv = mv * (lim / l);
                }
                let cand = V3::from(project_to_surface((p + mv * 0.5).into()));
                // Keep the move only if no incident triangle flips or degenerates.
                let ok = self.vtris[v].iter().all(|&t| {
                    let tri = self.tris[t as usize];
                    let old = tri.map(|w| self.pos[w as usize]);
                    let new = tri.map(|w| {
                        if w as usize == v {
                            cand
                        } else {
                            self.pos[w as usize]
                        }
                    });
                    let n0 = tri_normal(old[0], old[1], old[2]).normalize();
                    let n1 = tri_normal(new[0], new[1], new[2]).normalize();
                    n0.dot(n1) > 0.7 && tri_quality(new[0], new[1], new[2]) > 0.1
                });
                if ok {
                    *out = cand;
                }
            }
            self.pos = next;
        }
    }

    /// Drops dead vertices and triangles.
    fn compact(&self) -> (Vec<[f32; 3]>, Vec<u32>) {
        let mut remap = vec![u32::MAX; self.pos.len()];
        let mut positions = Vec::new();
        for (v, alive) in self.valive.iter().enumerate() {
            if *alive && !self.vtris[v].is_empty() {
                remap[v] = positions.len() as u32;
                positions.push(self.pos[v].into());
            }
        }
        let mut indices = Vec::new();
        for (t, tri) in self.tris.iter().enumerate() {
            if self.tri_alive[t] {
                indices.extend(tri.iter().map(|&w| remap[w as usize]));
            }
        }
        (positions, indices)
    }
}

/// Edges shorter than this fraction of the target length are collapsed.
const COLLAPSE_BELOW: f32 = 0.8;

// ---------------------------------------------------------------------------------------------
// Mesh post-processing.

/// Vertex neighbourhoods (CSR).
#[derive(Debug)]
struct Adjacency {
    start: Vec<usize>,
    neighbours: Vec<u32>,
}

impl Adjacency {
    fn new(n: usize, indices: &[u32]) -> Self {
        let mut pairs: Vec<(u32, u32)> = Vec::with_capacity(indices.len() * 2);
        for t in indices.chunks_exact(3) {
            for e in 0..3 {
                let a = t[e];
                let b = t[(e + 1) % 3];
                pairs.push((a, b));
                pairs.push((b, a));
            }
        }
        pairs.sort_unstable();
        pairs.dedup();
        let mut start = vec![0usize; n + 1];
        for &(a, _) in &pairs {
            start[a as usize + 1] += 1;
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let neighbours = pairs.into_iter().map(|(_, b)| b).collect();
        Self { start, neighbours }
    }

    fn of(&self, v: usize) -> &[u32] {
        &self.neighbours[self.start[v]..self.start[v + 1]]
    }
}

fn taubin_smooth(positions: &mut [[f32; 3]], adj: &Adjacency, passes: usize, lambda: f32, mu: f32) {
    let mut tmp = positions.to_vec();
    for _ in 0..passes {
        for factor in [lambda, mu] {
            for (v, out) in tmp.iter_mut().enumerate() {
                let ns = adj.of(v);
                let p = V3::from(positions[v]);
                if ns.is_empty() {
                    *out = p.into();
                    continue;
                }
                let mut avg = v3(0.0, 0.0, 0.0);
                for &n in ns {
                    avg = avg + V3::from(positions[n as usize]);
                }
                avg = avg * (1.0 / ns.len() as f32);
                *out = (p + (avg - p) * factor).into();
            }
            positions.copy_from_slice(&tmp);
        }
    }
}

fn sdf_gradient(p: V3) -> V3 {
    let h = 0.00015;
    v3(
        sdf(p + v3(h, 0.0, 0.0)) - sdf(p - v3(h, 0.0, 0.0)),
        sdf(p + v3(0.0, h, 0.0)) - sdf(p - v3(0.0, h, 0.0)),
        sdf(p + v3(0.0, 0.0, h)) - sdf(p - v3(0.0, 0.0, h)),
    ) * (0.5 / h)
}

/// A few Newton steps toward the zero set, each limited to a fraction of a cell.
fn project_to_surface(p: [f32; 3]) -> [f32; 3] {
    let mut q = V3::from(p);
    for _ in 0..4 {
        let d = sdf(q);
        if d.abs() < 1e-6 {
            break;
        }
        let g = sdf_gradient(q);
        let g2 = g.dot(g);
        if g2 < 1e-8 {
            break;
        }
        let mut step = g * (d / g2);
        let len = step.length();
        let max = 0.6 * FINE_CELL;
        if len > max {
            step = step * (max / len);
        }
        q = q - step;
    }
    q.into()
}

/// Area-weighted vertex normals.
pub(crate) fn vertex_normals(positions: &[[f32; 3]], indices: &[u32]) -> Vec<[f32; 3]> {
    let mut acc = vec![v3(0.0, 0.0, 0.0); positions.len()];
    for t in indices.chunks_exact(3) {
        let [a, b, c] = [t[0] as usize, t[1] as usize, t[2] as usize];
        if a >= positions.len() || b >= positions.len() || c >= positions.len() {
            continue;
        }
        let pa = V3::from(positions[a]);
        let n = (V3::from(positions[b]) - pa).cross(V3::from(positions[c]) - pa);
        for v in [a, b, c] {
            acc[v] = acc[v] + n;
        }
    }
    acc.into_iter()
        .map(|n| {
            let l = n.length();
            if l > 1e-20 && l.is_finite() {
                (n * (1.0 / l)).into()
            } else {
                [0.0, 0.0, 1.0]
            }
        })
        .collect()
}

/// Cylindrical projection around +Y: u follows the angle (0.5 = straight ahead), v the height.
fn cylindrical_uvs(positions: &[[f32; 3]]) -> Vec<[f32; 2]> {
    let (mut y0, mut y1) = (f32::MAX, f32::MIN);
    for p in positions {
        y0 = y0.min(p[1]);
        y1 = y1.max(p[1]);
    }
    let h = (y1 - y0).max(1e-6);
    positions
        .iter()
        .map(|p| {
            let u = p[0].atan2(p[2]) / std::f32::consts::TAU + 0.5;
            let v = 1.0 - (p[1] - y0) / h;
            [u, v]
        })
        .collect()
}
