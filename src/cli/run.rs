//! `facetwin run PATHS...`: headless scene runs for CI.
//!
//! Runs every scene (files, folders of `*.ron`, `*` patterns) without a window, prints one line
//! per scene as it finishes and an indented line per failed expectation, then
//! `N passed, M failed`. Exit code 0 when all pass, 1 when a scene fails, 2 when a scene file
//! does not load (its `file:line:column` message is printed) or a report cannot be written.

use facetwin_scene::{LoadedScene, RunOptions, SceneError, SceneResult, Status, report};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Scene files, folders (their `*.ron`) or patterns such as 'scenes/*.ron'.
    #[arg(required = true)]
    pub paths: Vec<String>,
    /// Run this many scenes in parallel (threads).
    #[arg(long, short = 'j', default_value_t = 1)]
    pub jobs: usize,
    /// Run only shard I of N (1-based) of the sorted scene list, e.g. `--shard 2/4`.
    #[arg(long, value_parser = facetwin_scene::parse_shard)]
    pub shard: Option<(usize, usize)>,
    /// Write a JUnit XML report (one test case per expectation).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Write a JSON report.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Pace the simulated head against the wall clock (a serial head always is).
    #[arg(long)]
    pub realtime: bool,
    /// Print only failures and the summary.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Print every expectation's outcome, not only the failures.
    #[arg(long, short = 'v', conflicts_with = "quiet")]
    pub verbose: bool,
}

fn print_result(r: &SceneResult, args: &RunArgs) {
    let mut out = std::io::stdout().lock();
    if args.quiet && r.passed() {
        return;
    }
    let _ = writeln!(out, "{}", r.summary_line());
    if let Some(e) = &r.error {
        let _ = writeln!(out, "    error: {e}");
    }
    for o in &r.outcomes {
        match o.status {
            Status::Fail => {
                let _ = writeln!(out, "    {}: {}", o.label, o.message);
            }
            status if args.verbose || (status == Status::Skipped && !args.quiet) => {
                let _ = writeln!(out, "    [{}] {}: {}", status.as_str(), o.label, o.message);
            }
            _ => {}
        }
    }
    let _ = out.flush();
}

/// Runs the scenes; returns the process exit code.
pub fn run(args: &RunArgs) -> ExitCode {
    let paths = match facetwin_scene::discover(&args.paths) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("facetwin run: {e}");
            return ExitCode::from(2);
        }
    };
    let paths = match args.shard {
        Some((i, n)) => facetwin_scene::shard(paths, i, n),
        None => paths,
    };
    let mut scenes: Vec<LoadedScene> = Vec::new();
    let mut errors: Vec<SceneError> = Vec::new();
    for p in &paths {
        match facetwin_scene::load(p) {
            Ok(s) => scenes.push(s),
            Err(e) => {
                println!("ERROR {e}");
                errors.push(e);
            }
        }
    }
    let options = RunOptions {
        realtime: args.realtime,
        render: false,
    };
    let mut results = run_all(&scenes, &options, args);
    results.sort_by(|a, b| a.path.cmp(&b.path));

    let mut code = 0u8;
    for (file, text) in [
        (&args.report, report::junit_xml(&results, &errors)),
        (&args.json, report::json(&results, &errors)),
    ] {
        if let Some(file) = file
            && let Err(e) = std::fs::write(file, text)
        {
            eprintln!("facetwin run: cannot write {}: {e}", file.display());
            code = 2;
        }
    }
    let passed = results.iter().filter(|r| r.passed()).count();
    let failed = results.len() - passed + errors.len();
    println!("{passed} passed, {failed} failed");
    if !errors.is_empty() {
        code = 2;
    } else if failed > 0 && code == 0 {
        code = 1;
    }
    ExitCode::from(code)
}

/// Runs scenes on `jobs` threads, printing each result as it finishes.
fn run_all(scenes: &[LoadedScene], options: &RunOptions, args: &RunArgs) -> Vec<SceneResult> {
    let jobs = args.jobs.max(1);
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<SceneResult>();
    let mut results = Vec::with_capacity(scenes.len());
    std::thread::scope(|s| {
        for _ in 0..jobs.min(scenes.len()) {
            let tx = tx.clone();
            let next = &next;
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(scene) = scenes.get(i) else { break };
                    if tx.send(facetwin_scene::run(scene, options)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        for r in rx {
            print_result(&r, args);
            results.push(r);
        }
    });
    results
}
