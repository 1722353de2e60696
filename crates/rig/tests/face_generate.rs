//! The generated default face: size, mesh validity, landmarks, eye sockets, mouth slot,
//! determinism.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::OnceLock;

use facetwin_rig::FaceMesh;
use facetwin_rig::face::{DEFAULT_FACE_BOUNDS, bounds};
use facetwin_rig::generate::{
    EYE_RADIUS_M, GeneratedFace, MOUTH_INTERIOR_COLOR, generate_default_face, head_sdf,
};
use facetwin_rig::landmarks::{REQUIRED, is_surface};

/// Generated once per test binary (generation is the slow part).
fn face() -> &'static GeneratedFace {
    static FACE: OnceLock<GeneratedFace> = OnceLock::new();
    FACE.get_or_init(generate_default_face)
}

type V = [f32; 3];

fn sub(a: V, b: V) -> V {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
fn dot(a: V, b: V) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
fn cross(a: V, b: V) -> V {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}
fn len(a: V) -> f32 {
    dot(a, a).sqrt()
}

/// Distance from `p` to triangle (`a`, `b`, `c`) (Ericson, Real-Time Collision Detection 5.1.5).
fn point_triangle_distance(p: V, a: V, b: V, c: V) -> f32 {
    let ab = sub(b, a);
    let ac = sub(c, a);
    let ap = sub(p, a);
    let d1 = dot(ab, ap);
    let d2 = dot(ac, ap);
    if d1 <= 0.0 && d2 <= 0.0 {
        return len(ap);
    }
    let bp = sub(p, b);
    let d3 = dot(ab, bp);
    let d4 = dot(ac, bp);
    if d3 >= 0.0 && d4 <= d3 {
        return len(bp);
    }
    let vc = d1 * d4 - d3 * d2;
    if vc <= 0.0 && d1 >= 0.0 && d3 <= 0.0 {
        let v = d1 / (d1 - d3);
        return len(sub(
            p,
            [a[0] + v * ab[0], a[1] + v * ab[1], a[2] + v * ab[2]],
        ));
    }
    let cp = sub(p, c);
    let d5 = dot(ab, cp);
    let d6 = dot(ac, cp);
    if d6 >= 0.0 && d5 <= d6 {
        return len(cp);
    }
    let vb = d5 * d2 - d1 * d6;
    if vb <= 0.0 && d2 >= 0.0 && d6 <= 0.0 {
        let w = d2 / (d2 - d6);
        return len(sub(
            p,
            [a[0] + w * ac[0], a[1] + w * ac[1], a[2] + w * ac[2]],
        ));
    }
    let va = d3 * d6 - d5 * d4;
    if va <= 0.0 && (d4 - d3) >= 0.0 && (d5 - d6) >= 0.0 {
        let w = (d4 - d3) / ((d4 - d3) + (d5 - d6));
        let bc = sub(c, b);
        return len(sub(
            p,
            [b[0] + w * bc[0], b[1] + w * bc[1], b[2] + w * bc[2]],
        ));
    }
    let n = cross(ab, ac);
    let nl = len(n);
    (dot(ap, n) / nl).abs()
}

fn distance_to_mesh(mesh: &FaceMesh, p: V) -> f32 {
    mesh.indices
        .chunks_exact(3)
        .map(|t| {
            point_triangle_distance(
                p,
                mesh.positions[t[0] as usize],
                mesh.positions[t[1] as usize],
                mesh.positions[t[2] as usize],
            )
        })
        .fold(f32::MAX, f32::min)
}

/// Parameters `t` at which the ray `o + t d` crosses the mesh (Möller–Trumbore), sorted.
fn ray_hits(mesh: &FaceMesh, o: V, d: V) -> Vec<f32> {
    let mut hits = Vec::new();
    for t in mesh.indices.chunks_exact(3) {
        let (a, b, c) = (
            mesh.positions[t[0] as usize],
            mesh.positions[t[1] as usize],
            mesh.positions[t[2] as usize],
        );
        let e1 = sub(b, a);
        let e2 = sub(c, a);
        let pv = cross(d, e2);
        let det = dot(e1, pv);
        if det.abs() < 1e-14 {
            continue;
        }
        let inv = 1.0 / det;
        let tv = sub(o, a);
        let u = dot(tv, pv) * inv;
        if !(0.0..=1.0).contains(&u) {
            continue;
        }
        let qv = cross(tv, e1);
        let v = dot(d, qv) * inv;
        if v < 0.0 || u + v > 1.0 {
            continue;
        }
        let s = dot(e2, qv) * inv;
        if s > 0.0 {
            hits.push(s);
        }
    }
    hits.sort_by(f32::total_cmp);
    hits
}

#[test]
fn vertex_count_is_in_budget() {
    let m = &face().mesh;
    let n = m.vertex_count();
    assert!((20_000..=40_000).contains(&n), "{n} vertices");
    assert!(m.triangle_count() > n, "{} triangles", m.triangle_count());
}

#[test]
fn mesh_is_valid_and_closed() {
    let m = &face().mesh;
    let n = m.positions.len();
    assert_eq!(m.normals.len(), n);
    assert_eq!(m.uvs.len(), n);
    assert_eq!(m.colors.as_ref().map(Vec::len), Some(n));
    assert_eq!(m.indices.len() % 3, 0);
    assert!(m.indices.iter().all(|&i| (i as usize) < n));
    assert!(m.positions.iter().flatten().all(|c| c.is_finite()));
    assert!(m.uvs.iter().flatten().all(|c| c.is_finite()));
    for nn in &m.normals {
        assert!((len(*nn) - 1.0).abs() < 1e-3, "normal {nn:?}");
    }
    for c in m.colors.iter().flatten() {
        assert!(c.iter().all(|v| (0.0..=1.0).contains(v)), "colour {c:?}");
    }
    // No degenerate triangles, and every edge shared by exactly two triangles (closed 2-manifold).
    let mut edges: HashMap<(u32, u32), u32> = HashMap::new();
    for t in m.indices.chunks_exact(3) {
        assert!(
            t[0] != t[1] && t[1] != t[2] && t[0] != t[2],
            "degenerate {t:?}"
        );
        for e in 0..3 {
            let (a, b) = (t[e], t[(e + 1) % 3]);
            *edges.entry((a.min(b), a.max(b))).or_default() += 1;
        }
    }
    let open: Vec<_> = edges.iter().filter(|(_, c)| **c != 2).collect();
    let at: Vec<_> = open
        .iter()
        .map(|(e, c)| (**c, m.positions[e.0 as usize]))
        .collect();
    assert!(
        open.is_empty(),
        "edges not shared by exactly two triangles: {at:?}"
    );
    // Euler characteristic of a sphere: one closed piece without handles.
    let chi = n as i64 - edges.len() as i64 + m.triangle_count() as i64;
    assert_eq!(chi, 2);
    // Outward orientation: the signed volume is positive and about head-sized.
    let vol: f32 = m
        .indices
        .chunks_exact(3)
        .map(|t| {
            let (a, b, c) = (
                m.positions[t[0] as usize],
                m.positions[t[1] as usize],
                m.positions[t[2] as usize],
            );
            dot(a, cross(b, c)) / 6.0
        })
        .sum();
    assert!((0.003..0.008).contains(&vol), "volume {vol} m^3");
}

#[test]
fn proportions_are_adult() {
    let m = &face().mesh;
    let lm = &face().landmarks;
    let (lo, hi) = bounds(&m.positions);
    let chin = lm.require("chin").expect("chin");
    // Chin-to-crown height ~0.23 m, skull width ~0.15 m (ears excluded).
    let height = hi[1] - chin[1] + 0.01;
    assert!((0.21..0.25).contains(&height), "height {height}");
    let skull_width = m
        .positions
        .iter()
        .filter(|p| p[1] > 0.03)
        .map(|p| p[0].abs() * 2.0)
        .fold(0.0f32, f32::max);
    assert!((0.13..0.165).contains(&skull_width), "width {skull_width}");
    // The reference box used for landmark estimation matches the generated mesh.
    let (rlo, rhi) = DEFAULT_FACE_BOUNDS;
    for a in 0..3 {
        let ok = (lo[a] - rlo[a]).abs() < 0.002 && (hi[a] - rhi[a]).abs() < 0.002;
        assert!(
            ok,
            "bounds {lo:?} {hi:?} vs DEFAULT_FACE_BOUNDS {rlo:?} {rhi:?}"
        );
    }
}

#[test]
fn landmarks_are_complete_and_on_the_skin() {
    let f = face();
    let lm = &f.landmarks;
    assert!(lm.is_complete(), "missing {:?}", lm.missing());
    lm.validate().expect("valid landmarks");
    assert_eq!(lm.eye_radius_m, EYE_RADIUS_M);
    for &name in REQUIRED {
        let p = lm.require(name).expect("present");
        if is_surface(name) {
            let d = distance_to_mesh(&f.mesh, p);
            assert!(d < 0.002, "{name} is {d} m from the surface");
        }
        // Left/right pairs mirror each other.
        if let Some(base) = name.strip_suffix("_l") {
            let r = lm.require(&format!("{base}_r")).expect("right twin");
            assert!(p[0] > 0.0, "{name} should be on +X");
            assert!((p[0] + r[0]).abs() < 1e-6 && p[1] == r[1] && p[2] == r[2]);
        }
    }
    // Interior landmarks are inside the head (eyes: inside their sockets).
    for name in ["jaw_pivot_l", "jaw_pivot_r", "neck_base"] {
        let p = lm.require(name).expect("present");
        assert!(
            head_sdf(p) < -0.008,
            "{name} not deep inside: {}",
            head_sdf(p)
        );
    }
    // Rough anatomy: nose tip is the most forward landmark, eyes above the mouth, etc.
    let get = |n: &str| lm.require(n).expect("present");
    let tip = get("nose_tip");
    for (n, p) in &lm.points {
        assert!(p[2] <= tip[2] + 1e-6, "{n} in front of the nose tip");
    }
    assert!(get("eye_l")[1] > get("nose_tip")[1]);
    assert!(get("nose_tip")[1] > get("upper_lip")[1]);
    assert!(get("upper_lip")[1] > get("mouth_center")[1]);
    assert!(get("mouth_center")[1] > get("lower_lip")[1]);
    assert!(get("lower_lip")[1] > get("chin")[1]);
    assert!(get("forehead")[1] > get("brow_mid_l")[1]);
    assert!(get("brow_mid_l")[1] > get("upper_lid_l")[1]);
    assert!(get("upper_lid_l")[1] > get("lower_lid_l")[1]);
    assert!(get("neck_base")[1] < get("chin")[1]);
    let ipd = get("eye_l")[0] - get("eye_r")[0];
    assert!(
        (0.056..0.07).contains(&ipd),
        "interpupillary distance {ipd}"
    );
}

#[test]
fn eye_sockets_fit_the_eyeballs() {
    let f = face();
    let r = f.landmarks.eye_radius_m;
    for eye in ["eye_l", "eye_r"] {
        let e = f.landmarks.require(eye).expect("eye");
        // No skin inside the eyeball.
        let closest = f
            .mesh
            .positions
            .iter()
            .map(|p| len(sub(*p, e)))
            .fold(f32::MAX, f32::min);
        assert!(closest > r, "{eye}: skin {closest} m from the centre");
        // And the eyeball is snug: the socket is at most ~1.5 mm wider than it.
        assert!(closest < r + 0.0015, "{eye}: socket too wide ({closest} m)");
        // Looking at the eye from the front, nothing covers its centre.
        let hits = ray_hits(&f.mesh, [e[0], e[1], 0.5], [0.0, 0.0, -1.0]);
        let first = hits.first().map(|t| 0.5 - t).unwrap_or(f32::MIN);
        assert!(
            first < e[2] + r,
            "{eye}: skin at z {first} in front of the cornea"
        );
        // ... but the lids are there above and below the opening.
        for dy in [0.009, -0.009] {
            let hits = ray_hits(&f.mesh, [e[0], e[1] + dy, 0.5], [0.0, 0.0, -1.0]);
            let first = hits.first().map(|t| 0.5 - t).unwrap_or(f32::MIN);
            assert!(first > e[2] + r, "{eye}: no lid at dy {dy}");
        }
    }
}

#[test]
fn mouth_slot_separates_the_lips() {
    let f = face();
    let lm = &f.landmarks;
    let mc = lm.require("mouth_center").expect("mouth_center");
    // mouth_center is in the air gap, and the vertical ray through it hits skin above and below.
    assert!(head_sdf(mc) > 0.0, "mouth_center is not in the slot");
    let up = ray_hits(&f.mesh, mc, [0.0, 1.0, 0.0]);
    let down = ray_hits(&f.mesh, mc, [0.0, -1.0, 0.0]);
    let (Some(u), Some(d)) = (up.first(), down.first()) else {
        panic!("no skin above ({up:?}) or below ({down:?}) the mouth centre");
    };
    assert!(u + d >= 0.001, "gap between the lips {} m", u + d);
    assert!(u + d < 0.006, "gap between the lips {} m", u + d);
    // The slot reaches well into the head: ~20 mm behind the centre it is still open.
    let deep = [mc[0], mc[1], mc[2] - 0.02];
    assert!(head_sdf(deep) > 0.0, "slot is shallower than 20 mm");
    let up = ray_hits(&f.mesh, deep, [0.0, 1.0, 0.0]);
    let down = ray_hits(&f.mesh, deep, [0.0, -1.0, 0.0]);
    assert!(up.first().is_some_and(|u| *u < 0.004));
    assert!(down.first().is_some_and(|d| *d < 0.004));

    // Locally, upper and lower lip belong to different pieces of surface: flood-fill the
    // triangles within 12 mm of the mouth centre starting from the upper lip.
    let m = &f.mesh;
    let near = |v: u32| len(sub(m.positions[v as usize], mc)) < 0.012;
    let nearest = |p: V| {
        (0..m.positions.len() as u32)
            .min_by(|&a, &b| {
                len(sub(m.positions[a as usize], p))
                    .total_cmp(&len(sub(m.positions[b as usize], p)))
            })
            .expect("vertices")
    };
    let upper = nearest(lm.require("upper_lip").expect("upper_lip"));
    let lower = nearest(lm.require("lower_lip").expect("lower_lip"));
    let mut adj: HashMap<u32, Vec<u32>> = HashMap::new();
    for t in m.indices.chunks_exact(3) {
        for e in 0..3 {
            let (a, b) = (t[e], t[(e + 1) % 3]);
            if near(a) && near(b) {
                adj.entry(a).or_default().push(b);
                adj.entry(b).or_default().push(a);
            }
        }
    }
    let mut seen = HashSet::from([upper]);
    let mut stack = vec![upper];
    while let Some(v) = stack.pop() {
        for &w in adj.get(&v).map(Vec::as_slice).unwrap_or(&[]) {
            if seen.insert(w) {
                stack.push(w);
            }
        }
    }
    assert!(seen.len() > 20, "upper lip patch too small");
    assert!(
        !seen.contains(&lower),
        "upper and lower lip are connected near the centre"
    );
}

#[test]
fn colours_mark_lips_and_mouth_interior() {
    let f = face();
    let colors = f.mesh.colors.as_ref().expect("colours");
    let mc = f.landmarks.require("mouth_center").expect("mouth_center");
    let redness = |c: &[f32; 4]| c[0] / c[1].max(1e-3);
    let mut interior = 0;
    for (p, c) in f.mesh.positions.iter().zip(colors) {
        // Slot walls well behind the lips: dark red.
        if p[0].abs() < 0.01
            && (p[1] - mc[1]).abs() < 0.003
            && (mc[2] - 0.03..mc[2] - 0.008).contains(&p[2])
        {
            interior += 1;
            assert!(
                c[0] < 0.2 && c[0] > c[1] && c[0] > c[2],
                "interior colour {c:?} at {p:?}"
            );
            assert!((c[0] - MOUTH_INTERIOR_COLOR[0]).abs() < 0.05);
        }
    }
    assert!(interior > 10, "only {interior} mouth-interior vertices");
    // Lips are redder than the forehead.
    let nearest_colour = |q: V| {
        let i = (0..f.mesh.positions.len())
            .min_by(|&a, &b| {
                len(sub(f.mesh.positions[a], q)).total_cmp(&len(sub(f.mesh.positions[b], q)))
            })
            .expect("vertices");
        colors[i]
    };
    let lip = nearest_colour(f.landmarks.require("lower_lip").expect("lower_lip"));
    let forehead = nearest_colour(f.landmarks.require("forehead").expect("forehead"));
    assert!(
        redness(&lip) > 1.5 * redness(&forehead),
        "{lip:?} vs {forehead:?}"
    );
}

#[test]
fn generation_is_deterministic() {
    let a = face();
    let b = generate_default_face();
    let hash = |m: &FaceMesh| {
        let mut h = DefaultHasher::new();
        for p in &m.positions {
            p.map(f32::to_bits).hash(&mut h);
        }
        m.indices.hash(&mut h);
        h.finish()
    };
    assert_eq!(hash(&a.mesh), hash(&b.mesh));
    assert_eq!(a.mesh, b.mesh);
    assert_eq!(a.landmarks, b.landmarks);
}
