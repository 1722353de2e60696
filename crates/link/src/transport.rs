//! Byte transports: a serial port (real head or pseudo-terminal) and the in-process virtual head.

use facetwin_head::VirtualHead;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// Why a transport failed. A transport that returned `Disconnected` is dead; open a new one.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("cannot open {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("{0}: disconnected")]
    Disconnected(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("handshake with {0} failed: {1}")]
    Handshake(String, String),
}

/// Something bytes go through. `read` waits at most a short time and returns 0 when nothing came.
pub trait Transport: Send {
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError>;
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, LinkError>;
    /// How long the next `read` may wait for bytes (at most; the session shortens it so a
    /// wait never runs past its next command tick). Transports that don't block ignore it.
    fn set_read_wait(&mut self, _wait: Duration) {}
    /// Human-readable name ("/dev/ttyUSB0 @ 1000000", "virtual head").
    fn describe(&self) -> String;
}

/// A read or write that merely timed out or was interrupted: try again, the line is fine.
pub(crate) fn is_transient(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{Interrupted, TimedOut, WouldBlock};
    matches!(e.kind(), TimedOut | WouldBlock | Interrupted)
}

/// A serial port through the `serialport` crate; pseudo-terminals go through the same code.
pub struct SerialTransport {
    port: Box<dyn serialport::SerialPort>,
    name: String,
    read_wait: Duration,
}

/// The longest a serial read waits (and what each write waits for room in the buffer, per try).
pub const SERIAL_WAIT: Duration = Duration::from_millis(1);

impl std::fmt::Debug for SerialTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SerialTransport")
            .field("name", &self.name)
            .finish()
    }
}

impl SerialTransport {
    /// Opens `path` at `baud`, 8N1, no flow control, with a [`SERIAL_WAIT`] read timeout.
    pub fn open(path: &str, baud: u32) -> Result<Self, LinkError> {
        let open_error = |e: serialport::Error| LinkError::Open {
            path: path.into(),
            reason: e.to_string(),
        };
        let mut port = serialport::new(path, baud)
            .timeout(SERIAL_WAIT)
            .data_bits(serialport::DataBits::Eight)
            .parity(serialport::Parity::None)
            .stop_bits(serialport::StopBits::One)
            .flow_control(serialport::FlowControl::None)
            .open_native()
            .map_err(open_error)?;
        // A real port is held exclusively. A pseudo-terminal's server keeps the slave open
        // between hosts, so an exclusive flag left on it would outlive this host and lock the
        // next (non-root) one out: open those shared.
        let is_pty = std::fs::canonicalize(path).is_ok_and(|p| p.starts_with("/dev/pts"));
        if is_pty {
            port.set_exclusive(false).map_err(open_error)?;
        }
        let port: Box<dyn serialport::SerialPort> = Box::new(port);
        // Drop whatever an earlier session left in the buffers.
        let _ = port.clear(serialport::ClearBuffer::All);
        Ok(Self {
            port,
            name: format!("{path} @ {baud}"),
            read_wait: SERIAL_WAIT,
        })
    }
}

fn io_error(name: &str, e: std::io::Error) -> LinkError {
    use std::io::ErrorKind::*;
    match e.kind() {
        // EIO is what a pseudo-terminal whose other end closed (or an unplugged USB adapter) gives.
        BrokenPipe | ConnectionReset | ConnectionAborted | NotConnected | UnexpectedEof => {
            LinkError::Disconnected(name.into())
        }
        _ if e.raw_os_error() == Some(5) || e.raw_os_error() == Some(19) => {
            LinkError::Disconnected(name.into())
        }
        _ => LinkError::Io {
            what: name.into(),
            source: e,
        },
    }
}

impl Transport for SerialTransport {
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        let mut rest = bytes;
        let deadline = Instant::now() + Duration::from_millis(100);
        // `serialport` keeps one timeout for both ways; it only stores it (no system call).
        let _ = self.port.set_timeout(SERIAL_WAIT);
        while !rest.is_empty() {
            match self.port.write(rest) {
                Ok(0) => return Err(LinkError::Disconnected(self.name.clone())),
                Ok(n) => rest = &rest[n..],
                Err(e)
                    if e.kind() == std::io::ErrorKind::TimedOut
                        || e.kind() == std::io::ErrorKind::WouldBlock =>
                {
                    if Instant::now() > deadline {
                        return Err(LinkError::Io {
                            what: self.name.clone(),
                            source: e,
                        });
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error(&self.name, e)),
            }
        }
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, LinkError> {
        let _ = self.port.set_timeout(self.read_wait);
        match self.port.read(buf) {
            Ok(0) => Err(LinkError::Disconnected(self.name.clone())),
            Ok(n) => Ok(n),
            Err(e) if is_transient(&e) => Ok(0),
            Err(e) => Err(io_error(&self.name, e)),
        }
    }

    fn set_read_wait(&mut self, wait: Duration) {
        self.read_wait = wait.min(SERIAL_WAIT);
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

/// The in-process virtual head as a transport, in real time: each call advances the head by the
/// wall time since the previous call.
#[derive(Debug)]
pub struct VirtualTransport {
    head: VirtualHead,
    last: Instant,
    pending: Vec<u8>,
}

impl VirtualTransport {
    pub fn new(head: VirtualHead) -> Self {
        Self {
            head,
            last: Instant::now(),
            pending: Vec::new(),
        }
    }

    pub fn head(&self) -> &VirtualHead {
        &self.head
    }

    pub fn head_mut(&mut self) -> &mut VirtualHead {
        &mut self.head
    }

    fn catch_up(&mut self) {
        let now = Instant::now();
        // Cap one catch-up at 100 ms so a stalled caller does not make the head run for seconds.
        let dt = now.duration_since(self.last).as_secs_f64().min(0.1);
        self.last = now;
        self.head.advance(dt);
        self.head.drain_output_into(&mut self.pending);
    }
}

impl Transport for VirtualTransport {
    fn write_all(&mut self, bytes: &[u8]) -> Result<(), LinkError> {
        self.catch_up();
        self.head.receive(bytes);
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, LinkError> {
        self.catch_up();
        if self.pending.is_empty() {
            // Behave like a serial read with a short timeout instead of spinning.
            std::thread::sleep(Duration::from_micros(200));
            self.catch_up();
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }

    fn describe(&self) -> String {
        format!("virtual head ({})", self.head.config().name)
    }
}

/// Serial ports the OS knows, with USB identity where available.
pub fn list_ports() -> Result<Vec<serialport::SerialPortInfo>, LinkError> {
    serialport::available_ports().map_err(|e| LinkError::Open {
        path: "(port enumeration)".into(),
        reason: e.to_string(),
    })
}

/// One line per port: path and, for USB, vendor/product ids, serial number, names.
pub fn describe_port(info: &serialport::SerialPortInfo) -> String {
    match &info.port_type {
        serialport::SerialPortType::UsbPort(usb) => format!(
            "{}  usb {:04x}:{:04x} serial={} {} {}",
            info.port_name,
            usb.vid,
            usb.pid,
            usb.serial_number.as_deref().unwrap_or("-"),
            usb.manufacturer.as_deref().unwrap_or(""),
            usb.product.as_deref().unwrap_or("")
        ),
        serialport::SerialPortType::PciPort => format!("{}  pci", info.port_name),
        serialport::SerialPortType::BluetoothPort => format!("{}  bluetooth", info.port_name),
        serialport::SerialPortType::Unknown => format!("{}  unknown", info.port_name),
    }
}
