//! The deformer on the real default face (`facetwin_rig::face::default_face()`).

#[path = "deform_synth.rs"]
mod synth;

use facetwin_rig::FaceMesh;
use facetwin_rig::deform::Deformer;
use facetwin_rig::face::{Face, default_face};
use facetwin_rig::rig::Rig;
use synth::{mirror_map, nearest};

const MM: f32 = 0.001;

fn setup() -> (Face, Rig, Deformer) {
    let face = default_face().expect("the default face loads");
    let rig = Rig::default_rig();
    let d = Deformer::new(&face.mesh, &face.landmarks, &rig).expect("deformer builds");
    (face, rig, d)
}

fn only(rig: &Rig, name: &str, value: f32) -> Vec<f32> {
    let mut p = vec![0.0; 25];
    p[usize::from(rig.actuator(name).expect(name).channel)] = value;
    p
}

fn delta(out: &FaceMesh, rest: &FaceMesh, i: usize) -> [f32; 3] {
    let (a, b) = (out.positions[i], rest.positions[i]);
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn len(v: [f32; 3]) -> f32 {
    (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt()
}

fn vertex(face: &Face, landmark: &str) -> usize {
    nearest(&face.mesh, face.landmarks.get(landmark).expect(landmark))
}

/// Whether `p` lies in the mouth slot (interior walls between the lips), where thin slivers
/// legitimately turn a lot when the lips part.
fn in_mouth_slot(face: &Face, p: [f32; 3]) -> bool {
    let mc = face.landmarks.get("mouth_center").expect("mouth_center");
    let corner = face.landmarks.get("mouth_corner_l").expect("corner");
    p[0].abs() < corner[0] + 0.004 && (p[1] - mc[1]).abs() < 0.004 && p[2] < mc[2] + 0.008
}

#[test]
fn default_face_behaves() {
    let (face, rig, mut d) = setup();
    let rest = d.rest().clone();
    let mut out = rest.clone();

    // Zero is the rest mesh, bit-exact.
    d.apply(&[0.0; 25], &mut out);
    assert_eq!(out, rest);

    // Smile, left: the left corner goes up and out by 4–15 mm; far points stay.
    d.apply(&only(&rig, "zygomaticus_major_l", 1.0), &mut out);
    let c = delta(&out, &rest, vertex(&face, "mouth_corner_l"));
    assert!(c[0] > 0.0 && c[1] > 0.0, "{c:?}");
    assert!(
        (4.0 * MM..=15.0 * MM).contains(&len(c)),
        "{} mm",
        len(c) / MM
    );
    for far in ["mouth_corner_r", "forehead", "nose_tip"] {
        let m = len(delta(&out, &rest, vertex(&face, far)));
        assert!(m < 0.1 * MM, "{far} moved {} mm", m / MM);
    }

    // Jaw: chin down > 10 mm, nose still, the lips part.
    d.apply(&only(&rig, "jaw", 1.0), &mut out);
    let chin = delta(&out, &rest, vertex(&face, "chin"));
    assert!(chin[1] < -10.0 * MM, "{chin:?}");
    assert!(len(delta(&out, &rest, vertex(&face, "nose_tip"))) < 0.1 * MM);
    let lower = delta(&out, &rest, vertex(&face, "lower_lip"));
    let upper = delta(&out, &rest, vertex(&face, "upper_lip"));
    assert!(lower[1] < -10.0 * MM, "{lower:?}");
    assert!(len(upper) < 0.5 * MM, "{upper:?}");

    // Brows up.
    for (m, p) in [
        ("frontalis_inner_l", "brow_inner_l"),
        ("frontalis_outer_r", "brow_outer_r"),
    ] {
        d.apply(&only(&rig, m, 1.0), &mut out);
        assert!(delta(&out, &rest, vertex(&face, p))[1] > 3.0 * MM, "{m}");
    }
}

#[test]
fn default_face_stays_sane_under_full_expressions() {
    let (face, rig, mut d) = setup();
    let rest = d.rest().clone();
    let mut out = rest.clone();
    let everything: Vec<f32> = rig
        .actuators
        .iter()
        .map(|a| if a.min_norm < -0.5 { -0.8 } else { a.max_norm })
        .collect();
    for p in [
        everything,
        only(&rig, "jaw", 1.0),
        vec![10.0; 25],
        vec![-10.0; 25],
    ] {
        d.apply(&p, &mut out);
        for (i, (n, r)) in out.normals.iter().zip(&rest.normals).enumerate() {
            assert!((len(*n) - 1.0).abs() < 1e-4, "normal {i} not unit");
            assert!(out.positions[i].iter().all(|c| c.is_finite()));
            // Outside the mouth slot, no normal turns past 90° (no folded skin).
            if !in_mouth_slot(&face, rest.positions[i]) {
                let dot = n[0] * r[0] + n[1] * r[1] + n[2] * r[2];
                assert!(
                    dot > 0.0,
                    "vertex {i} at {:?} folds: {dot}",
                    rest.positions[i]
                );
            }
        }
    }
}

#[test]
fn default_face_symmetric_expressions_are_symmetric() {
    let (face, rig, mut d) = setup();
    // The face is symmetric up to small meshing differences: pair each vertex with the vertex
    // nearest to its mirror image and compare their displacements.
    let mirror = mirror_map(&face.mesh.positions, 0.6 * MM);
    let paired = mirror.iter().filter(|m| m.is_some()).count();
    assert!(
        paired > face.mesh.positions.len() * 3 / 4,
        "only {paired} mirror pairs"
    );
    let p: Vec<f32> = rig
        .actuators
        .iter()
        .map(|a| match a.name.as_str() {
            "eyes_yaw" => 0.0,
            "jaw" => 0.4,
            n if n.starts_with("levator_palpebrae") => -0.5,
            _ => 0.6,
        })
        .collect();
    let rest = d.rest().clone();
    let mut out = rest.clone();
    d.apply(&p, &mut out);
    let mut errors: Vec<f32> = mirror
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            let m = (*m)?;
            // The lips' edges along the slot are meshed differently on each side.
            if in_mouth_slot(&face, rest.positions[i]) {
                return None;
            }
            let (a, b) = (delta(&out, &rest, i), delta(&out, &rest, m));
            Some(len([a[0] + b[0], a[1] - b[1], a[2] - b[2]]))
        })
        .collect();
    errors.sort_by(f32::total_cmp);
    let p99 = errors[errors.len() * 99 / 100];
    let max = errors[errors.len() - 1];
    assert!(p99 < 0.2 * MM, "99th percentile asymmetry {} mm", p99 / MM);
    assert!(max < 1.0 * MM, "worst asymmetry {} mm", max / MM);
}

#[test]
fn default_face_does_not_fold_under_any_pair_of_full_contractions() {
    let (face, rig, mut d) = setup();
    let rest = d.rest().clone();
    let mut out = rest.clone();
    let full = |a: &facetwin_rig::rig::Actuator| {
        if a.min_norm < -0.5 {
            a.min_norm
        } else {
            a.max_norm
        }
    };
    let mut failures = Vec::new();
    for (i, a) in rig.actuators.iter().enumerate() {
        for b in &rig.actuators[i..] {
            let mut p = vec![0.0; 25];
            p[usize::from(a.channel)] = full(a);
            p[usize::from(b.channel)] = full(b);
            d.apply(&p, &mut out);
            let folds = out
                .normals
                .iter()
                .zip(&rest.normals)
                .zip(&rest.positions)
                .filter(|((n, r), p)| {
                    n[0] * r[0] + n[1] * r[1] + n[2] * r[2] < 0.2 && !in_mouth_slot(&face, **p)
                })
                .count();
            if folds > 0 {
                failures.push(format!("{} + {}: {folds} folded vertices", a.name, b.name));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
