use facetwin_rig::generate::{default_landmarks, head_sdf};
#[test]
fn landmarks() {
    let lm = default_landmarks();
    for (n, p) in &lm.points {
        println!(
            "{n:16} [{:+.4}, {:+.4}, {:+.4}]  sdf {:+.5}",
            p[0],
            p[1],
            p[2],
            head_sdf(*p)
        );
    }
}
