//! Authoring costs: timeline evaluation, capture retargeting, feasibility.
//!
//! `CARGO_TARGET_DIR=/work/target-authoring cargo bench -p facetwin-authoring --bench authoring`

use criterion::{Criterion, criterion_group, criterion_main};
use facetwin_authoring::feasibility::{FeasibilityOptions, check_clip};
use facetwin_authoring::livelink::{
    ImportOptions, Retargeter, parse_livelink_csv, synthetic_take_csv,
};
use facetwin_authoring::{AuTable, Clip, Handle, Interpolation, Key, Track, TrackTarget};
use facetwin_head::HeadConfig;
use std::hint::black_box;
use std::time::Duration;

/// 25 channel tracks over 2 s, 9 keys each, mixed interpolation.
fn channel_clip(table: &AuTable) -> Clip {
    let layout = table.layout();
    let mut clip = Clip::new("bench", 2000);
    for (c, name) in layout.names().iter().enumerate() {
        let (lo, hi) = layout.limits(c);
        let keys = (0..9u32)
            .map(|k| {
                let v = lo + (hi - lo) * (((k + c as u32) % 5) as f32 / 5.0);
                let mut key = Key::bezier(
                    k * 250,
                    v,
                    Handle::new(-60.0, 0.05),
                    Handle::new(60.0, -0.05),
                );
                if k % 4 == 3 {
                    key.interp = Interpolation::Linear;
                }
                key
            })
            .collect();
        clip.tracks.push(Track {
            target: TrackTarget::Channel(name.clone()),
            keys,
        });
    }
    clip
}

/// 25 AU tracks (the basis units) over 2 s.
fn au_clip(table: &AuTable) -> Clip {
    let mut clip = Clip::new("bench_au", 2000);
    for (i, (_, unit)) in table.basis().take(25).enumerate() {
        let keys = (0..9u32)
            .map(|k| Key::ease(k * 250, ((k + i as u32) % 4) as f32 / 4.0, 60.0))
            .collect();
        clip.tracks.push(Track {
            target: TrackTarget::Au(unit.name.clone()),
            keys,
        });
    }
    clip
}

fn bench_timeline(c: &mut Criterion) {
    let table = AuTable::builtin();
    let mut group = c.benchmark_group("timeline");
    for (name, clip) in [
        ("sample_25_channel_tracks", channel_clip(&table)),
        ("sample_25_au_tracks", au_clip(&table)),
    ] {
        let mut pose = vec![0.0; 25];
        let mut t = 0.0f32;
        group.bench_function(name, |b| {
            b.iter(|| {
                t = (t + 7.3) % 2000.0;
                clip.sample_into(&table, black_box(t), &mut pose);
                black_box(&pose);
            })
        });
    }
    group.finish();
}

fn bench_retarget(c: &mut Criterion) {
    let r = Retargeter::builtin();
    let capture = parse_livelink_csv(&synthetic_take_csv(), "synthetic", 60.0).expect("parses");
    let opts = ImportOptions::default();
    let mut group = c.benchmark_group("retarget");
    let mut x = vec![0.0; 25];
    let mut i = 0;
    group.bench_function("per_frame", |b| {
        b.iter(|| {
            i = (i + 1) % capture.frames.len();
            black_box(r.retarget_frame(&capture.frames[i], &opts, &mut x));
        })
    });
    group.bench_function("whole_take_121_frames_to_clip", |b| {
        b.iter(|| black_box(r.to_clip(&capture, "take", &opts)))
    });
    group.finish();
}

fn bench_feasibility(c: &mut Criterion) {
    let table = AuTable::builtin();
    let head = HeadConfig::default_head();
    let clip = channel_clip(&table);
    let mut group = c.benchmark_group("feasibility");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    for threads in [1, 2] {
        let opts = FeasibilityOptions {
            threads,
            ..FeasibilityOptions::default()
        };
        group.bench_function(format!("2s_clip_25_channels_{threads}_thread"), |b| {
            b.iter(|| black_box(check_clip(&clip, &table, &head, &opts)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_timeline, bench_retarget, bench_feasibility);
criterion_main!(benches);
