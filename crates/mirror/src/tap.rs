//! A transport wrapper that sees every frame the host sends and receives.
//!
//! [`facetwin_link::HostCore`] does not publish the frames it writes, so the mirror taps the
//! byte stream instead: wrap the transport inside the session's connector with
//! [`Tap::wrap`], and drain [`Tap::drain`] from wherever the recorder / shadow / calibrator
//! live. Both directions are decoded with the protocol's own streaming [`Decoder`], so what the
//! tap reports is exactly what went over the wire (frames the decoder drops are counted, not
//! reported).
//!
//! ```
//! use facetwin_head::{HeadConfig, VirtualHead};
//! use facetwin_link::{HostConfig, HostCore, SharedHead, Transport};
//! use facetwin_mirror::tap::Tap;
//! let shared = SharedHead::new(VirtualHead::new(HeadConfig::default_head()));
//! let tap = Tap::manual();
//! let (s, t) = (shared.clone(), tap.clone());
//! let core = HostCore::new(
//!     Box::new(move || Ok(Box::new(t.wrap(Box::new(s.transport()))) as Box<dyn Transport>)),
//!     HostConfig::default(),
//! );
//! # drop(core);
//! ```

use facetwin_link::{LinkError, Transport};
use facetwin_protocol::{Decoder, Message};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Which way a frame went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Host → head (commands).
    ToHead,
    /// Head → host (telemetry, acks, fault events, ...).
    FromHead,
}

/// One decoded frame seen by the tap.
#[derive(Debug, Clone, PartialEq)]
pub struct TappedFrame {
    /// When the tap saw it, on the tap's clock.
    pub t: Duration,
    pub direction: Direction,
    pub seq: u8,
    pub message: Message,
}

impl TappedFrame {
    /// [`Self::t`] in nanoseconds (what the recorder takes).
    pub fn t_ns(&self) -> u64 {
        duration_ns(self.t)
    }
}

pub(crate) fn duration_ns(t: Duration) -> u64 {
    u64::try_from(t.as_nanos()).unwrap_or(u64::MAX)
}

#[derive(Debug)]
enum Clock {
    Monotonic(Instant),
    Manual(AtomicU64),
}

#[derive(Debug)]
struct TapState {
    frames: VecDeque<TappedFrame>,
    capacity: usize,
    dropped: u64,
    decode_errors: u64,
}

#[derive(Debug)]
struct TapShared {
    clock: Clock,
    state: Mutex<TapState>,
}

/// The collecting end of a tap; cheap to clone, shareable between threads.
#[derive(Debug, Clone)]
pub struct Tap(Arc<TapShared>);

/// Default number of undrained frames kept before the oldest are dropped.
pub const DEFAULT_TAP_CAPACITY: usize = 1 << 16;

impl Default for Tap {
    fn default() -> Self {
        Self::new()
    }
}

impl Tap {
    /// A tap stamping frames with a monotonic clock started now (for real-time sessions).
    pub fn new() -> Self {
        Self::with_clock(Clock::Monotonic(Instant::now()))
    }

    /// A tap stamping frames with a clock the caller sets ([`Tap::set_now`]): virtual time.
    pub fn manual() -> Self {
        Self::with_clock(Clock::Manual(AtomicU64::new(0)))
    }

    fn with_clock(clock: Clock) -> Self {
        Self(Arc::new(TapShared {
            clock,
            state: Mutex::new(TapState {
                frames: VecDeque::new(),
                capacity: DEFAULT_TAP_CAPACITY,
                dropped: 0,
                decode_errors: 0,
            }),
        }))
    }

    /// Sets the time of a [`Tap::manual`] tap (ignored by a monotonic one).
    pub fn set_now(&self, now: Duration) {
        if let Clock::Manual(t) = &self.0.clock {
            t.store(duration_ns(now), Ordering::Relaxed);
        }
    }

    /// The tap's current time.
    pub fn now(&self) -> Duration {
        match &self.0.clock {
            Clock::Monotonic(start) => start.elapsed(),
            Clock::Manual(t) => Duration::from_nanos(t.load(Ordering::Relaxed)),
        }
    }

    /// Keeps at most `capacity` undrained frames (the oldest are dropped and counted).
    pub fn set_capacity(&self, capacity: usize) {
        self.lock().capacity = capacity.max(1);
    }

    fn lock(&self) -> MutexGuard<'_, TapState> {
        self.0
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Wraps a transport: everything written and read through it is decoded and collected.
    pub fn wrap(&self, inner: Box<dyn Transport>) -> TapTransport {
        TapTransport {
            inner,
            tap: self.clone(),
            to_head: Decoder::new(),
            from_head: Decoder::new(),
        }
    }

    /// Takes every frame collected so far, oldest first.
    pub fn drain(&self) -> Vec<TappedFrame> {
        self.lock().frames.drain(..).collect()
    }

    /// Frames dropped because nobody drained the tap in time.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    /// Frames (either way) that failed to decode.
    pub fn decode_errors(&self) -> u64 {
        self.lock().decode_errors
    }

    fn collect(&self, direction: Direction, decoder: &mut Decoder, bytes: &[u8]) {
        let t = self.now();
        let mut s = self.lock();
        decoder.feed(bytes, |r| match r {
            Ok(frame) => {
                if s.frames.len() >= s.capacity {
                    s.frames.pop_front();
                    s.dropped += 1;
                }
                s.frames.push_back(TappedFrame {
                    t,
                    direction,
                    seq: frame.seq,
                    message: frame.message,
                });
            }
            Err(_) => s.decode_errors += 1,
        });
    }
}

/// A [`Transport`] that forwards to another and reports every frame to its [`Tap`].
pub struct TapTransport {
    inner: Box<dyn Transport>,
    tap: Tap,
    to_head: Decoder,
    from_head: Decoder,
}

impl std::fmt::Debug for TapTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TapTransport")
            .field("inner", &self.inner.describe())
            .finish_non_exhaustive()
    }
}

impl Transport for TapTransport {
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.inner.write_all(bytes)?;
        self.tap
            .collect(Direction::ToHead, &mut self.to_head, bytes);
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, LinkError> {
        let n = self.inner.read(buf)?;
        if let Some(got) = buf.get(..n) {
            self.tap
                .collect(Direction::FromHead, &mut self.from_head, got);
        }
        Ok(n)
    }

    fn set_read_wait(&mut self, wait: std::time::Duration) {
        self.inner.set_read_wait(wait);
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// Remembers the read wait it was given.
    struct Probe(Arc<Mutex<Option<Duration>>>);

    impl Transport for Probe {
        fn write_all(&mut self, _: &[u8]) -> Result<(), LinkError> {
            Ok(())
        }
        fn read(&mut self, _: &mut [u8]) -> Result<usize, LinkError> {
            Ok(0)
        }
        fn set_read_wait(&mut self, wait: Duration) {
            *self.0.lock().expect("probe") = Some(wait);
        }
        fn describe(&self) -> String {
            "probe".into()
        }
    }

    #[test]
    fn the_tap_passes_the_read_wait_through() {
        // The session shortens reads to its next command tick; a wrapper that swallowed it
        // would cap a 1 kHz stream below its rate.
        let seen = Arc::new(Mutex::new(None));
        let mut t = Tap::new().wrap(Box::new(Probe(seen.clone())));
        t.set_read_wait(Duration::from_micros(250));
        assert_eq!(
            *seen.lock().expect("probe"),
            Some(Duration::from_micros(250))
        );
        assert_eq!(t.describe(), "probe");
    }
}
