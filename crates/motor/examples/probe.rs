use facetwin_motor::*;
fn main() {
    let p = ChannelParams::default();
    let dt = 1e-4;
    // 1 step response
    let mut ch = Channel::new(&p, 1);
    ch.set_torque(true);
    ch.run(0.2, dt);
    println!("hold at 0: {:?}", ch.state());
    ch.set_target(0.6, 0.0);
    let mut maxv: f32 = 0.0;
    let mut maxi: f32 = 0.0;
    let mut maxp: f32 = 0.0;
    for k in 0..8000 {
        ch.step(dt);
        let s = ch.state();
        maxv = maxv.max(s.true_velocity_norm_s.abs());
        maxi = maxi.max(s.current_a.abs());
        maxp = maxp.max(s.true_position_norm);
        if k % 250 == 0 {
            println!(
                "t={:.3} sp={:.4} meas={:.4} true={:.4} v={:.3} tv={:.3} i={:.4} V={:.2} T={:.2}N f={}",
                k as f64 * dt,
                s.setpoint_norm,
                s.position_norm,
                s.true_position_norm,
                s.velocity_norm_s,
                s.true_velocity_norm_s,
                s.current_a,
                s.voltage_v,
                s.tension_n,
                s.faults
            );
        }
    }
    println!("step: maxv {maxv} maxi {maxi} maxp {maxp}");
    // 2 relax from 0.8
    let mut ch = Channel::new(&p, 1);
    ch.set_torque(true);
    ch.set_target(0.8, 0.0);
    ch.run(1.0, dt);
    println!("at 0.8: {:?}", ch.state());
    ch.set_torque(false);
    let mut tin = None;
    for k in 0..6000 {
        ch.step(dt);
        let s = ch.state();
        if tin.is_none() && s.position_norm.abs() < 0.05 && s.true_position_norm.abs() < 0.05 {
            tin = Some(k as f64 * dt)
        }
        if k % 500 == 0 {
            println!(
                "relax t={:.3} meas={:.4} true={:.4} tv={:.3} T={:.2}",
                k as f64 * dt,
                s.position_norm,
                s.true_position_norm,
                s.true_velocity_norm_s,
                s.tension_n
            )
        }
    }
    println!("relax within at {:?}, final {:?}", tin, ch.state());
    // 3 sine
    let mut ch = Channel::new(&p, 1);
    ch.set_torque(true);
    ch.set_target(0.45, 0.0);
    ch.run(0.5, dt);
    let mut sps = vec![];
    let mut maxerr: f64 = 0.0;
    let mut maxerr_true: f64 = 0.0;
    for c in 0..300 {
        let t = c as f64 * 0.01;
        let tgt = 0.45 + 0.25 * (std::f64::consts::TAU * 2.0 * t).sin();
        ch.set_target(tgt as f32, 0.01);
        for j in 0..100 {
            ch.step(dt);
            let s = ch.state();
            sps.push(s.setpoint_norm as f64);
            let tt = t + (j + 1) as f64 * dt - 0.01;
            let want = 0.45 + 0.25 * (std::f64::consts::TAU * 2.0 * tt).sin();
            if c > 50 {
                maxerr = maxerr.max((s.position_norm as f64 - want).abs());
                maxerr_true = maxerr_true.max((s.true_position_norm as f64 - want).abs());
            }
        }
    }
    let mut d2: f64 = 0.0;
    for w in sps.windows(3).skip(5000) {
        d2 = d2.max((w[2] - 2.0 * w[1] + w[0]).abs());
    }
    println!(
        "sine: maxerr {maxerr:.4} true {maxerr_true:.4} max d2 {d2:e} faults {}",
        ch.state().faults
    );
    // 4 jam
    let mut ch = Channel::new(&p, 1);
    ch.set_torque(true);
    ch.set_target(0.5, 0.0);
    ch.run(1.0, dt);
    ch.inject(Fault::Jam);
    ch.set_target(0.9, 0.0);
    for k in 0..3000 {
        ch.step(dt);
        let s = ch.state();
        if s.faults.contains(FaultFlags::STALL) {
            println!("STALL at {:.4} s, faults {}", k as f64 * dt, s.faults);
            break;
        }
        if k % 200 == 0 {
            println!(
                "jam t={:.3} i={:.4} v={:.3} sp={:.3} meas={:.4}",
                k as f64 * dt,
                s.current_a,
                s.velocity_norm_s,
                s.setpoint_norm,
                s.position_norm
            )
        }
    }
    // 5 torn
    let mut ch = Channel::new(&p, 1);
    ch.set_torque(true);
    ch.set_target(0.6, 0.0);
    ch.run(1.0, dt);
    let normal = ch.state();
    let mut ch2 = Channel::new(&p, 1);
    ch2.inject(Fault::TornTendon);
    ch2.set_torque(true);
    ch2.set_target(0.6, 0.0);
    ch2.run(1.0, dt);
    println!("normal {:?}\ntorn {:?}", normal, ch2.state());
    // 6 overheat
    let mut ch = Channel::new(&p, 1);
    ch.set_torque(true);
    ch.set_target(0.9, 0.0);
    ch.run(1.0, dt);
    ch.inject(Fault::Overheat);
    let mut k = 0;
    while !ch.state().faults.contains(FaultFlags::OVERHEAT) && k < 1000 {
        ch.run(0.1, dt);
        k += 1;
    }
    println!("overheat after {:.1}s: {:?}", k as f64 * 0.1, ch.state());
    ch.clear_injected(Fault::Overheat);
    let mut k = 0;
    while ch.state().winding_temp_c >= 60.0 && k < 1000 {
        ch.run(0.1, dt);
        k += 1;
    }
    println!("cooled after {:.1}s", k as f64 * 0.1);
    // perf
    println!("rtf 25ch: {:.1}", realtime_factor(25, 1.0));
}
