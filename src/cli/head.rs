//! `facetwin head --pty`: the virtual head on a pseudo-terminal.

use anyhow::Context as _;
use facetwin_head::VirtualHead;
use facetwin_link::pty::{PtyOptions, serve_pty};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, clap::Args)]
pub struct HeadArgs {
    /// Serve on a new pseudo-terminal (the only transport for now; required for clarity).
    #[arg(long)]
    pub pty: bool,
    /// Throttle output to a UART at this baud rate (8N1), so timing matches the real head.
    #[arg(long)]
    pub baud: Option<u32>,
    /// Stable symlink to the device path.
    #[arg(long, default_value = "/tmp/facetwin-head")]
    pub link: PathBuf,
    /// Head description (RON); the built-in 25-channel head by default.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Stop after this many seconds (default: run until interrupted with Ctrl-C).
    #[arg(long)]
    pub seconds: Option<f64>,
}

pub fn run(args: &HeadArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.pty, "say where to serve the head: --pty");
    let config = super::head_config(args.config.as_deref())?;
    let channels = config.channels.len();
    let name = config.name.clone();
    let head = VirtualHead::new(config);
    let stop = Arc::new(AtomicBool::new(false));
    if let Some(s) = args.seconds {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs_f64(s));
            stop.store(true, Ordering::Relaxed);
        });
    }
    let options = PtyOptions {
        baud: args.baud,
        link: Some(args.link.clone()),
    };
    let link = args.link.display().to_string();
    let summary = serve_pty(head, &options, &stop, |path| {
        println!("{path}");
        eprintln!(
            "virtual head '{name}' ({channels} channels) on {path} (stable link: {link}){}",
            args.baud
                .map(|b| format!(", throttled to {b} baud"))
                .unwrap_or_default()
        );
    })
    .context("serving the virtual head")?;
    eprintln!(
        "virtual head stopped after {:.1} s: {} bytes in, {} bytes out",
        summary.seconds, summary.bytes_in, summary.bytes_out
    );
    Ok(())
}
