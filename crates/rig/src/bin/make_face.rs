//! Regenerates the default face asset.
//!
//! ```text
//! cargo run -p facetwin-rig --release --bin make_face -- [--out PATH] [--preview PREFIX]
//! ```
//!
//! `--out` defaults to `assets/faces/default_face.glb`. `--preview PREFIX` also writes software
//! renders (`PREFIX_front.ppm`, `PREFIX_three_quarter.ppm`, `PREFIX_profile.ppm`,
//! `PREFIX_mouth.ppm`, `PREFIX_eye.ppm`) with eyeballs added, so the result can be looked at without the app
//! (convert them with e.g. `convert face_front.ppm face_front.png`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use facetwin_rig::FaceMesh;
use facetwin_rig::face::default_face_path;
use facetwin_rig::generate::generate_default_face;
use facetwin_rig::gltf_io::write_glb;
use facetwin_rig::landmarks::Landmarks;

const USAGE: &str = "usage: make_face [--out PATH] [--preview PREFIX]";

fn main() -> ExitCode {
    let mut out: Option<PathBuf> = None;
    let mut preview: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => match args.next() {
                Some(p) => out = Some(PathBuf::from(p)),
                None => return fail("--out needs a path"),
            },
            "--preview" => match args.next() {
                Some(p) => preview = Some(p),
                None => return fail("--preview needs a prefix"),
            },
            "-h" | "--help" => {
                say(USAGE);
                return ExitCode::SUCCESS;
            }
            other => return fail(&format!("unknown argument `{other}`")),
        }
    }
    let out = out.unwrap_or_else(default_face_path);

    let t0 = Instant::now();
    let face = generate_default_face();
    let dt = t0.elapsed();
    say(&format!(
        "generated the default face in {:.2} s: {} vertices, {} triangles, {} landmarks",
        dt.as_secs_f64(),
        face.mesh.vertex_count(),
        face.mesh.triangle_count(),
        face.landmarks.points.len()
    ));
    if let Err(e) = write_glb(&out, &face.mesh, &face.landmarks) {
        return fail(&e.to_string());
    }
    let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    say(&format!(
        "wrote {} ({:.2} MB)",
        out.display(),
        size as f64 / 1e6
    ));

    if let Some(prefix) = preview {
        let views: [(&str, f32, f32, [f32; 2], f32); 5] = [
            ("front", 0.0, 0.0, [0.0, -0.02], 0.32),
            ("three_quarter", 35.0, 0.0, [0.0, -0.02], 0.32),
            ("profile", 90.0, 0.0, [0.0, -0.02], 0.32),
            ("mouth", 20.0, 10.0, [0.0, -0.055], 0.12),
            ("eye", 10.0, 0.0, [0.02, 0.0], 0.05),
        ];
        for (name, yaw, pitch, centre, span) in views {
            let img = render(&face.mesh, &face.landmarks, yaw, pitch, centre, span, 700);
            let path = format!("{prefix}_{name}.ppm");
            if let Err(e) = std::fs::write(&path, img) {
                return fail(&format!("cannot write {path}: {e}"));
            }
            say(&format!("wrote {path}"));
        }
    }
    ExitCode::SUCCESS
}

fn fail(msg: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "make_face: {msg}\n{USAGE}");
    ExitCode::FAILURE
}

/// Prints a line; a closed stdout (e.g. piped into `head`) is not an error.
fn say(msg: &str) {
    let _ = writeln!(std::io::stdout(), "{msg}");
}

// ---------------------------------------------------------------------------------------------
// A tiny software rasteriser: orthographic, z-buffered, Lambert + a little specular, 2x2
// supersampled. The eyeballs (separate parts in the app) are added as spheres.

type V = [f32; 3];

fn dot(a: V, b: V) -> f32 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
fn norm(a: V) -> V {
    let l = dot(a, a).sqrt().max(1e-20);
    [a[0] / l, a[1] / l, a[2] / l]
}

/// Rotation that turns the head by `yaw` degrees (showing its left side) and tilts it by `pitch`
/// degrees (showing the top), applied to head-space vectors.
fn view_rot(yaw: f32, pitch: f32) -> impl Fn(V) -> V {
    let (sy, cy) = (-yaw.to_radians()).sin_cos();
    let (sp, cp) = pitch.to_radians().sin_cos();
    move |p: V| {
        let x = cy * p[0] + sy * p[2];
        let z = -sy * p[0] + cy * p[2];
        let y = cp * p[1] - sp * z;
        let z2 = sp * p[1] + cp * z;
        [x, y, z2]
    }
}

struct Tri {
    p: [V; 3],
    n: [V; 3],
    c: [[f32; 3]; 3],
}

fn eyeball_tris(centre: V, r: f32) -> Vec<Tri> {
    let (nu, nv) = (48usize, 32usize);
    let pt = |i: usize, j: usize| -> (V, V) {
        let th = std::f32::consts::PI * j as f32 / nv as f32;
        let ph = std::f32::consts::TAU * i as f32 / nu as f32;
        // Pole along +Z (looking forward).
        let n = [th.sin() * ph.cos(), th.sin() * ph.sin(), th.cos()];
        (
            [
                centre[0] + r * n[0],
                centre[1] + r * n[1],
                centre[2] + r * n[2],
            ],
            n,
        )
    };
    let colour = |n: V| -> [f32; 3] {
        let ang = n[2].clamp(-1.0, 1.0).acos().to_degrees();
        if ang < 11.0 {
            [0.01, 0.01, 0.01]
        } else if ang < 29.0 {
            [0.12, 0.06, 0.025]
        } else if ang < 31.0 {
            [0.05, 0.03, 0.02]
        } else {
            [0.78, 0.74, 0.70]
        }
    };
    let mut out = Vec::new();
    for j in 0..nv {
        for i in 0..nu {
            let a = pt(i, j);
            let b = pt(i + 1, j);
            let c = pt(i + 1, j + 1);
            let d = pt(i, j + 1);
            for (x, y, z) in [(a, d, c), (a, c, b)] {
                out.push(Tri {
                    p: [x.0, y.0, z.0],
                    n: [x.1, y.1, z.1],
                    c: [colour(x.1), colour(y.1), colour(z.1)],
                });
            }
        }
    }
    out
}

/// Renders to a binary PPM (P6), `size` pixels square, showing `span` metres around `centre`.
fn render(
    mesh: &FaceMesh,
    lm: &Landmarks,
    yaw: f32,
    pitch: f32,
    centre: [f32; 2],
    span: f32,
    size: usize,
) -> Vec<u8> {
    let rot = view_rot(yaw, pitch);
    let ss = 2usize;
    let w = size * ss;
    let scale = w as f32 / span;
    let mut zbuf = vec![f32::MIN; w * w];
    let mut cbuf = vec![[0.93f32, 0.94, 0.96]; w * w];

    let mut tris: Vec<Tri> = Vec::with_capacity(mesh.triangle_count() + 8000);
    let white = [[1.0f32; 4]];
    for t in mesh.indices.chunks_exact(3) {
        let g = |k: usize| t[k] as usize;
        let col = |k: usize| {
            let c = mesh.colors.as_deref().unwrap_or(&white);
            let c = c.get(g(k)).unwrap_or(&[1.0; 4]);
            [c[0], c[1], c[2]]
        };
        tris.push(Tri {
            p: [
                mesh.positions[g(0)],
                mesh.positions[g(1)],
                mesh.positions[g(2)],
            ],
            n: [mesh.normals[g(0)], mesh.normals[g(1)], mesh.normals[g(2)]],
            c: [col(0), col(1), col(2)],
        });
    }
    for eye in ["eye_l", "eye_r"] {
        if let Some(e) = lm.get(eye) {
            tris.extend(eyeball_tris(e, lm.eye_radius_m));
        }
    }

    let light = norm([-0.45, 0.55, 0.7]);
    let fill = norm([0.6, -0.1, 0.5]);
    let half = norm([light[0], light[1], light[2] + 1.0]);
    for t in &tris {
        let p = t.p.map(&rot);
        let n = t.n.map(&rot);
        let sx = p.map(|q| (q[0] - centre[0]) * scale + w as f32 * 0.5);
        let sy = p.map(|q| w as f32 * 0.5 - (q[1] - centre[1]) * scale);
        let area = (sx[1] - sx[0]) * (sy[2] - sy[0]) - (sx[2] - sx[0]) * (sy[1] - sy[0]);
        // CCW in view space = CW on screen (y down): front faces have negative area.
        if area >= 0.0 {
            continue;
        }
        let x0 = sx.iter().copied().fold(f32::MAX, f32::min).floor().max(0.0) as usize;
        let x1 = (sx.iter().copied().fold(f32::MIN, f32::max).ceil() as usize).min(w - 1);
        let y0 = sy.iter().copied().fold(f32::MAX, f32::min).floor().max(0.0) as usize;
        let y1 = (sy.iter().copied().fold(f32::MIN, f32::max).ceil() as usize).min(w - 1);
        if sx.iter().any(|v| *v < -1.0e6) {
            continue;
        }
        for py in y0..=y1 {
            for px in x0..=x1 {
                let (fx, fy) = (px as f32 + 0.5, py as f32 + 0.5);
                let w0 = ((sx[1] - fx) * (sy[2] - fy) - (sx[2] - fx) * (sy[1] - fy)) / area;
                let w1 = ((sx[2] - fx) * (sy[0] - fy) - (sx[0] - fx) * (sy[2] - fy)) / area;
                let w2 = 1.0 - w0 - w1;
                if w0 < 0.0 || w1 < 0.0 || w2 < 0.0 {
                    continue;
                }
                let z = w0 * p[0][2] + w1 * p[1][2] + w2 * p[2][2];
                let k = py * w + px;
                if z <= zbuf[k] {
                    continue;
                }
                zbuf[k] = z;
                let nn = norm([
                    w0 * n[0][0] + w1 * n[1][0] + w2 * n[2][0],
                    w0 * n[0][1] + w1 * n[1][1] + w2 * n[2][1],
                    w0 * n[0][2] + w1 * n[1][2] + w2 * n[2][2],
                ]);
                let base = [0, 1, 2].map(|a| w0 * t.c[0][a] + w1 * t.c[1][a] + w2 * t.c[2][a]);
                let diff = dot(nn, light).max(0.0) * 0.85 + dot(nn, fill).max(0.0) * 0.25 + 0.18;
                let spec = dot(nn, half).max(0.0).powf(40.0) * 0.12;
                cbuf[k] = base.map(|b| b * diff + spec);
            }
        }
    }

    let mut out = format!("P6\n{size} {size}\n255\n").into_bytes();
    for y in 0..size {
        for x in 0..size {
            let mut acc = [0.0f32; 3];
            for dy in 0..ss {
                for dx in 0..ss {
                    let c = cbuf[(y * ss + dy) * w + x * ss + dx];
                    for a in 0..3 {
                        acc[a] += c[a];
                    }
                }
            }
            for a in acc {
                let lin = (a / (ss * ss) as f32).clamp(0.0, 1.0);
                let srgb = if lin <= 0.003_130_8 {
                    lin * 12.92
                } else {
                    1.055 * lin.powf(1.0 / 2.4) - 0.055
                };
                out.push((srgb * 255.0).round() as u8);
            }
        }
    }
    out
}
