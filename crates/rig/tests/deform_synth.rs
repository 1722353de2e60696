//! A synthetic, exactly mirror-symmetric ellipsoid "head" with an open mouth slot and the
//! standard landmarks, for the deformer's tests and benchmark (independent of the default face
//! generator). Also compiled as its own small test crate.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};

use facetwin_rig::FaceMesh;
use facetwin_rig::landmarks::Landmarks;

/// Ellipsoid semi-axes (x, y, z) and centre height.
pub const A: f32 = 0.075;
pub const B: f32 = 0.115;
pub const C: f32 = 0.095;
pub const CY: f32 = -0.02;
/// Half-width of the mouth slot.
pub const MOUTH_HALF_W: f32 = 0.024;
/// Approximate height of the mouth slot.
pub const MOUTH_Y: f32 = -0.065;

/// The synthetic head and its landmarks.
#[derive(Debug, Clone)]
pub struct SynthHead {
    pub mesh: FaceMesh,
    pub landmarks: Landmarks,
    pub rows: usize,
    pub cols: usize,
}

impl SynthHead {
    pub fn lookup(&self) -> impl Fn(&str) -> Option<[f32; 3]> + '_ {
        |name| self.landmarks.get(name)
    }
}

fn ring_point(theta: f32, phi: f32) -> [f32; 3] {
    [
        A * theta.cos() * phi.sin(),
        CY + B * theta.sin(),
        C * theta.cos() * phi.cos(),
    ]
}

/// Front surface point at (x, y).
pub fn surface(x: f32, y: f32) -> [f32; 3] {
    let r = 1.0 - (x / A).powi(2) - ((y - CY) / B).powi(2);
    [x, y, C * r.max(0.0).sqrt()]
}

/// Side surface point (x > 0) at (y, z).
pub fn side(y: f32, z: f32) -> [f32; 3] {
    let r = 1.0 - ((y - CY) / B).powi(2) - (z / C).powi(2);
    [A * r.max(0.0).sqrt(), y, z]
}

/// Builds the head: `rows` latitude rings (poles added) of `cols` vertices (`cols` even).
pub fn synth_head(rows: usize, cols: usize) -> SynthHead {
    assert!(cols.is_multiple_of(2) && rows >= 8);
    let theta = |i: usize| {
        -std::f32::consts::FRAC_PI_2 + std::f32::consts::PI * (i as f32 + 0.5) / rows as f32
    };
    let phi =
        |j: usize| -std::f32::consts::PI + 2.0 * std::f32::consts::PI * j as f32 / cols as f32;
    let mut positions = Vec::with_capacity(rows * cols + 2);
    for i in 0..rows {
        for j in 0..cols {
            positions.push(ring_point(theta(i), phi(j)));
        }
    }
    // Exact mirror symmetry: column j mirrors column (cols - j) % cols.
    for i in 0..rows {
        for j in 1..cols / 2 {
            let a = positions[i * cols + j];
            positions[i * cols + (cols - j)] = [-a[0], a[1], a[2]];
        }
        for j in [0, cols / 2] {
            positions[i * cols + j][0] = 0.0;
        }
    }
    let south = positions.len() as u32;
    positions.push([0.0, CY - B, 0.0]);
    let north = positions.len() as u32;
    positions.push([0.0, CY + B, 0.0]);

    // The mouth slot lies between ring `im - 1` and ring `im` (the first ring above MOUTH_Y).
    let im = (0..rows)
        .find(|&i| ring_point(theta(i), 0.0)[1] > MOUTH_Y)
        .unwrap_or(rows / 2);
    let idx = |i: usize, j: usize| (i * cols + j % cols) as u32;
    let mut indices = Vec::with_capacity(rows * cols * 6);
    for i in 0..rows - 1 {
        for j in 0..cols {
            let (a, b, c, d) = (idx(i, j), idx(i, j + 1), idx(i + 1, j + 1), idx(i + 1, j));
            if i + 1 == im {
                let xa = positions[a as usize][0];
                let xb = positions[b as usize][0];
                let front = positions[a as usize][2] > 0.0;
                if front && xa.abs() <= MOUTH_HALF_W && xb.abs() <= MOUTH_HALF_W {
                    continue;
                }
            }
            // Counter-clockwise seen from outside; the diagonal is mirrored across x = 0.
            if j < cols / 2 {
                indices.extend_from_slice(&[a, b, c, a, c, d]);
            } else {
                indices.extend_from_slice(&[a, b, d, b, c, d]);
            }
        }
    }
    for j in 0..cols {
        indices.extend_from_slice(&[south, idx(0, j + 1), idx(0, j)]);
        indices.extend_from_slice(&[north, idx(rows - 1, j), idx(rows - 1, j + 1)]);
    }

    // Landmarks (left = +X), mirrored exactly for the right side.
    let front = cols / 2;
    let upper = positions[idx(im, front) as usize];
    let lower = positions[idx(im - 1, front) as usize];
    let mouth_mid_y = 0.5 * (upper[1] + lower[1]);
    let corner_x = (0..cols)
        .map(|j| positions[idx(im, j) as usize])
        .filter(|p| p[2] > 0.0 && p[0].abs() <= MOUTH_HALF_W)
        .fold(0.0f32, |m, p| m.max(p[0].abs()));
    let corner = surface(corner_x, mouth_mid_y);
    let mut pts: BTreeMap<String, [f32; 3]> = BTreeMap::new();
    let mut pair = |name: &str, p: [f32; 3]| {
        pts.insert(format!("{name}_l"), p);
        pts.insert(format!("{name}_r"), [-p[0], p[1], p[2]]);
    };
    let eye_r = 0.012;
    let e = surface(0.032, 0.0);
    pair("eye", [e[0], e[1], e[2] - eye_r]);
    pair("upper_lid", surface(0.032, 0.011));
    pair("lower_lid", surface(0.032, -0.010));
    pair("brow_inner", surface(0.014, 0.022));
    pair("brow_mid", surface(0.032, 0.028));
    pair("brow_outer", surface(0.050, 0.022));
    pair("nostril", surface(0.012, -0.042));
    pair("cheekbone", surface(0.050, -0.018));
    pair("cheek", surface(0.040, -0.045));
    pair("mouth_corner", corner);
    pair("jaw_pivot", [0.055, -0.015, 0.0]);
    pair("jaw_angle", side(-0.075, 0.0));
    pair("temple", side(0.03, 0.04));
    let mut single = |name: &str, p: [f32; 3]| {
        pts.insert(name.to_owned(), p);
    };
    single("nose_bridge", surface(0.0, 0.010));
    single("nose_tip", surface(0.0, -0.035));
    single("upper_lip", upper);
    single("lower_lip", lower);
    let m = surface(0.0, mouth_mid_y);
    single("mouth_center", [0.0, mouth_mid_y, m[2] - 0.001]);
    single("chin", surface(0.0, -0.105));
    single("forehead", surface(0.0, 0.065));
    single("neck_base", [0.0, -0.16, 0.0]);

    let normals = positions
        .iter()
        .map(|p| {
            let n = [p[0] / (A * A), (p[1] - CY) / (B * B), p[2] / (C * C)];
            let l = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
            [n[0] / l, n[1] / l, n[2] / l]
        })
        .collect();
    let uvs = vec![[0.0, 0.0]; positions.len()];
    SynthHead {
        mesh: FaceMesh {
            positions,
            normals,
            uvs,
            colors: None,
            indices,
        },
        landmarks: Landmarks {
            points: pts,
            eye_radius_m: eye_r,
        },
        rows,
        cols,
    }
}

/// For every vertex, the index of its mirror image across x = 0 (within `tol` metres), if any.
pub fn mirror_map(positions: &[[f32; 3]], tol: f32) -> Vec<Option<usize>> {
    let cell = (tol * 4.0).max(1e-6);
    let key = |p: [f32; 3]| {
        [
            (p[0] / cell).floor() as i64,
            (p[1] / cell).floor() as i64,
            (p[2] / cell).floor() as i64,
        ]
    };
    let mut grid: HashMap<[i64; 3], Vec<usize>> = HashMap::new();
    for (i, &p) in positions.iter().enumerate() {
        grid.entry(key(p)).or_default().push(i);
    }
    positions
        .iter()
        .map(|&p| {
            let q = [-p[0], p[1], p[2]];
            let k = key(q);
            let mut best: Option<(f32, usize)> = None;
            for dx in -1..=1 {
                for dy in -1..=1 {
                    for dz in -1..=1 {
                        if let Some(list) = grid.get(&[k[0] + dx, k[1] + dy, k[2] + dz]) {
                            for &j in list {
                                let r = positions[j];
                                let d = ((r[0] - q[0]).powi(2)
                                    + (r[1] - q[1]).powi(2)
                                    + (r[2] - q[2]).powi(2))
                                .sqrt();
                                if d <= tol && best.is_none_or(|b| d < b.0) {
                                    best = Some((d, j));
                                }
                            }
                        }
                    }
                }
            }
            best.map(|b| b.1)
        })
        .collect()
}

/// Index of the vertex nearest to `p`.
pub fn nearest(mesh: &FaceMesh, p: [f32; 3]) -> usize {
    let mut best = (f32::INFINITY, 0);
    for (i, q) in mesh.positions.iter().enumerate() {
        let d = (q[0] - p[0]).powi(2) + (q[1] - p[1]).powi(2) + (q[2] - p[2]).powi(2);
        if d < best.0 {
            best = (d, i);
        }
    }
    best.1
}

#[test]
fn synth_head_is_closed_except_mouth_and_symmetric() {
    let h = synth_head(40, 64);
    assert!(
        h.landmarks.is_complete(),
        "missing {:?}",
        h.landmarks.missing()
    );
    let m = mirror_map(&h.mesh.positions, 1e-6);
    assert!(m.iter().all(Option::is_some));
    assert!(
        h.mesh
            .indices
            .iter()
            .all(|&i| (i as usize) < h.mesh.positions.len())
    );
    // Every triangle faces outward.
    for t in h.mesh.indices.chunks_exact(3) {
        let [a, b, c] = [t[0], t[1], t[2]].map(|i| h.mesh.positions[i as usize]);
        let u = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
        let v = [c[0] - a[0], c[1] - a[1], c[2] - a[2]];
        let n = [
            u[1] * v[2] - u[2] * v[1],
            u[2] * v[0] - u[0] * v[2],
            u[0] * v[1] - u[1] * v[0],
        ];
        let out = [a[0], a[1] - CY, a[2]];
        assert!(
            n[0] * out[0] + n[1] * out[1] + n[2] * out[2] > 0.0,
            "inward triangle {t:?}"
        );
    }
    // The mouth slot is open: upper and lower lip are not neighbours.
    let up = nearest(&h.mesh, h.landmarks.get("upper_lip").expect("upper_lip"));
    let lo = nearest(&h.mesh, h.landmarks.get("lower_lip").expect("lower_lip"));
    assert_ne!(up, lo);
    for t in h.mesh.indices.chunks_exact(3) {
        assert!(!(t.contains(&(up as u32)) && t.contains(&(lo as u32))));
    }
}
