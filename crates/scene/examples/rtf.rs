//! Temporary: release timing of the shipped scenes through the library.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    for p in facetwin_scene::discover(&args).unwrap_or_default() {
        let motor = facetwin_motor::realtime_factor(25, 1.0);
        match facetwin_scene::load(&p) {
            Ok(s) => {
                let r = facetwin_scene::run(&s, &facetwin_scene::RunOptions::default());
                println!("{}   [bare 25-channel motor bank just before: {motor:.0}x]", r.summary_line());
            }
            Err(e) => println!("{e}"),
        }
    }
}
