//! 25 channels x 1 simulated second at 10 kHz.
//!
//! `CARGO_TARGET_DIR=/work/target-motor cargo bench -p facetwin-motor`
//! Goal: >= 50x real time on one core (25 x 10k ticks in < 20 ms).

use criterion::{Criterion, criterion_group};
use facetwin_motor::{ChannelParams, MotorBank, realtime_factor};
use std::hint::black_box;
use std::time::Duration;

const CHANNELS: usize = 25;
const DT: f64 = 1e-4;

/// One simulated second of a 25-channel head tracking 100 Hz target streams.
fn one_second(bank: &mut MotorBank) {
    for c in 0..100 {
        let t = c as f64 * 0.01;
        for (i, ch) in bank.channels_mut().iter_mut().enumerate() {
            let target = 0.4 + 0.3 * (std::f64::consts::TAU * t + i as f64 * 0.7).sin();
            ch.set_target(target as f32, 0.01);
        }
        bank.run(0.01, DT);
    }
}

fn bench_bank(c: &mut Criterion) {
    let params = vec![ChannelParams::default(); CHANNELS];
    let mut group = c.benchmark_group("motor_bank");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("25ch_1s_10kHz", |b| {
        b.iter_batched_ref(
            || {
                let mut bank = MotorBank::new(&params, 1);
                for ch in bank.channels_mut() {
                    ch.set_torque(true);
                }
                bank
            },
            |bank| {
                one_second(bank);
                black_box(bank.channels()[0].state());
            },
            criterion::BatchSize::LargeInput,
        );
    });
    group.bench_function("1ch_step", |b| {
        let mut bank = MotorBank::new(&params[..1], 1);
        bank.channels_mut()[0].set_torque(true);
        let mut k = 0u64;
        b.iter(|| {
            k += 1;
            let ch = &mut bank.channels_mut()[0];
            if k.is_multiple_of(100) {
                let t = k as f64 * DT;
                ch.set_target((0.4 + 0.3 * (std::f64::consts::TAU * t).sin()) as f32, 0.01);
            }
            ch.step(black_box(DT));
        });
    });
    group.finish();
}

criterion_group!(benches, bench_bank);

fn main() {
    // Warm up, then report the figure `facetwin bench` prints.
    let _ = realtime_factor(CHANNELS, 0.2);
    let runs: Vec<f64> = (0..5).map(|_| realtime_factor(CHANNELS, 1.0)).collect();
    let best = runs.iter().copied().fold(0.0, f64::max);
    let mut sorted = runs.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "realtime_factor({CHANNELS} channels, 1 s at 10 kHz): best {best:.1}x, median {:.1}x \
         (simulated seconds per wall second, one thread; goal >= 50x)",
        sorted[sorted.len() / 2]
    );
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
