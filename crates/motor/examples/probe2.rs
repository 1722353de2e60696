use facetwin_motor::*;
fn main() {
    let p = ChannelParams::default();
    let dt = 1e-4;
    let mut ch = Channel::new(&p, 1);
    ch.set_torque(true);
    ch.set_target(0.45, 0.0);
    ch.run(0.5, dt);
    for c in 0..120 {
        let t = c as f64 * 0.01;
        let tgt = 0.45 + 0.25 * (std::f64::consts::TAU * 2.0 * t).sin();
        ch.set_target(tgt as f32, 0.01);
        for _ in 0..100 {
            ch.step(dt);
        }
        let s = ch.state();
        let want = 0.45 + 0.25 * (std::f64::consts::TAU * 2.0 * t).sin();
        if c % 3 == 0 {
            println!(
                "t={:.2} want={:.4} sp={:.4} meas={:.4} err={:.4} i={:.3} v={:.2} f={}",
                t + 0.01,
                want,
                s.setpoint_norm,
                s.position_norm,
                s.position_norm as f64 - want,
                s.current_a,
                s.velocity_norm_s,
                s.faults
            );
        }
    }
}
