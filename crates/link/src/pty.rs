//! The virtual head behind a pseudo-terminal, in real time: any serial program opens the slave
//! path exactly as it opens the real head's port.

use crate::transport::LinkError;
use facetwin_head::VirtualHead;
use serialport::{SerialPort, TTYPort};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Options for [`serve_pty`].
#[derive(Debug, Clone, Default)]
pub struct PtyOptions {
    /// Throttle the head's output to what a UART at this baud rate (8N1) could carry.
    pub baud: Option<u32>,
    /// A stable symlink to the slave device (replaced if it exists).
    pub link: Option<PathBuf>,
}

/// What the server did, for its exit summary.
#[derive(Debug, Clone, Copy, Default)]
pub struct PtySummary {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub seconds: f64,
}

/// A pseudo-terminal pair with the head on the master side.
#[derive(Debug)]
pub struct PtyHead {
    master: TTYPort,
    /// Held open so the master never sees "no slave" while hosts come and go.
    slave: TTYPort,
    slave_path: String,
    link: Option<PathBuf>,
}

impl PtyHead {
    pub fn open(link: Option<&Path>) -> Result<Self, LinkError> {
        let (mut master, slave) = TTYPort::pair().map_err(|e| LinkError::Open {
            path: "pseudo-terminal".into(),
            reason: e.to_string(),
        })?;
        let slave_path = slave.name().unwrap_or_default();
        master
            .set_timeout(Duration::from_millis(1))
            .map_err(|e| LinkError::Open {
                path: slave_path.clone(),
                reason: e.to_string(),
            })?;
        if let Some(link) = link {
            let _ = std::fs::remove_file(link);
            std::os::unix::fs::symlink(&slave_path, link).map_err(|e| LinkError::Open {
                path: link.display().to_string(),
                reason: format!("cannot create symlink: {e}"),
            })?;
        }
        Ok(Self {
            master,
            slave,
            slave_path,
            link: link.map(Path::to_path_buf),
        })
    }

    /// The device path a host opens (e.g. `/dev/pts/3`).
    pub fn slave_path(&self) -> &str {
        &self.slave_path
    }

    /// Runs `head` in real time until `stop` is set. Returns what went through.
    pub fn serve(
        &mut self,
        head: &mut VirtualHead,
        options: &PtyOptions,
        stop: &AtomicBool,
    ) -> Result<PtySummary, LinkError> {
        let start = Instant::now();
        let mut last = start;
        let mut last_input = start;
        let mut pending: Vec<u8> = Vec::new();
        let mut budget = 0.0f64;
        let mut buf = [0u8; 4096];
        let mut summary = PtySummary::default();
        while !stop.load(Ordering::Relaxed) {
            match self.master.read(&mut buf) {
                Ok(n) if n > 0 => {
                    summary.bytes_in += n as u64;
                    last_input = Instant::now();
                    head.receive(&buf[..n]);
                }
                Ok(_) => {}
                Err(e) if crate::transport::is_transient(&e) => {}
                Err(e) => {
                    return Err(LinkError::Io {
                        what: self.slave_path.clone(),
                        source: e,
                    });
                }
            }
            let now = Instant::now();
            let dt = now.duration_since(last).as_secs_f64();
            last = now;
            head.advance(dt.min(0.1));
            head.drain_output_into(&mut pending);
            let n = match options.baud {
                Some(baud) => {
                    // 8N1: ten bit times per byte.
                    budget = (budget + dt * f64::from(baud) / 10.0).min(f64::from(baud) / 100.0);
                    let n = (budget as usize).min(pending.len());
                    budget -= n as f64;
                    n
                }
                None => pending.len(),
            };
            if n > 0 {
                match self.master.write(&pending[..n]) {
                    Ok(w) => {
                        summary.bytes_out += w as u64;
                        pending.drain(..w);
                    }
                    Err(e) if crate::transport::is_transient(&e) => {}
                    Err(e) => {
                        return Err(LinkError::Io {
                            what: self.slave_path.clone(),
                            source: e,
                        });
                    }
                }
            }
            // Nobody reading: don't let telemetry pile up into a stale backlog for the next host;
            // keep only the newest frames (cut at a frame delimiter).
            if pending.len() > 2048 {
                let keep_from = pending.len() - 1024;
                let cut = pending[keep_from..]
                    .iter()
                    .position(|&b| b == 0)
                    .map_or(pending.len(), |p| keep_from + p + 1);
                pending.drain(..cut);
            }
            if now.duration_since(last_input) > Duration::from_millis(300) {
                // Nobody talking: drop what the kernel holds for a reader that has gone.
                let _ = self.slave.clear(serialport::ClearBuffer::Output);
                last_input = now;
            }
        }
        summary.seconds = start.elapsed().as_secs_f64();
        Ok(summary)
    }
}

impl Drop for PtyHead {
    fn drop(&mut self) {
        if let Some(link) = &self.link {
            // Only remove the link if it still points at our device.
            if std::fs::read_link(link).is_ok_and(|p| p == Path::new(&self.slave_path)) {
                let _ = std::fs::remove_file(link);
            }
        }
    }
}

/// Opens a pseudo-terminal, calls `ready` with the slave path, and serves `head` until `stop`.
pub fn serve_pty(
    mut head: VirtualHead,
    options: &PtyOptions,
    stop: &AtomicBool,
    ready: impl FnOnce(&str),
) -> Result<PtySummary, LinkError> {
    let mut pty = PtyHead::open(options.link.as_deref())?;
    ready(pty.slave_path());
    pty.serve(&mut head, options, stop)
}
