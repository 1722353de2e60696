//! Session recorder: commands, telemetry, other head messages and events to MCAP, crash-safely.
//!
//! # Topics
//!
//! | topic | message encoding | content |
//! |---|---|---|
//! | [`COMMANDS_TOPIC`] `/facetwin/commands` | `facetwin-protocol-v1` | every host → head frame, raw (header, payload, CRC-16 LE; no COBS) |
//! | [`TELEMETRY_TOPIC`] `/facetwin/telemetry` | `facetwin-protocol-v1` | every `Telemetry` frame, raw |
//! | [`HEAD_TOPIC`] `/facetwin/head` | `facetwin-protocol-v1` | every other head → host frame (`Ack`, `FaultEvent`, `Pong`, `HelloReply`, `ChannelInfo`), raw |
//! | [`TELEMETRY_JSON_TOPIC`] `/facetwin/telemetry_json` | `json` (JSON Schema) | each telemetry frame decoded: `position[i]`, `velocity[i]`, `current_ma[i]`, `temperature_c[i]`, `faults[i]`, `torque[i]` — plottable in Foxglove as is |
//! | [`EVENTS_TOPIC`] `/facetwin/events` | `json` (JSON Schema) | `{"kind", "text", "channel"?, "faults"?}`: link events, faults, notes |
//!
//! The raw-frame topics share the schema [`FRAME_SCHEMA_NAME`], whose data points at
//! `docs/PROTOCOL.md`, the normative layout. Log time is the caller's `t_ns` (any monotonic
//! nanosecond clock; the session clock of `HostCore` is the natural one).
//!
//! # Crash safety
//!
//! A recording is a series of **segments**, `<prefix>.0001.mcap`, `<prefix>.0002.mcap`, … Each
//! segment is a complete MCAP file (header, chunked data, summary with indexes and statistics,
//! footer, CRCs). A segment is built **in memory** while it is current; it is finalized when
//! it is [`RecorderOptions::segment_period`] old (1 s by default; checked on every record and
//! by [`Recorder::flush_if_due`]): the finished bytes are written to `<segment>.mcap.tmp`,
//! `fsync`ed, **atomically renamed** to `<segment>.mcap`, and the directory is `fsync`ed.
//!
//! So at every instant each `*.mcap` name on disk is either absent or a complete, valid file:
//! a crash at any point (even in the middle of writing a segment) leaves at most one
//! `*.mcap.tmp` that readers ignore, and loses only the segment that was current — at most
//! one segment period of data (plus however late the caller calls `flush_if_due`). Nothing is
//! ever appended to or rewritten in a finished file. [`Recording::open`] reads all finished
//! segments of a prefix in order and reports leftover `.tmp` files in
//! [`Recording::ignored`]. A normal [`Recorder::finish`] (or drop) finalizes the last
//! segment the same way.
//!
//! A new recorder refuses a prefix that already has segments (or leftovers): recordings are
//! never mixed or overwritten.

use crate::json;
use crate::tap::{Direction, TappedFrame};
use facetwin_link::LinkEvent;
use facetwin_protocol::{
    DecodeError, EncodeError, MAX_RAW_FRAME, Message, MsgType, Telemetry, decode_frame, encode_raw,
    fault,
};
use mcap::records::{MessageHeader, Metadata};
use std::collections::BTreeMap;
use std::fs;
use std::io::{Cursor, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Host → head frames.
pub const COMMANDS_TOPIC: &str = "/facetwin/commands";
/// Telemetry frames.
pub const TELEMETRY_TOPIC: &str = "/facetwin/telemetry";
/// Other head → host frames.
pub const HEAD_TOPIC: &str = "/facetwin/head";
/// Telemetry as JSON.
pub const TELEMETRY_JSON_TOPIC: &str = "/facetwin/telemetry_json";
/// Events as JSON.
pub const EVENTS_TOPIC: &str = "/facetwin/events";
/// Message encoding of the raw-frame topics.
pub const FRAME_ENCODING: &str = "facetwin-protocol-v1";
/// Schema name of the raw-frame topics.
pub const FRAME_SCHEMA_NAME: &str = "facetwin.protocol.v1.Frame (docs/PROTOCOL.md)";
const FRAME_SCHEMA_TEXT: &str = "facetwin actuator protocol v1, one raw frame per message: \
version u8, type u8, seq u8, payload (little-endian, layout per type), CRC-16/IBM-3740 over \
all preceding bytes, little-endian. Not COBS-encoded, no 0x00 delimiter. Normative \
specification: docs/PROTOCOL.md (sections 3, 9, 10); reference decoder: crates/protocol \
(facetwin_protocol::decode_frame).";
const LIBRARY: &str = concat!("facetwin-mirror/", env!("CARGO_PKG_VERSION"));

/// Why recording failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: a recording with this prefix already exists")]
    Exists { path: String },
    #[error("{0}: a recording prefix needs a file name part (e.g. `logs/session`)")]
    BadPrefix(String),
    #[error("MCAP: {0}")]
    Mcap(#[from] mcap::McapError),
    #[error("encoding a frame: {0}")]
    Encode(EncodeError),
    #[error("the recorder was already finished")]
    Finished,
}

/// Why reading a recording failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}: no recording segments found")]
    NotFound(String),
    #[error("{dir}: several recordings ({names}); name one by its prefix")]
    Ambiguous { dir: String, names: String },
    #[error("{path}: {source}")]
    Mcap {
        path: String,
        source: mcap::McapError,
    },
    #[error("{path}: not a complete MCAP file (no summary)")]
    Incomplete { path: String },
    #[error("{path}: frame at {t_ns} ns on {topic}: {error}")]
    Frame {
        path: String,
        topic: String,
        t_ns: u64,
        error: DecodeError,
    },
}

/// Recorder settings.
#[derive(Debug, Clone)]
pub struct RecorderOptions {
    /// Age (in record time) at which the current segment is finalized: the most a crash loses.
    pub segment_period: Duration,
    /// `fsync` each segment and its directory entry (off only for tests on slow disks).
    pub fsync: bool,
}

impl Default for RecorderOptions {
    fn default() -> Self {
        Self {
            segment_period: Duration::from_secs(1),
            fsync: true,
        }
    }
}

/// Counters of a recorder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecorderStats {
    /// MCAP messages written (all topics).
    pub messages: u64,
    pub commands: u64,
    pub telemetry: u64,
    pub head_messages: u64,
    pub events: u64,
    /// Finished segments.
    pub segments: u64,
    /// Bytes in finished segments.
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy)]
struct Ids {
    commands: u16,
    telemetry: u16,
    head: u16,
    telemetry_json: u16,
    events: u16,
}

struct Segment {
    index: u32,
    writer: mcap::Writer<Cursor<Vec<u8>>>,
    ids: Ids,
    opened_ns: u64,
}

/// Writes a session to crash-safe MCAP segments; see the [module docs](self).
pub struct Recorder {
    dir: PathBuf,
    name: String,
    options: RecorderOptions,
    next_index: u32,
    current: Option<Segment>,
    segments: Vec<PathBuf>,
    sequence: u32,
    stats: RecorderStats,
    finished: bool,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("dir", &self.dir)
            .field("name", &self.name)
            .field("options", &self.options)
            .field("current_segment", &self.current.as_ref().map(|s| s.index))
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn io_err(path: &Path, source: std::io::Error) -> RecordError {
    RecordError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Splits a prefix into its directory (`.` when none) and file-name part.
fn split_prefix(prefix: &Path) -> Option<(PathBuf, String)> {
    let name = prefix.file_name()?.to_str()?.to_owned();
    let dir = match prefix.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Some((dir, name))
}

/// `<name>.<digits>.mcap` → (name, index).
fn parse_segment_name(file: &str) -> Option<(&str, u32, bool)> {
    let (stem, tmp) = match file.strip_suffix(".mcap.tmp") {
        Some(s) => (s, true),
        None => (file.strip_suffix(".mcap")?, false),
    };
    let dot = stem.rfind('.')?;
    let digits = &stem[dot + 1..];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((&stem[..dot], digits.parse().ok()?, tmp))
}

fn segment_file(dir: &Path, name: &str, index: u32) -> PathBuf {
    dir.join(format!("{name}.{index:04}.mcap"))
}

impl Recorder {
    /// Starts a recording at `path_prefix` (`dir/name` → `dir/name.0001.mcap`, …); creates
    /// the directory if needed; refuses a prefix that already has segments.
    pub fn new(path_prefix: impl AsRef<Path>) -> Result<Self, RecordError> {
        Self::with_options(path_prefix, RecorderOptions::default())
    }

    pub fn with_options(
        path_prefix: impl AsRef<Path>,
        options: RecorderOptions,
    ) -> Result<Self, RecordError> {
        let prefix = path_prefix.as_ref();
        let (dir, name) = split_prefix(prefix)
            .ok_or_else(|| RecordError::BadPrefix(prefix.display().to_string()))?;
        fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
        let entries = fs::read_dir(&dir).map_err(|e| io_err(&dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io_err(&dir, e))?;
            let file = entry.file_name();
            if let Some((n, _, _)) = file.to_str().and_then(parse_segment_name)
                && n == name
            {
                return Err(RecordError::Exists {
                    path: entry.path().display().to_string(),
                });
            }
        }
        Ok(Self {
            dir,
            name,
            options,
            next_index: 1,
            current: None,
            segments: Vec::new(),
            sequence: 0,
            stats: RecorderStats::default(),
            finished: false,
        })
    }

    /// Finished segment files so far, in order.
    pub fn segments(&self) -> &[PathBuf] {
        &self.segments
    }

    pub fn stats(&self) -> RecorderStats {
        self.stats
    }

    pub fn options(&self) -> &RecorderOptions {
        &self.options
    }

    /// A host → head frame.
    pub fn record_command(&mut self, t_ns: u64, seq: u8, msg: &Message) -> Result<(), RecordError> {
        let raw = raw_frame(seq, msg)?;
        let seg = self.segment(t_ns)?;
        let id = seg.ids.commands;
        self.write(t_ns, id, &raw)?;
        self.stats.commands += 1;
        Ok(())
    }

    /// A telemetry frame: raw on [`TELEMETRY_TOPIC`] and decoded on [`TELEMETRY_JSON_TOPIC`].
    pub fn record_telemetry(
        &mut self,
        t_ns: u64,
        seq: u8,
        telemetry: &Telemetry,
    ) -> Result<(), RecordError> {
        let raw = raw_frame(seq, &Message::Telemetry(*telemetry))?;
        let seg = self.segment(t_ns)?;
        let ids = seg.ids;
        self.write(t_ns, ids.telemetry, &raw)?;
        self.write(
            t_ns,
            ids.telemetry_json,
            json::telemetry(seq, telemetry).as_bytes(),
        )?;
        self.stats.telemetry += 1;
        Ok(())
    }

    /// Any head → host frame (telemetry goes to [`Self::record_telemetry`]); a `FaultEvent`
    /// is also written as a `fault` event.
    pub fn record_head_message(
        &mut self,
        t_ns: u64,
        seq: u8,
        msg: &Message,
    ) -> Result<(), RecordError> {
        if let Message::Telemetry(t) = msg {
            return self.record_telemetry(t_ns, seq, t);
        }
        let raw = raw_frame(seq, msg)?;
        let seg = self.segment(t_ns)?;
        let id = seg.ids.head;
        self.write(t_ns, id, &raw)?;
        self.stats.head_messages += 1;
        if let Message::FaultEvent {
            channel, faults, ..
        } = *msg
        {
            let text = if channel == 0xFF {
                format!("head fault: {}", fault_names(faults))
            } else {
                format!("channel {channel} fault: {}", fault_names(faults))
            };
            self.write_event(t_ns, "fault", &text, Some(channel), Some(faults))?;
        }
        Ok(())
    }

    /// A free-text event (`kind` "note").
    pub fn record_event(&mut self, t_ns: u64, text: &str) -> Result<(), RecordError> {
        self.write_event(t_ns, "note", text, None, None)
    }

    /// An event with a kind of the caller's choosing (e.g. "alarm", "calibration").
    pub fn record_event_kind(
        &mut self,
        t_ns: u64,
        kind: &str,
        text: &str,
        channel: Option<u8>,
    ) -> Result<(), RecordError> {
        self.write_event(t_ns, kind, text, channel, None)
    }

    /// A session event from `HostCore`'s view (connected, rejected, clamped, fault, …).
    pub fn record_link_event(&mut self, t_ns: u64, event: &LinkEvent) -> Result<(), RecordError> {
        let (text, channel, faults) = match event {
            LinkEvent::Connected { transport, info } => (
                format!(
                    "connected to head {:#010x} ({} channels, firmware {}.{}.{}) on {transport}",
                    info.head_id,
                    info.channel_count,
                    info.firmware[0],
                    info.firmware[1],
                    info.firmware[2]
                ),
                None,
                None,
            ),
            LinkEvent::Disconnected { reason } => (format!("disconnected: {reason}"), None, None),
            LinkEvent::HandoverDone { ticks } => {
                (format!("handover done after {ticks} ticks"), None, None)
            }
            LinkEvent::Rejected {
                msg_type,
                code,
                detail,
            } => (
                format!(
                    "{} answered {code:?} (detail {detail})",
                    facetwin_link::msg_type_name(*msg_type)
                ),
                None,
                None,
            ),
            LinkEvent::Clamped {
                channel,
                wanted,
                limit,
            } => (
                format!("channel {channel}: {wanted} clamped to {limit}"),
                u8::try_from(*channel).ok(),
                None,
            ),
            LinkEvent::Fault {
                channel,
                faults,
                head_time_us,
            } => (
                format!(
                    "channel {channel} fault at head time {head_time_us} us: {}",
                    fault_names(*faults)
                ),
                Some(*channel),
                Some(*faults),
            ),
        };
        self.write_event(t_ns, "link", &text, channel, faults)
    }

    /// Whatever a [`crate::tap::Tap`] saw, on its own time stamp.
    pub fn record_tapped(&mut self, frame: &TappedFrame) -> Result<(), RecordError> {
        let t_ns = frame.t_ns();
        match frame.direction {
            Direction::ToHead => self.record_command(t_ns, frame.seq, &frame.message),
            Direction::FromHead => self.record_head_message(t_ns, frame.seq, &frame.message),
        }
    }

    fn write_event(
        &mut self,
        t_ns: u64,
        kind: &str,
        text: &str,
        channel: Option<u8>,
        faults: Option<u8>,
    ) -> Result<(), RecordError> {
        let body = json::event(kind, text, channel, faults);
        let seg = self.segment(t_ns)?;
        let id = seg.ids.events;
        self.write(t_ns, id, body.as_bytes())?;
        self.stats.events += 1;
        Ok(())
    }

    fn write(&mut self, t_ns: u64, channel_id: u16, data: &[u8]) -> Result<(), RecordError> {
        let Some(seg) = self.current.as_mut() else {
            return Ok(());
        };
        self.sequence = self.sequence.wrapping_add(1);
        seg.writer.write_to_known_channel(
            &MessageHeader {
                channel_id,
                sequence: self.sequence,
                log_time: t_ns,
                publish_time: t_ns,
            },
            data,
        )?;
        self.stats.messages += 1;
        Ok(())
    }

    /// The current segment, after finalizing it if it is due at `t_ns`, opening a new one if
    /// there is none.
    fn segment(&mut self, t_ns: u64) -> Result<&mut Segment, RecordError> {
        if self.finished {
            return Err(RecordError::Finished);
        }
        self.flush_if_due(t_ns)?;
        if self.current.is_none() {
            let index = self.next_index;
            self.next_index += 1;
            self.current = Some(self.open_segment(index, t_ns)?);
        }
        match self.current.as_mut() {
            Some(s) => Ok(s),
            None => Err(RecordError::Finished),
        }
    }

    fn open_segment(&self, index: u32, t_ns: u64) -> Result<Segment, RecordError> {
        let mut w = mcap::WriteOptions::new()
            .compression(None)
            .profile("facetwin")
            .library(LIBRARY)
            .create(Cursor::new(Vec::with_capacity(256 * 1024)))?;
        let frame_schema = w.add_schema(
            FRAME_SCHEMA_NAME,
            FRAME_ENCODING,
            FRAME_SCHEMA_TEXT.as_bytes(),
        )?;
        let telemetry_schema = w.add_schema(
            "facetwin.Telemetry",
            "jsonschema",
            json::TELEMETRY_SCHEMA.as_bytes(),
        )?;
        let event_schema = w.add_schema(
            "facetwin.Event",
            "jsonschema",
            json::EVENT_SCHEMA.as_bytes(),
        )?;
        let frame_meta = |direction: &str| {
            BTreeMap::from([
                ("spec".to_owned(), "docs/PROTOCOL.md".to_owned()),
                ("direction".to_owned(), direction.to_owned()),
                (
                    "framing".to_owned(),
                    "raw frame (header, payload, CRC-16 LE), not COBS-encoded".to_owned(),
                ),
            ])
        };
        let empty = BTreeMap::new();
        let ids = Ids {
            commands: w.add_channel(
                frame_schema,
                COMMANDS_TOPIC,
                FRAME_ENCODING,
                &frame_meta("host->head"),
            )?,
            telemetry: w.add_channel(
                frame_schema,
                TELEMETRY_TOPIC,
                FRAME_ENCODING,
                &frame_meta("head->host"),
            )?,
            head: w.add_channel(
                frame_schema,
                HEAD_TOPIC,
                FRAME_ENCODING,
                &frame_meta("head->host"),
            )?,
            telemetry_json: w.add_channel(
                telemetry_schema,
                TELEMETRY_JSON_TOPIC,
                "json",
                &empty,
            )?,
            events: w.add_channel(event_schema, EVENTS_TOPIC, "json", &empty)?,
        };
        w.write_metadata(&Metadata {
            name: "facetwin".into(),
            metadata: BTreeMap::from([
                ("recording".to_owned(), self.name.clone()),
                ("segment".to_owned(), index.to_string()),
                (
                    "protocol_version".to_owned(),
                    facetwin_protocol::PROTOCOL_VERSION.to_string(),
                ),
            ]),
        })?;
        Ok(Segment {
            index,
            writer: w,
            ids,
            opened_ns: t_ns,
        })
    }

    /// Finalizes the current segment if it is at least one segment period old at `now_ns`
    /// (call it regularly, e.g. from the session loop, so a quiet link still loses at most a
    /// period). Returns true when a segment was written.
    pub fn flush_if_due(&mut self, now_ns: u64) -> Result<bool, RecordError> {
        let period = crate::tap::duration_ns(self.options.segment_period);
        let due = self
            .current
            .as_ref()
            .is_some_and(|s| now_ns.saturating_sub(s.opened_ns) >= period);
        if due {
            self.flush()?;
        }
        Ok(due)
    }

    /// Finalizes the current segment now (no-op without one).
    pub fn flush(&mut self) -> Result<(), RecordError> {
        let Some(mut seg) = self.current.take() else {
            return Ok(());
        };
        seg.writer.finish()?;
        let bytes = seg.writer.into_inner().into_inner();
        let path = segment_file(&self.dir, &self.name, seg.index);
        let mut tmp = path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        {
            let mut f = fs::File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
            f.write_all(&bytes).map_err(|e| io_err(&tmp, e))?;
            if self.options.fsync {
                f.sync_all().map_err(|e| io_err(&tmp, e))?;
            }
        }
        fs::rename(&tmp, &path).map_err(|e| io_err(&path, e))?;
        if self.options.fsync {
            sync_dir(&self.dir)?;
        }
        self.stats.segments += 1;
        self.stats.bytes += bytes.len() as u64;
        self.segments.push(path);
        Ok(())
    }

    /// Finalizes the last segment; returns the segment files.
    pub fn finish(mut self) -> Result<Vec<PathBuf>, RecordError> {
        self.flush()?;
        self.finished = true;
        Ok(std::mem::take(&mut self.segments))
    }
}

impl Drop for Recorder {
    /// Best effort: a recorder dropped without [`Recorder::finish`] (an early return, a
    /// panic unwinding) still finalizes its last segment. A killed process does not get here;
    /// then only the current segment is lost.
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.flush();
        }
    }
}

/// Makes a rename in `dir` durable (POSIX: fsync the directory). Elsewhere a no-op: NTFS
/// journals the rename itself and directories cannot be opened as files.
fn sync_dir(dir: &Path) -> Result<(), RecordError> {
    #[cfg(unix)]
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_err(dir, e))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

fn raw_frame(seq: u8, msg: &Message) -> Result<Vec<u8>, RecordError> {
    let mut buf = [0u8; MAX_RAW_FRAME];
    let n = encode_raw(seq, msg, &mut buf).map_err(RecordError::Encode)?;
    Ok(buf[..n].to_vec())
}

/// "stall|no-load" for fault bits, "-" for none.
pub fn fault_names(bits: u8) -> String {
    let names: Vec<&str> = fault::names(bits).collect();
    if names.is_empty() {
        "-".into()
    } else {
        names.join("|")
    }
}

/// What one recorded message was.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordKind {
    /// Host → head.
    Command {
        seq: u8,
        message: Message,
    },
    Telemetry {
        seq: u8,
        telemetry: Telemetry,
    },
    /// Any other head → host frame.
    HeadMessage {
        seq: u8,
        message: Message,
    },
    Event {
        kind: String,
        text: String,
        json: String,
    },
}

/// One recorded message at its log time.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub t_ns: u64,
    pub kind: RecordKind,
}

/// A recording read back: every finished segment of a prefix, records in time order.
#[derive(Debug, Clone, Default)]
pub struct Recording {
    /// Segment files read, in order.
    pub segments: Vec<PathBuf>,
    /// Unfinished leftovers (`*.mcap.tmp` from a crash mid-write), not read.
    pub ignored: Vec<PathBuf>,
    /// Records of all segments, sorted by time (stable: equal times keep file order).
    pub records: Vec<Record>,
}

fn read_err(path: &Path, source: std::io::Error) -> ReadError {
    ReadError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl Recording {
    /// Opens a recording by prefix (`dir/name`), by directory (when it holds exactly one
    /// recording) or a single `.mcap` file. Leftover `.tmp` segments are skipped and listed
    /// in [`Recording::ignored`]; a finished segment that does not read is an error.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ReadError> {
        let path = path.as_ref();
        let (segments, ignored) = find_segments(path)?;
        let mut rec = Recording {
            segments: Vec::new(),
            ignored,
            records: Vec::new(),
        };
        for seg in segments {
            rec.read_segment(&seg)?;
            rec.segments.push(seg);
        }
        rec.records.sort_by_key(|r| r.t_ns);
        Ok(rec)
    }

    fn read_segment(&mut self, path: &Path) -> Result<(), ReadError> {
        let buf = fs::read(path).map_err(|e| read_err(path, e))?;
        let mcap_err = |source| ReadError::Mcap {
            path: path.display().to_string(),
            source,
        };
        // A finished segment has a footer and a summary; anything less is not ours to trust.
        if mcap::Summary::read(&buf).map_err(mcap_err)?.is_none() {
            return Err(ReadError::Incomplete {
                path: path.display().to_string(),
            });
        }
        let stream = mcap::MessageStream::new_with_options(
            &buf,
            mcap::read::Options::ValidateChunkCrcs.into(),
        )
        .map_err(mcap_err)?;
        for m in stream {
            let m = m.map_err(mcap_err)?;
            let t_ns = m.log_time;
            let topic = m.channel.topic.as_str();
            let frame = |data: &[u8]| {
                decode_frame(data).map_err(|error| ReadError::Frame {
                    path: path.display().to_string(),
                    topic: topic.to_owned(),
                    t_ns,
                    error,
                })
            };
            let kind = match topic {
                COMMANDS_TOPIC => {
                    let f = frame(&m.data)?;
                    RecordKind::Command {
                        seq: f.seq,
                        message: f.message,
                    }
                }
                TELEMETRY_TOPIC | HEAD_TOPIC => {
                    let f = frame(&m.data)?;
                    match f.message {
                        Message::Telemetry(telemetry) => RecordKind::Telemetry {
                            seq: f.seq,
                            telemetry,
                        },
                        message => RecordKind::HeadMessage {
                            seq: f.seq,
                            message,
                        },
                    }
                }
                EVENTS_TOPIC => {
                    let text = String::from_utf8_lossy(&m.data).into_owned();
                    RecordKind::Event {
                        kind: json::event_kind(&text).unwrap_or("note").to_owned(),
                        text: json::event_text(&text).unwrap_or_else(|| text.clone()),
                        json: text,
                    }
                }
                // Derived (telemetry JSON) or foreign topics.
                _ => continue,
            };
            self.records.push(Record { t_ns, kind });
        }
        Ok(())
    }

    /// Time of the first and last record.
    pub fn time_range_ns(&self) -> Option<(u64, u64)> {
        Some((self.records.first()?.t_ns, self.records.last()?.t_ns))
    }

    /// Telemetry records only, in time order.
    pub fn telemetry(&self) -> impl Iterator<Item = (u64, u8, &Telemetry)> + '_ {
        self.records.iter().filter_map(|r| match &r.kind {
            RecordKind::Telemetry { seq, telemetry } => Some((r.t_ns, *seq, telemetry)),
            _ => None,
        })
    }

    /// Commands only, in time order.
    pub fn commands(&self) -> impl Iterator<Item = (u64, u8, &Message)> + '_ {
        self.records.iter().filter_map(|r| match &r.kind {
            RecordKind::Command { seq, message } => Some((r.t_ns, *seq, message)),
            _ => None,
        })
    }

    /// Count of records of a message type (commands and head messages).
    pub fn count_type(&self, ty: MsgType) -> usize {
        self.records
            .iter()
            .filter(|r| match &r.kind {
                RecordKind::Command { message, .. } | RecordKind::HeadMessage { message, .. } => {
                    message.msg_type() == ty
                }
                RecordKind::Telemetry { .. } => ty == MsgType::Telemetry,
                RecordKind::Event { .. } => false,
            })
            .count()
    }
}

type Found = (Vec<PathBuf>, Vec<PathBuf>);

fn find_segments(path: &Path) -> Result<Found, ReadError> {
    if path.is_file() {
        return Ok((vec![path.to_path_buf()], Vec::new()));
    }
    let (dir, name) = if path.is_dir() {
        (path.to_path_buf(), None)
    } else {
        let (d, n) =
            split_prefix(path).ok_or_else(|| ReadError::NotFound(path.display().to_string()))?;
        (d, Some(n))
    };
    let entries = fs::read_dir(&dir).map_err(|e| read_err(&dir, e))?;
    // name → (finished (index, path), leftovers)
    let mut found: BTreeMap<String, Found> = BTreeMap::new();
    let mut indexed: BTreeMap<String, Vec<(u32, PathBuf)>> = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(|e| read_err(&dir, e))?;
        let file = entry.file_name();
        let Some((n, index, tmp)) = file.to_str().and_then(parse_segment_name) else {
            continue;
        };
        if name.as_deref().is_some_and(|want| want != n) {
            continue;
        }
        if tmp {
            found.entry(n.to_owned()).or_default().1.push(entry.path());
        } else {
            found.entry(n.to_owned()).or_default();
            indexed
                .entry(n.to_owned())
                .or_default()
                .push((index, entry.path()));
        }
    }
    let names: Vec<&String> = indexed.keys().collect();
    let chosen = match names.as_slice() {
        [] => return Err(ReadError::NotFound(path.display().to_string())),
        [one] => (*one).clone(),
        _ => {
            return Err(ReadError::Ambiguous {
                dir: dir.display().to_string(),
                names: names
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    };
    let mut segs = indexed.remove(&chosen).unwrap_or_default();
    segs.sort();
    let mut ignored = found.remove(&chosen).map(|f| f.1).unwrap_or_default();
    ignored.sort();
    Ok((segs.into_iter().map(|(_, p)| p).collect(), ignored))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_parse() {
        assert_eq!(parse_segment_name("run.0007.mcap"), Some(("run", 7, false)));
        assert_eq!(
            parse_segment_name("a.b.12345.mcap.tmp"),
            Some(("a.b", 12345, true))
        );
        assert_eq!(parse_segment_name("run.mcap"), None);
        assert_eq!(parse_segment_name("run.x1.mcap"), None);
        assert_eq!(fault_names(0), "-");
        assert_eq!(fault_names(fault::STALL | fault::NO_LOAD), "stall|no-load");
    }
}
