//! Deformer behaviour on the synthetic head (exactly symmetric, open mouth slot).

#[path = "deform_synth.rs"]
mod synth;

use facetwin_rig::FaceMesh;
use facetwin_rig::deform::{Deformer, DeformerSettings};
use facetwin_rig::rig::{MuscleModel, Rig, RigError};
use synth::{SynthHead, nearest, synth_head};

const MM: f32 = 0.001;

fn setup() -> (SynthHead, Rig, Deformer) {
    let head = synth_head(120, 160);
    let rig = Rig::default_rig();
    assert_eq!(rig.actuators.len(), 25, "the default rig must load");
    let d = Deformer::new(&head.mesh, &head.landmarks, &rig).expect("deformer builds");
    (head, rig, d)
}

fn channel(rig: &Rig, name: &str) -> usize {
    usize::from(rig.actuator(name).expect(name).channel)
}

fn only(rig: &Rig, name: &str, value: f32) -> Vec<f32> {
    let mut p = vec![0.0; 25];
    p[channel(rig, name)] = value;
    p
}

fn delta(out: &FaceMesh, rest: &FaceMesh, i: usize) -> [f32; 3] {
    let (a, b) = (out.positions[i], rest.positions[i]);
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn len(v: [f32; 3]) -> f32 {
    (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt()
}

fn vertex(head: &SynthHead, landmark: &str) -> usize {
    nearest(&head.mesh, head.landmarks.get(landmark).expect(landmark))
}

fn assert_bit_exact(out: &FaceMesh, rest: &FaceMesh) {
    assert_eq!(out.positions.len(), rest.positions.len());
    for (i, (a, b)) in out.positions.iter().zip(&rest.positions).enumerate() {
        assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits), "position {i}");
    }
    for (i, (a, b)) in out.normals.iter().zip(&rest.normals).enumerate() {
        assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits), "normal {i}");
    }
}

#[test]
fn zero_activation_is_the_rest_mesh_bit_exact() {
    let (_, rig, mut d) = setup();
    let mut out = d.rest().clone();
    d.apply(&[0.0; 25], &mut out);
    assert_bit_exact(&out, d.rest());

    // After a deformation, zero brings it back exactly.
    d.apply(&only(&rig, "zygomaticus_major_l", 1.0), &mut out);
    assert_ne!(out.positions, d.rest().positions);
    d.apply(&[0.0; 25], &mut out);
    assert_bit_exact(&out, d.rest());

    // Empty, NaN-only and rigid-only inputs are the rest pose too.
    d.apply(&[], &mut out);
    assert_bit_exact(&out, d.rest());
    d.apply(&[f32::NAN; 25], &mut out);
    assert_bit_exact(&out, d.rest());
    let mut rigid = vec![0.0; 25];
    rigid[22] = 1.0;
    rigid[23] = -1.0;
    rigid[24] = 0.5;
    d.apply(&rigid, &mut out);
    assert_bit_exact(&out, d.rest());

    // A fresh clone after a deformed frame is fine as well.
    d.apply(&only(&rig, "jaw", 1.0), &mut out);
    let mut other = d.rest().clone();
    d.apply(&[0.0; 25], &mut other);
    assert_bit_exact(&other, d.rest());
    d.apply(&[0.0; 25], &mut out);
    assert_bit_exact(&out, d.rest());
}

#[test]
fn zygomaticus_left_pulls_the_left_corner_up_and_out_only() {
    let (head, rig, mut d) = setup();
    let mut out = d.rest().clone();
    d.apply(&only(&rig, "zygomaticus_major_l", 1.0), &mut out);
    let corner = delta(&out, d.rest(), vertex(&head, "mouth_corner_l"));
    assert!(corner[1] > 0.0, "corner must go up: {corner:?}");
    assert!(
        corner[0] > 0.0,
        "corner must go toward the left ear (+X): {corner:?}"
    );
    let m = len(corner);
    assert!(
        (4.0 * MM..=15.0 * MM).contains(&m),
        "corner moved {} mm",
        m / MM
    );

    for far in ["mouth_corner_r", "forehead", "brow_inner_r", "chin"] {
        let dd = len(delta(&out, d.rest(), vertex(&head, far)));
        assert!(dd < 0.1 * MM, "{far} moved {} mm", dd / MM);
    }
}

#[test]
fn jaw_opens_the_mouth_and_leaves_the_nose() {
    let (head, rig, mut d) = setup();
    let mut out = d.rest().clone();
    d.apply(&only(&rig, "jaw", 1.0), &mut out);
    let chin = delta(&out, d.rest(), vertex(&head, "chin"));
    assert!(chin[1] < -10.0 * MM, "chin dy = {} mm", chin[1] / MM);
    let nose = len(delta(&out, d.rest(), vertex(&head, "nose_tip")));
    assert!(nose < 0.1 * MM, "nose tip moved {} mm", nose / MM);

    // The lower lip rides the jaw rigidly; the upper lip stays: the mouth opens.
    let up = vertex(&head, "upper_lip");
    let lo = vertex(&head, "lower_lip");
    let lower = delta(&out, d.rest(), lo);
    assert!(lower[1] < -10.0 * MM, "lower lip dy = {} mm", lower[1] / MM);
    let upper = len(delta(&out, d.rest(), up));
    assert!(upper < 0.2 * MM, "upper lip moved {} mm", upper / MM);
    let gap = |m: &FaceMesh| m.positions[up][1] - m.positions[lo][1];
    assert!(gap(&out) > gap(d.rest()) + 10.0 * MM);

    // Rigid: the lower lip's distance to the chin is kept.
    let dist = |m: &FaceMesh| {
        let (a, b) = (m.positions[lo], m.positions[vertex(&head, "chin")]);
        len([a[0] - b[0], a[1] - b[1], a[2] - b[2]])
    };
    assert!((dist(&out) - dist(d.rest())).abs() < 0.3 * MM);

    // The eyes and the back of the head do not move.
    for far in ["eye_l", "upper_lid_r", "forehead"] {
        let dd = len(delta(&out, d.rest(), vertex(&head, far)));
        assert!(dd < 0.1 * MM, "{far} moved {} mm", dd / MM);
    }
}

#[test]
fn frontalis_raises_the_brows() {
    let (head, rig, mut d) = setup();
    let mut out = d.rest().clone();
    for (muscle, point) in [
        ("frontalis_inner_l", "brow_inner_l"),
        ("frontalis_inner_r", "brow_inner_r"),
        ("frontalis_outer_l", "brow_outer_l"),
        ("frontalis_outer_r", "brow_outer_r"),
    ] {
        d.apply(&only(&rig, muscle, 1.0), &mut out);
        let brow = delta(&out, d.rest(), vertex(&head, point));
        assert!(
            brow[1] > 4.0 * MM,
            "{muscle}: {point} dy = {} mm",
            brow[1] / MM
        );
        let lid = len(delta(
            &out,
            d.rest(),
            vertex(
                &head,
                point
                    .replace("brow_inner", "lower_lid")
                    .replace("brow_outer", "lower_lid")
                    .as_str(),
            ),
        ));
        assert!(lid < 0.5 * MM, "{muscle}: lower lid moved {} mm", lid / MM);
    }
}

#[test]
fn corrugator_pulls_the_brow_in_and_down() {
    let (head, rig, mut d) = setup();
    let mut out = d.rest().clone();
    d.apply(&only(&rig, "corrugator_l", 1.0), &mut out);
    let brow = delta(&out, d.rest(), vertex(&head, "brow_mid_l"));
    assert!(brow[0] < -MM && brow[1] < 0.0, "{brow:?}");
}

#[test]
fn lip_muscles_stay_on_their_side_of_the_mouth() {
    let (head, rig, mut d) = setup();
    let mut out = d.rest().clone();
    let up = vertex(&head, "upper_lip");
    let lo = vertex(&head, "lower_lip");

    d.apply(&only(&rig, "depressor_labii", 1.0), &mut out);
    let lower = delta(&out, d.rest(), lo);
    assert!(lower[1] < -3.0 * MM, "lower lip dy = {} mm", lower[1] / MM);
    assert!(len(delta(&out, d.rest(), up)) < 0.1 * MM);

    d.apply(&only(&rig, "levator_labii_l", 1.0), &mut out);
    let affected = d.affected_vertices(channel(&rig, "levator_labii_l"));
    let up_side = affected
        .iter()
        .map(|&v| delta(&out, d.rest(), v as usize)[1])
        .fold(0.0f32, f32::max);
    assert!(
        up_side > 3.0 * MM,
        "upper lip raised only {} mm",
        up_side / MM
    );
    assert!(len(delta(&out, d.rest(), lo)) < 0.1 * MM);
}

#[test]
fn pucker_pulls_the_corners_in_and_the_lips_forward() {
    let (head, rig, mut d) = setup();
    let mut out = d.rest().clone();
    d.apply(&only(&rig, "orbicularis_oris", 1.0), &mut out);
    let l = delta(&out, d.rest(), vertex(&head, "mouth_corner_l"));
    let r = delta(&out, d.rest(), vertex(&head, "mouth_corner_r"));
    assert!(l[0] < -2.0 * MM && r[0] > 2.0 * MM, "{l:?} {r:?}");
    let up = delta(&out, d.rest(), vertex(&head, "upper_lip"));
    assert!(up[2] > 2.0 * MM, "{up:?}");
}

#[test]
fn closing_the_lid_drags_the_skin_above_the_eye_down_a_little() {
    let (head, rig, mut d) = setup();
    let mut out = d.rest().clone();
    d.apply(&only(&rig, "levator_palpebrae_l", -1.0), &mut out);
    let lid = delta(&out, d.rest(), vertex(&head, "upper_lid_l"));
    assert!(lid[1] < -0.5 * MM && lid[1] > -5.0 * MM, "{lid:?}");
    assert!(len(delta(&out, d.rest(), vertex(&head, "lower_lid_l"))) < 0.1 * MM);
    // Wide open: up.
    d.apply(&only(&rig, "levator_palpebrae_l", 0.3), &mut out);
    assert!(delta(&out, d.rest(), vertex(&head, "upper_lid_l"))[1] > 0.1 * MM);
}

#[test]
fn symmetric_activations_give_a_mirror_symmetric_face() {
    let (head, rig, mut d) = setup();
    let mirror = synth::mirror_map(&head.mesh.positions, 1e-6);
    assert!(mirror.iter().all(Option::is_some));
    let mut p = vec![0.0; 25];
    for a in &rig.actuators {
        if let Some(base) = a.name.strip_suffix("_l").or(a.name.strip_suffix("_r")) {
            let v = match base {
                "levator_palpebrae" => -0.6,
                "zygomaticus_major" => 0.9,
                _ => 0.5,
            };
            p[usize::from(a.channel)] = v;
        } else if matches!(a.model, MuscleModel::Rigid { .. }) {
            p[usize::from(a.channel)] = 0.0;
        } else {
            p[usize::from(a.channel)] = 0.6;
        }
    }
    let mut out = d.rest().clone();
    d.apply(&p, &mut out);
    let mut worst = 0.0f32;
    let mut worst_n = 0.0f32;
    for (i, m) in mirror.iter().enumerate() {
        let m = m.expect("mirror");
        let a = out.positions[i];
        let b = out.positions[m];
        worst = worst.max(len([a[0] + b[0], a[1] - b[1], a[2] - b[2]]));
        let (na, nb) = (out.normals[i], out.normals[m]);
        worst_n = worst_n.max(len([na[0] + nb[0], na[1] - nb[1], na[2] - nb[2]]));
    }
    assert!(worst < 0.01 * MM, "asymmetry {} mm", worst / MM);
    assert!(worst_n < 1e-3, "normal asymmetry {worst_n}");
}

#[test]
fn normals_are_unit_length_after_apply() {
    let (_, rig, mut d) = setup();
    let mut out = d.rest().clone();
    let p: Vec<f32> = rig
        .actuators
        .iter()
        .map(|a| if a.min_norm < -0.5 { -0.7 } else { 0.8 })
        .collect();
    d.apply(&p, &mut out);
    for (i, n) in out.normals.iter().enumerate() {
        assert!((len(*n) - 1.0).abs() < 1e-4, "normal {i}: {n:?}");
    }
    // And they follow the surface: each stays within 90° of its rest normal.
    for (n, r) in out.normals.iter().zip(&d.rest().normals) {
        assert!(n[0] * r[0] + n[1] * r[1] + n[2] * r[2] > 0.0);
    }
}

#[test]
fn extreme_inputs_stay_finite_and_are_clamped() {
    let (_, rig, mut d) = setup();
    let mut out = d.rest().clone();
    for v in [
        10.0,
        -10.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        1e30,
    ] {
        d.apply(&[v; 25], &mut out);
        for p in out.positions.iter().chain(&out.normals) {
            assert!(p.iter().all(|c| c.is_finite()), "input {v}: {p:?}");
        }
    }
    // +10 is clamped to the limits: same as max_norm everywhere.
    let max: Vec<f32> = rig.actuators.iter().map(|a| a.max_norm).collect();
    let mut at_max = d.rest().clone();
    d.apply(&max, &mut at_max);
    d.apply(&[10.0; 25], &mut out);
    assert_eq!(out.positions, at_max.positions);
    // NaN counts as 0 on its own channel.
    let mut p = only(&rig, "jaw", 1.0);
    p[channel(&rig, "zygomaticus_major_l")] = f32::NAN;
    let mut jaw_only = d.rest().clone();
    d.apply(&only(&rig, "jaw", 1.0), &mut jaw_only);
    d.apply(&p, &mut out);
    assert_eq!(out.positions, jaw_only.positions);
    // Longer inputs are fine (extra channels ignored).
    d.apply(&[0.3; 40], &mut out);
    assert!(out.positions.iter().flatten().all(|c| c.is_finite()));
}

#[test]
fn every_muscle_moves_a_plausible_amount() {
    let (_, rig, mut d) = setup();
    let mut out = d.rest().clone();
    for a in &rig.actuators {
        let ch = usize::from(a.channel);
        let value = if a.min_norm < -0.5 {
            a.min_norm
        } else {
            a.max_norm
        };
        d.apply(&only(&rig, &a.name, value), &mut out);
        let max = (0..out.positions.len())
            .map(|i| len(delta(&out, d.rest(), i)))
            .fold(0.0f32, f32::max);
        match a.model {
            MuscleModel::Rigid { .. } => {
                assert!(d.affected_vertices(ch).is_empty());
                assert_eq!(max, 0.0, "{}", a.name);
            }
            MuscleModel::JawRotation { .. } => {
                assert!(
                    max > 20.0 * MM && max < 70.0 * MM,
                    "{}: {} mm",
                    a.name,
                    max / MM
                );
            }
            _ => {
                assert!(!d.affected_vertices(ch).is_empty(), "{}", a.name);
                assert!(
                    max > 1.0 * MM && max < 15.0 * MM,
                    "{}: {} mm",
                    a.name,
                    max / MM
                );
            }
        }
        let affected = d.affected_vertices(ch);
        assert!(affected.windows(2).all(|w| w[0] < w[1]), "sorted, unique");
    }
    assert!(d.affected_vertices(99).is_empty());
}

#[test]
fn only_the_relaxable_region_is_written() {
    let (head, _, mut d) = setup();
    let mut out = d.rest().clone();
    d.apply(&[0.7; 25], &mut out);
    let back = nearest(&head.mesh, [0.0, 0.0, -synth::C]);
    assert_eq!(out.positions[back], d.rest().positions[back]);
    let moved = out
        .positions
        .iter()
        .zip(&d.rest().positions)
        .filter(|(a, b)| a != b)
        .count();
    assert!(moved <= d.movable_vertex_count());
    assert!(d.movable_vertex_count() < head.mesh.positions.len() / 2);
}

#[test]
fn relaxation_smooths_without_changing_the_big_picture() {
    let head = synth_head(120, 160);
    let rig = Rig::default_rig();
    let raw = DeformerSettings {
        relax_iterations: 0,
        ..DeformerSettings::default()
    };
    let mut d0 = Deformer::with_settings(&head.mesh, &head.landmarks, &rig, raw).expect("builds");
    let mut d3 = Deformer::new(&head.mesh, &head.landmarks, &rig).expect("builds");
    let p = only(&rig, "zygomaticus_major_l", 1.0);
    let (mut o0, mut o3) = (d0.rest().clone(), d3.rest().clone());
    d0.apply(&p, &mut o0);
    d3.apply(&p, &mut o3);
    let corner = vertex(&head, "mouth_corner_l");
    let (a, b) = (delta(&o0, d0.rest(), corner), delta(&o3, d3.rest(), corner));
    // Same direction and size within 30 %.
    assert!(
        len(b) > 0.7 * len(a) && len(b) < 1.3 * len(a),
        "{a:?} vs {b:?}"
    );
    // Relaxation spreads the motion: more vertices move.
    let count = |o: &FaceMesh, d: &Deformer| {
        o.positions
            .iter()
            .zip(&d.rest().positions)
            .filter(|(x, y)| len([x[0] - y[0], x[1] - y[1], x[2] - y[2]]) > 1e-5)
            .count()
    };
    assert!(count(&o3, &d3) > count(&o0, &d0));
}

#[test]
fn applying_twice_gives_the_same_result_and_bad_output_buffers_are_replaced() {
    let (_, _, mut d) = setup();
    let p = [0.4; 25];
    let mut a = d.rest().clone();
    d.apply(&p, &mut a);
    let mut b = d.rest().clone();
    d.apply(&p, &mut b);
    d.apply(&p, &mut b);
    assert_eq!(a, b);
    let mut empty = FaceMesh::default();
    d.apply(&p, &mut empty);
    assert_eq!(empty, a);
}

#[test]
fn muscle_lines_go_from_origin_to_insertion() {
    let (head, _, d) = setup();
    let lines = d.muscle_lines();
    let zyg: Vec<_> = lines
        .iter()
        .filter(|l| l.0 == "zygomaticus_major_l")
        .collect();
    assert_eq!(zyg.len(), 1);
    let corner = head.landmarks.get("mouth_corner_l").expect("corner");
    let to = zyg[0].2;
    assert!(len([to[0] - corner[0], to[1] - corner[1], to[2] - corner[2]]) < 5.0 * MM);
    assert!(zyg[0].1[1] > to[1], "origin is above the insertion");
    assert!(lines.iter().any(|l| l.0 == "orbicularis_oris"));
    assert!(lines.iter().any(|l| l.0 == "jaw"));
    assert!(!lines.iter().any(|l| l.0 == "eyes_yaw"));
}

#[test]
fn a_face_without_a_landmark_the_rig_needs_is_refused_by_name() {
    let (mut head, rig, _) = setup();
    head.landmarks.points.remove("cheekbone_l");
    let err = Deformer::new(&head.mesh, &head.landmarks, &rig).expect_err("must fail");
    assert!(matches!(err, RigError::MissingLandmark { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("cheekbone_l"), "{msg}");
    assert!(msg.contains("zygomaticus_major_l"), "{msg}");
}

#[test]
fn broken_meshes_are_refused() {
    let (head, rig, _) = setup();
    let mut bad = head.mesh.clone();
    bad.indices.push(u32::MAX);
    bad.indices.push(0);
    bad.indices.push(1);
    assert!(matches!(
        Deformer::new(&bad, &head.landmarks, &rig),
        Err(RigError::Mesh(_))
    ));
    let empty = FaceMesh::default();
    assert!(Deformer::new(&empty, &head.landmarks, &rig).is_err());
    // Missing normals are computed.
    let mut no_normals = head.mesh.clone();
    no_normals.normals.clear();
    let d = Deformer::new(&no_normals, &head.landmarks, &rig).expect("builds");
    assert_eq!(d.rest().normals.len(), head.mesh.positions.len());
}
