use facetwin_rig::generate::head_sdf;
fn front_z(x: f32, y: f32) -> Option<f32> {
    let mut z = 0.2f32;
    while z > -0.15 {
        if head_sdf([x, y, z]) < 0.0 { return Some(z); }
        z -= 0.0002;
    }
    None
}
#[test]
fn print_profile() {
    for x in [0.0f32, 0.015, 0.03] {
        println!("x = {x}");
        let mut y = 0.12f32;
        while y > -0.13 {
            println!("  y {:+.3}  z {:?}", y, front_z(x, y).map(|z| (z * 1000.0).round() / 1000.0));
            y -= 0.005;
        }
    }
}
