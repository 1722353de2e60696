#[path = "deform_synth.rs"]
mod synth;
use facetwin_rig::deform::{Deformer, DeformerSettings};
use facetwin_rig::rig::Rig;
fn run(mesh: &facetwin_rig::FaceMesh, lm: &facetwin_rig::landmarks::Landmarks) {
    let h = synth::SynthHead {
        mesh: mesh.clone(),
        landmarks: lm.clone(),
        rows: 0,
        cols: 0,
    };
    let rig = Rig::default_rig();
    let t = std::time::Instant::now();
    let mut d =
        Deformer::from_lookup(&h.mesh, &h.lookup(), &rig, DeformerSettings::default()).unwrap();
    println!(
        "build {:?}, verts {}, relaxable {}",
        t.elapsed(),
        h.mesh.positions.len(),
        d.relaxable_vertex_count()
    );
    let mut out = d.rest().clone();
    println!("{}", d.stats());
    {
        let p: Vec<f32> = (0..25)
            .map(|i| if i == 6 || i == 7 { -0.4 } else { 0.4 })
            .collect();
        let mut best = [f64::MAX; 4];
        let n = 100;
        for _ in 0..30 {
            let mut tot = [0.0f64; 3];
            let t0 = std::time::Instant::now();
            for _ in 0..n {
                let t = d.apply_timed(&p, &mut out);
                for k in 0..3 {
                    tot[k] += t[k].as_secs_f64();
                }
            }
            let all = t0.elapsed().as_secs_f64();
            for k in 0..3 {
                best[k] = best[k].min(tot[k] / n as f64 * 1e6);
            }
            best[3] = best[3].min(all / n as f64 * 1e6);
        }
        let t0 = std::time::Instant::now();
        let mut bestapply = f64::MAX;
        for _ in 0..30 {
            let t0 = std::time::Instant::now();
            for _ in 0..n {
                d.apply(&p, &mut out);
            }
            bestapply = bestapply.min(t0.elapsed().as_secs_f64() / n as f64 * 1e6);
        }
        let _ = t0;
        println!(
            "stages us (min): muscles {:.1} relax {:.1} write {:.1} total {:.1} apply {:.1}",
            best[0], best[1], best[2], best[3], bestapply
        );
    }
    let names = [
        "mouth_corner_l",
        "mouth_corner_r",
        "upper_lip",
        "lower_lip",
        "chin",
        "nose_tip",
        "brow_inner_l",
        "brow_mid_l",
        "brow_outer_l",
        "upper_lid_l",
        "lower_lid_l",
        "cheek_l",
        "forehead",
        "cheekbone_l",
    ];
    let idx: Vec<usize> = names
        .iter()
        .map(|n| synth::nearest(&h.mesh, h.landmarks.get(n).unwrap()))
        .collect();
    for a in rig.actuators.clone() {
        let mut p = vec![0.0; 25];
        p[a.channel as usize] = if a.name.starts_with("levator_palp") {
            -1.0
        } else {
            1.0
        };
        d.apply(&p, &mut out);
        let mut maxd: f32 = 0.0;
        for (q, r) in out.positions.iter().zip(&d.rest().positions) {
            let dd = ((q[0] - r[0]).powi(2) + (q[1] - r[1]).powi(2) + (q[2] - r[2]).powi(2)).sqrt();
            maxd = maxd.max(dd);
        }
        print!(
            "{:26} n={:6} max={:5.1}mm |",
            a.name,
            d.affected_vertices(a.channel as usize).len(),
            maxd * 1000.0
        );
        for (n, &i) in names.iter().zip(&idx) {
            let q = out.positions[i];
            let r = d.rest().positions[i];
            let dd = [
                (q[0] - r[0]) * 1000.0,
                (q[1] - r[1]) * 1000.0,
                (q[2] - r[2]) * 1000.0,
            ];
            if dd.iter().any(|v| v.abs() > 0.3) {
                print!(" {}=({:.1},{:.1},{:.1})", n, dd[0], dd[1], dd[2]);
            }
        }
        println!();
    }
}

#[test]
#[ignore]
fn explore() {
    let h = synth::synth_head(150, 200);
    run(&h.mesh, &h.landmarks);
    let t = std::time::Instant::now();
    let f = facetwin_rig::face::default_face().unwrap();
    println!("face {:?} {}", t.elapsed(), f.source.display());
    run(&f.mesh, &f.landmarks);
}
