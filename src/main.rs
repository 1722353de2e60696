//! facetwin: digital twin and simulator for expressive robot faces.
//!
//! With no subcommand it opens the twin (the Bevy app) on the default face and the simulated
//! head. The subcommands are the engineer's tools around the same crates.

use facetwin::{app, cli};

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "facetwin",
    version,
    about = "Digital twin and simulator for expressive robot faces"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    twin: app::TwinArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Open the twin (the default when no subcommand is given).
    Twin(app::TwinArgs),
    /// Run a virtual head that behaves like the real head's firmware.
    Head(cli::head::HeadArgs),
    /// List serial ports, with USB vendor/product/serial where the OS knows them.
    Ports,
    /// Handshake with a head, print what it reports, stream telemetry, print link statistics.
    Probe(cli::probe::ProbeArgs),
    /// Print a table of the core figures (frame sizes, codec throughput, motor model speed,
    /// closed loop over a pseudo-terminal, deformation cost).
    Bench(cli::bench::BenchArgs),
    /// Render the face offscreen to a PNG.
    Shot(app::shot::ShotArgs),
    /// Run scene files headless (CI): steps, expectations, JUnit/JSON reports. Exit code 1 when
    /// an expectation fails, 2 when a scene file is bad.
    Run(cli::run::RunArgs),
    /// Import a face capture as a clip: `facetwin import livelink TAKE.csv -o clip.ron`.
    Import(cli::import::ImportArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => app::run_twin(cli.twin),
        Some(Command::Twin(args)) => app::run_twin(args),
        Some(Command::Head(args)) => cli::head::run(&args),
        Some(Command::Ports) => cli::ports(),
        Some(Command::Probe(args)) => cli::probe::run(&args),
        Some(Command::Bench(args)) => cli::bench::run(&args),
        Some(Command::Shot(args)) => app::shot::run(args),
        Some(Command::Run(args)) => return cli::run::run(&args),
        Some(Command::Import(args)) => cli::import::run(&args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The chain, without repeating a cause its error already quotes.
            let mut message = e.to_string();
            for cause in e.chain().skip(1) {
                let cause = cause.to_string();
                if !message.contains(&cause) {
                    message.push_str(": ");
                    message.push_str(&cause);
                }
            }
            eprintln!("facetwin: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
