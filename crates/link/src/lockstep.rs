//! The virtual head as a transport in *virtual* time: nothing moves unless the caller advances
//! it. Headless runs use this for deterministic, faster-than-real-time simulation.

use crate::transport::{LinkError, Transport};
use facetwin_head::VirtualHead;
use std::sync::{Arc, Mutex, MutexGuard};

/// A handle to a virtual head shared between the transport (host side) and the runner that
/// advances time and injects faults.
#[derive(Debug, Clone)]
pub struct SharedHead(Arc<Mutex<HeadPipe>>);

#[derive(Debug)]
pub struct HeadPipe {
    pub head: VirtualHead,
    /// Head → host bytes not yet read by the host.
    pub to_host: Vec<u8>,
    /// While false the pipe behaves like an unplugged cable.
    pub plugged: bool,
    /// Corrupt this fraction of bytes in both directions (deterministic LCG).
    pub corrupt_fraction: f64,
    rng: u64,
    pub corrupted_bytes: u64,
    /// The head's output of one step (reused: a lockstep run steps every millisecond).
    scratch: Vec<u8>,
}

impl SharedHead {
    pub fn new(head: VirtualHead) -> Self {
        Self(Arc::new(Mutex::new(HeadPipe {
            head,
            to_host: Vec::new(),
            plugged: true,
            corrupt_fraction: 0.0,
            rng: 0x9E37_79B9_7F4A_7C15,
            corrupted_bytes: 0,
            scratch: Vec::new(),
        })))
    }

    pub fn lock(&self) -> MutexGuard<'_, HeadPipe> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Advances the head's simulated time and collects its output.
    pub fn advance(&self, dt_s: f64) {
        let mut p = self.lock();
        let p = &mut *p;
        p.head.advance(dt_s);
        let mut out = std::mem::take(&mut p.scratch);
        out.clear();
        p.head.drain_output_into(&mut out);
        p.corrupt(&mut out);
        if p.plugged {
            p.to_host.extend_from_slice(&out);
        }
        p.scratch = out;
    }

    /// A transport for the host side of this pipe.
    pub fn transport(&self) -> LockstepTransport {
        LockstepTransport { pipe: self.clone() }
    }
}

impl HeadPipe {
    fn corrupt(&mut self, bytes: &mut [u8]) {
        if self.corrupt_fraction <= 0.0 {
            return;
        }
        for b in bytes {
            self.rng = self
                .rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let r = (self.rng >> 11) as f64 / (1u64 << 53) as f64;
            if r < self.corrupt_fraction {
                let x = ((self.rng >> 3) as u8) | 1;
                *b ^= x;
                self.corrupted_bytes += 1;
            }
        }
    }
}

/// Host side of a [`SharedHead`].
#[derive(Debug)]
pub struct LockstepTransport {
    pipe: SharedHead,
}

impl Transport for LockstepTransport {
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        let mut p = self.pipe.lock();
        if !p.plugged {
            return Err(LinkError::Disconnected("virtual head (unplugged)".into()));
        }
        let mut b = bytes.to_vec();
        p.corrupt(&mut b);
        p.head.receive(&b);
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, LinkError> {
        let mut p = self.pipe.lock();
        if !p.plugged {
            return Err(LinkError::Disconnected("virtual head (unplugged)".into()));
        }
        let n = buf.len().min(p.to_host.len());
        buf[..n].copy_from_slice(&p.to_host[..n]);
        p.to_host.drain(..n);
        Ok(n)
    }

    fn describe(&self) -> String {
        "virtual head (lockstep)".into()
    }
}
