//! `apply()` cost: all 25 actuators active, on (a) the default face and (b) a synthetic
//! ~30k-vertex head with the standard landmarks.
//!
//! `CARGO_TARGET_DIR=/work/target-deform cargo bench -p facetwin-rig --bench deform`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use facetwin_rig::FaceMesh;
use facetwin_rig::deform::Deformer;
use facetwin_rig::landmarks::Landmarks;
use facetwin_rig::rig::Rig;

#[path = "../tests/deform_synth.rs"]
mod synth;

/// A lively expression: every actuator away from neutral (smile + brows + jaw half open...).
fn all_active(rig: &Rig) -> Vec<f32> {
    let mut p = vec![0.0; rig.channel_count()];
    for (i, a) in rig.actuators.iter().enumerate() {
        let v = 0.35 + 0.05 * (i % 7) as f32;
        p[usize::from(a.channel)] = if a.min_norm < -0.5 { -v } else { v };
    }
    p
}

fn bench_face(c: &mut Criterion, label: &str, mesh: &FaceMesh, landmarks: &Landmarks) {
    let rig = Rig::default_rig();
    let Ok(mut deformer) = Deformer::new(mesh, landmarks, &rig) else {
        eprintln!("{label}: the deformer could not be built");
        return;
    };
    let mut out = deformer.rest().clone();
    let p = all_active(&rig);
    eprintln!(
        "{label}: {} vertices, {} triangles, {} movable",
        mesh.vertex_count(),
        mesh.triangle_count(),
        deformer.movable_vertex_count()
    );
    c.bench_function(&format!("apply/{label}/all_25_active"), |b| {
        b.iter(|| deformer.apply(black_box(&p), black_box(&mut out)))
    });
    let zero = vec![0.0; p.len()];
    c.bench_function(&format!("apply/{label}/all_zero"), |b| {
        b.iter(|| deformer.apply(black_box(&zero), black_box(&mut out)))
    });
}

fn benches(c: &mut Criterion) {
    let head = synth::synth_head(150, 200);
    bench_face(c, "synthetic_30k", &head.mesh, &head.landmarks);
    match facetwin_rig::face::default_face() {
        Ok(face) => bench_face(c, "default_face", &face.mesh, &face.landmarks),
        Err(e) => eprintln!("default face unavailable: {e}"),
    }
}

criterion_group!(deform, benches);
criterion_main!(deform);
