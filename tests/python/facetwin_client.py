"""A facetwin protocol v1 host client, written from docs/PROTOCOL.md alone.

Standard library only, plus pyserial for the `Client` class (imported lazily, so the codec and the
golden-vector check run without it). Sections cited as "§n" refer to docs/PROTOCOL.md.
"""

from __future__ import annotations

import struct
import time
from collections import deque
from dataclasses import dataclass, field

# ---------------------------------------------------------------------------------------------
# Constants (§3, §8, §11)

PROTOCOL_VERSION = 1
HEADER_LEN = 3
CRC_LEN = 2
MAX_RAW_FRAME = 320
MAX_PAYLOAD = MAX_RAW_FRAME - HEADER_LEN - CRC_LEN
MAX_ENCODED_FRAME = 322  # largest COBS-encoded frame without the delimiter
MAX_CHANNELS = 32


class T:
    """Message type codes (§8)."""

    HELLO = 0x01
    SET_TARGETS = 0x02
    CONFIGURE_CHANNEL = 0x03
    TORQUE = 0x04
    EMERGENCY_STOP = 0x05
    SET_WATCHDOG = 0x06
    SET_TELEMETRY_RATE = 0x07
    PING = 0x08
    GET_CHANNEL_INFO = 0x09
    CLEAR_FAULTS = 0x0A
    INJECT_FAULT = 0x40
    HELLO_REPLY = 0x81
    TELEMETRY = 0x82
    ACK = 0x83
    FAULT_EVENT = 0x84
    PONG = 0x85
    CHANNEL_INFO = 0x86


TYPE_NAMES = {
    T.HELLO: "Hello",
    T.SET_TARGETS: "SetTargets",
    T.CONFIGURE_CHANNEL: "ConfigureChannel",
    T.TORQUE: "Torque",
    T.EMERGENCY_STOP: "EmergencyStop",
    T.SET_WATCHDOG: "SetWatchdog",
    T.SET_TELEMETRY_RATE: "SetTelemetryRate",
    T.PING: "Ping",
    T.GET_CHANNEL_INFO: "GetChannelInfo",
    T.CLEAR_FAULTS: "ClearFaults",
    T.INJECT_FAULT: "InjectFault",
    T.HELLO_REPLY: "HelloReply",
    T.TELEMETRY: "Telemetry",
    T.ACK: "Ack",
    T.FAULT_EVENT: "FaultEvent",
    T.PONG: "Pong",
    T.CHANNEL_INFO: "ChannelInfo",
}

# Ack error codes (§11.1)
ACK_CODES = {
    0: "Ok",
    1: "BadLength",
    2: "BadChannel",
    3: "Clamped",
    4: "EStopActive",
    5: "UnknownType",
    6: "NotPermitted",
    7: "Unsupported",
    8: "BadVersion",
    9: "BadValue",
}
ACK_CODE_BY_NAME = {v: k for k, v in ACK_CODES.items()}
OK, BAD_LENGTH, BAD_CHANNEL, CLAMPED, ESTOP_ACTIVE = 0, 1, 2, 3, 4
UNKNOWN_TYPE, NOT_PERMITTED, UNSUPPORTED, BAD_VERSION, BAD_VALUE = 5, 6, 7, 8, 9

# Status bits (§11.2)
STATUS_ESTOP = 0x01
STATUS_WATCHDOG_TRIPPED = 0x02
STATUS_HOST_CONNECTED = 0x04
STATUS_SAFE_STOP_LATCHED = 0x08

# Fault bits (§11.3)
FAULT_OVERHEAT = 0x01
FAULT_STALL = 0x02
FAULT_ENCODER = 0x04
FAULT_NO_LOAD = 0x08
FAULT_POWER = 0x10
FAULT_FOLLOWING = 0x20
FAULT_WATCHDOG = 0x40
FAULT_ESTOP = 0x80
FAULT_NAMES = ["overheat", "stall", "encoder", "no-load", "power", "following", "watchdog", "estop"]

# Capability bits (§11.4)
CAP_TIME_TO_TARGET = 0x0001
CAP_CHANNEL_CONFIG = 0x0002
CAP_FAULT_INJECTION = 0x0004
CAP_SIMULATED = 0x0008

# FaultKind codes (§11.5)
FAULT_KINDS = {1: "Jam", 2: "TornTendon", 3: "EncoderGlitch", 4: "Overheat", 5: "PowerLoss"}
FAULT_KIND_BY_NAME = {v: k for k, v in FAULT_KINDS.items()}

# ClearFaults bit 31 releases the emergency stop (§9.10)
CLEAR_ESTOP = 1 << 31


def fault_names(bits: int) -> str:
    names = [n for i, n in enumerate(FAULT_NAMES) if bits & (1 << i)]
    return "|".join(names) if names else "-"


# ---------------------------------------------------------------------------------------------
# Units (§2)


def norm_to_q15(x: float) -> int:
    """Normalised travel to Q1.15: round half away from zero, saturate, NaN -> 0."""
    if x != x:  # NaN
        return 0
    scaled = x * 32768.0
    q = int(scaled + 0.5) if scaled >= 0 else -int(-scaled + 0.5)
    return max(-32768, min(32767, q))


def q15_to_norm(q: int) -> float:
    return q / 32768.0


# ---------------------------------------------------------------------------------------------
# CRC-16/IBM-3740 aka CRC-16/CCITT-FALSE (§5)


def _crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """poly 0x1021, init 0xFFFF, refin/refout false, xorout 0; crc16(b"123456789") == 0x29B1."""
    crc = 0xFFFF
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[((crc >> 8) ^ b) & 0xFF]
    return crc


# ---------------------------------------------------------------------------------------------
# COBS (§4)


def cobs_encode(data: bytes) -> bytes:
    """COBS-encodes `data` (no delimiter). A final full 254-byte run gets no extra empty group."""
    out = bytearray([0])
    code_at = 0
    code = 1
    n = len(data)
    for i, b in enumerate(data):
        if b:
            out.append(b)
            code += 1
        if b == 0 or code == 0xFF:
            out[code_at] = code
            code = 1
            if b == 0 or i + 1 < n:
                code_at = len(out)
                out.append(0)
            else:
                code_at = -1  # the frame ended with a full run: no trailing group
    if code_at >= 0:
        out[code_at] = code
    return bytes(out)


class CobsError(ValueError):
    pass


def cobs_decode(data: bytes) -> bytes:
    """Decodes one COBS-encoded frame (delimiter already removed)."""
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        code = data[i]
        i += 1
        if code == 0 or i + code - 1 > n:
            raise CobsError("invalid COBS group")
        out += data[i:i + code - 1]
        i += code - 1
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


# ---------------------------------------------------------------------------------------------
# Frames (§3)


class FrameError(ValueError):
    """Why a frame was dropped: kind is one of too_long, cobs, too_short, crc, version,
    unknown_type, bad_length, bad_value."""

    def __init__(self, kind: str, message: str = "", version: int | None = None):
        super().__init__(f"{kind}: {message}" if message else kind)
        self.kind = kind
        self.version = version


@dataclass
class Frame:
    version: int
    type: int
    seq: int
    payload: bytes
    message: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return TYPE_NAMES.get(self.type, f"0x{self.type:02x}")


def encode_raw(msg_type: int, seq: int, payload: bytes, version: int = PROTOCOL_VERSION) -> bytes:
    body = bytes([version & 0xFF, msg_type & 0xFF, seq & 0xFF]) + bytes(payload)
    if len(body) + CRC_LEN > MAX_RAW_FRAME:
        raise ValueError(f"frame of {len(body) + CRC_LEN} bytes exceeds {MAX_RAW_FRAME}")
    return body + struct.pack("<H", crc16(body))


def encode_frame(msg_type: int, seq: int, payload: bytes, version: int = PROTOCOL_VERSION) -> bytes:
    """The complete wire frame: COBS(header + payload + CRC) followed by 0x00."""
    return cobs_encode(encode_raw(msg_type, seq, payload, version)) + b"\x00"


def decode_raw(raw: bytes) -> Frame:
    """Checks length, CRC, version, type and payload (§7 steps 2-7) of one COBS-decoded frame."""
    if len(raw) < HEADER_LEN + CRC_LEN:
        raise FrameError("too_short", f"{len(raw)} bytes")
    body, crc_bytes = raw[:-CRC_LEN], raw[-CRC_LEN:]
    want = struct.unpack("<H", crc_bytes)[0]
    got = crc16(body)
    if want != got:
        raise FrameError("crc", f"frame says 0x{want:04x}, bytes give 0x{got:04x}")
    if body[0] != PROTOCOL_VERSION:
        raise FrameError("version", f"version {body[0]}", version=body[0])
    msg_type, seq, payload = body[1], body[2], bytes(body[HEADER_LEN:])
    message = parse_payload(msg_type, payload)
    return Frame(body[0], msg_type, seq, payload, message)


def decode_wire(encoded: bytes) -> Frame:
    """Decodes one encoded frame; a trailing delimiter is tolerated."""
    if encoded.endswith(b"\x00"):
        encoded = encoded[:-1]
    if b"\x00" in encoded:
        raise FrameError("cobs", "zero inside an encoded frame")
    try:
        raw = cobs_decode(encoded)
    except CobsError as e:
        raise FrameError("cobs", str(e)) from None
    return decode_raw(raw)


# ---------------------------------------------------------------------------------------------
# Payloads (§9, §10). Messages are plain dicts whose keys are the field names of the document.

_CONFIG = struct.Struct("<BhhHHHHH")  # 15 bytes: §9.3
_CONFIG_FIELDS = ("channel", "min_q15", "max_q15", "max_velocity", "current_limit_ma",
                  "kp_q8", "ki_q8", "kd_q8")
_TELEMETRY_CHANNEL = struct.Struct("<hhhhB")  # 9 bytes: §10.2
_TELEMETRY_FIELDS = ("position_q15", "velocity", "current_ma", "temperature_dc", "faults")

# Fixed payload lengths; None = count-dependent.
PAYLOAD_LEN = {
    T.HELLO: 4, T.SET_TARGETS: None, T.CONFIGURE_CHANNEL: 15, T.TORQUE: 4,
    T.EMERGENCY_STOP: 0, T.SET_WATCHDOG: 2, T.SET_TELEMETRY_RATE: 2, T.PING: 4,
    T.GET_CHANNEL_INFO: 1, T.CLEAR_FAULTS: 4, T.INJECT_FAULT: 3, T.HELLO_REPLY: 17,
    T.TELEMETRY: None, T.ACK: 4, T.FAULT_EVENT: 6, T.PONG: 8, T.CHANNEL_INFO: 43,
}


def parse_payload(msg_type: int, p: bytes) -> dict:
    if msg_type not in PAYLOAD_LEN:
        raise FrameError("unknown_type", f"0x{msg_type:02x}")
    fixed = PAYLOAD_LEN[msg_type]
    if fixed is not None and len(p) != fixed:
        raise FrameError("bad_length", f"{TYPE_NAMES[msg_type]} payload of {len(p)} bytes")

    def u32(o): return struct.unpack_from("<I", p, o)[0]
    def u16(o): return struct.unpack_from("<H", p, o)[0]

    if msg_type == T.HELLO:
        return {"nonce": u32(0)}
    if msg_type == T.SET_TARGETS:
        if len(p) < 3:
            raise FrameError("bad_length", "SetTargets shorter than 3 bytes")
        count = p[2]
        if count > MAX_CHANNELS:
            raise FrameError("bad_value", f"count {count}")
        if len(p) != 3 + 2 * count:
            raise FrameError("bad_length", f"SetTargets count {count}, {len(p)} bytes")
        return {"time_to_target_ms": u16(0), "count": count,
                "positions_q15": list(struct.unpack_from(f"<{count}h", p, 3))}
    if msg_type in (T.CONFIGURE_CHANNEL,):
        return dict(zip(_CONFIG_FIELDS, _CONFIG.unpack_from(p, 0)))
    if msg_type == T.TORQUE:
        return {"enable_mask": u32(0)}
    if msg_type == T.EMERGENCY_STOP:
        return {}
    if msg_type == T.SET_WATCHDOG:
        return {"timeout_ms": u16(0)}
    if msg_type == T.SET_TELEMETRY_RATE:
        return {"rate_hz": u16(0)}
    if msg_type == T.PING:
        return {"token": u32(0)}
    if msg_type == T.GET_CHANNEL_INFO:
        return {"channel": p[0]}
    if msg_type == T.CLEAR_FAULTS:
        return {"mask": u32(0)}
    if msg_type == T.INJECT_FAULT:
        if p[1] not in FAULT_KINDS or p[2] not in (0, 1):
            raise FrameError("bad_value", "InjectFault kind/active")
        return {"channel": p[0], "kind": p[1], "active": bool(p[2])}
    if msg_type == T.HELLO_REPLY:
        ver, fa, fb, fc, count, caps, max_frame, head_id, nonce = struct.unpack("<BBBBBHHII", p)
        return {"protocol_version": ver, "firmware": [fa, fb, fc], "channel_count": count,
                "capabilities": caps, "max_frame": max_frame, "head_id": head_id, "nonce": nonce}
    if msg_type == T.TELEMETRY:
        if len(p) < 10:
            raise FrameError("bad_length", "Telemetry shorter than 10 bytes")
        count = p[9]
        if count > MAX_CHANNELS:
            raise FrameError("bad_value", f"count {count}")
        if len(p) != 10 + 9 * count:
            raise FrameError("bad_length", f"Telemetry count {count}, {len(p)} bytes")
        channels = [dict(zip(_TELEMETRY_FIELDS, _TELEMETRY_CHANNEL.unpack_from(p, 10 + 9 * i)))
                    for i in range(count)]
        return {"head_time_us": u32(0), "torque_mask": u32(4), "status": p[8], "count": count,
                "channels": channels}
    if msg_type == T.ACK:
        if p[2] not in ACK_CODES:
            raise FrameError("bad_value", f"Ack code {p[2]}")
        return {"msg_type": p[0], "seq": p[1], "code": p[2], "detail": p[3]}
    if msg_type == T.FAULT_EVENT:
        return {"head_time_us": u32(0), "channel": p[4], "faults": p[5]}
    if msg_type == T.PONG:
        return {"token": u32(0), "head_time_us": u32(4)}
    if msg_type == T.CHANNEL_INFO:
        config = dict(zip(_CONFIG_FIELDS, _CONFIG.unpack_from(p, 0)))
        neutral, travel = struct.unpack_from("<hH", p, 15)
        return {"config": config, "neutral_q15": neutral, "travel_um": travel,
                "name": bytes(p[19:43])}
    raise FrameError("unknown_type", f"0x{msg_type:02x}")  # pragma: no cover


def build_payload(msg_type: int, m: dict) -> bytes:
    """The inverse of parse_payload: a message dict to its payload bytes."""
    if msg_type == T.HELLO:
        return struct.pack("<I", m["nonce"])
    if msg_type == T.SET_TARGETS:
        pos = list(m["positions_q15"])
        if len(pos) > MAX_CHANNELS:
            raise ValueError("at most 32 positions")
        return struct.pack(f"<HB{len(pos)}h", m.get("time_to_target_ms", 0), len(pos), *pos)
    if msg_type == T.CONFIGURE_CHANNEL:
        return _CONFIG.pack(*(m[k] for k in _CONFIG_FIELDS))
    if msg_type == T.TORQUE:
        return struct.pack("<I", m["enable_mask"])
    if msg_type == T.EMERGENCY_STOP:
        return b""
    if msg_type == T.SET_WATCHDOG:
        return struct.pack("<H", m["timeout_ms"])
    if msg_type == T.SET_TELEMETRY_RATE:
        return struct.pack("<H", m["rate_hz"])
    if msg_type == T.PING:
        return struct.pack("<I", m["token"])
    if msg_type == T.GET_CHANNEL_INFO:
        return bytes([m["channel"]])
    if msg_type == T.CLEAR_FAULTS:
        return struct.pack("<I", m["mask"])
    if msg_type == T.INJECT_FAULT:
        return bytes([m["channel"], m["kind"], 1 if m["active"] else 0])
    if msg_type == T.HELLO_REPLY:
        return struct.pack("<BBBBBHHII", m["protocol_version"], *m["firmware"], m["channel_count"],
                           m["capabilities"], m["max_frame"], m["head_id"], m["nonce"])
    if msg_type == T.TELEMETRY:
        chans = m["channels"]
        out = struct.pack("<IIBB", m["head_time_us"], m["torque_mask"], m["status"], len(chans))
        for c in chans:
            out += _TELEMETRY_CHANNEL.pack(*(c[k] for k in _TELEMETRY_FIELDS))
        return out
    if msg_type == T.ACK:
        return bytes([m["msg_type"], m["seq"], m["code"], m["detail"]])
    if msg_type == T.FAULT_EVENT:
        return struct.pack("<IBB", m["head_time_us"], m["channel"], m["faults"])
    if msg_type == T.PONG:
        return struct.pack("<II", m["token"], m["head_time_us"])
    if msg_type == T.CHANNEL_INFO:
        name = bytes(m["name"])[:24].ljust(24, b"\x00")
        return (_CONFIG.pack(*(m["config"][k] for k in _CONFIG_FIELDS))
                + struct.pack("<hH", m["neutral_q15"], m["travel_um"]) + name)
    raise ValueError(f"unknown message type 0x{msg_type:02x}")


def channel_name(info: dict) -> str:
    return info["name"].split(b"\x00", 1)[0].decode("ascii", "replace")


# ---------------------------------------------------------------------------------------------
# The streaming decoder (§7)


class StreamDecoder:
    """Bytes in any chunking in, frames out; resynchronises at every 0x00, ignores empty frames."""

    def __init__(self):
        self.buf = bytearray()
        self.discarding = False
        self.errors: dict[str, int] = {}
        self.frames_ok = 0
        self.last_error: FrameError | None = None

    def reset(self):
        self.buf.clear()
        self.discarding = False

    def _count(self, e: FrameError):
        self.errors[e.kind] = self.errors.get(e.kind, 0) + 1
        self.last_error = e

    def error_count(self) -> int:
        return sum(self.errors.values())

    def feed(self, data: bytes) -> list:
        """Returns a list of Frame objects and FrameError objects, in arrival order."""
        out = []
        for b in data:
            if b:
                if self.discarding:
                    continue
                if len(self.buf) >= MAX_ENCODED_FRAME:
                    e = FrameError("too_long")
                    self._count(e)
                    out.append(e)
                    self.buf.clear()
                    self.discarding = True
                    continue
                self.buf.append(b)
                continue
            if self.discarding:
                self.discarding = False
                self.buf.clear()
                continue
            if not self.buf:
                continue  # empty frame: a flush, not an error
            encoded = bytes(self.buf)
            self.buf.clear()
            try:
                frame = decode_wire(encoded)
            except FrameError as e:
                self._count(e)
                out.append(e)
                continue
            self.frames_ok += 1
            out.append(frame)
        return out


# ---------------------------------------------------------------------------------------------
# The host client over a serial port (§12.2)


class ProtocolError(RuntimeError):
    pass


class Client:
    """A synchronous host session: send commands, poll frames, keep the latest telemetry."""

    def __init__(self, port: str, baud: int = 1_000_000, read_timeout: float = 0.002):
        import serial  # pyserial; only the live client needs it

        self.ser = serial.Serial(port, baudrate=baud, bytesize=serial.EIGHTBITS,
                                 parity=serial.PARITY_NONE, stopbits=serial.STOPBITS_ONE,
                                 timeout=read_timeout, xonxoff=False, rtscts=False, dsrdtr=False)
        self.decoder = StreamDecoder()
        self.seq = 0
        self.inbox: deque = deque()  # frames other than telemetry, oldest first
        self.telemetry: dict | None = None
        self.telemetry_frames = 0
        self.telemetry_at = 0.0
        self.fault_events: list[dict] = []
        self.acks: list[dict] = []
        self.head_seq_gaps = 0
        self._last_head_seq: int | None = None
        self.info: dict | None = None
        self.channels: list[dict] = []
        self.bytes_out = 0
        # Stale bytes the OS buffered before we opened the port are worthless (§7).
        self.ser.reset_input_buffer()

    def close(self):
        self.ser.close()

    # -- sending --------------------------------------------------------------------------

    def write(self, data: bytes):
        self.ser.write(data)
        self.bytes_out += len(data)

    def send(self, msg_type: int, message: dict | None = None) -> int:
        """Sends one message; returns the sequence number it carried."""
        seq = self.seq
        self.write(encode_frame(msg_type, seq, build_payload(msg_type, message or {})))
        self.seq = (self.seq + 1) & 0xFF
        return seq

    def flush_peer(self):
        """A lone delimiter: the head's decoder drops any half frame (§7)."""
        self.write(b"\x00")

    # -- receiving ------------------------------------------------------------------------

    def poll(self, wait: float = 0.0) -> list:
        """Reads what has arrived (waiting up to `wait` s for the first byte); returns frames."""
        frames = []
        deadline = time.monotonic() + wait
        while True:
            n = self.ser.in_waiting
            data = self.ser.read(n if n else 1) if (n or wait > 0) else b""
            if data:
                for item in self.decoder.feed(data):
                    if isinstance(item, Frame):
                        self._note(item)
                        frames.append(item)
            if self.ser.in_waiting:
                continue
            if frames or time.monotonic() >= deadline:
                return frames

    def _note(self, f: Frame):
        if self._last_head_seq is not None and f.seq != (self._last_head_seq + 1) & 0xFF:
            self.head_seq_gaps += 1
        self._last_head_seq = f.seq
        if f.type == T.TELEMETRY:
            self.telemetry = f.message
            self.telemetry_frames += 1
            self.telemetry_at = time.monotonic()
            return
        if f.type == T.FAULT_EVENT:
            self.fault_events.append(f.message)
        if f.type == T.ACK:
            self.acks.append(f.message)
        self.inbox.append(f)

    def wait_for(self, pred, timeout: float, on_idle=None):
        """Polls until a non-telemetry frame satisfies `pred` (it is removed from the inbox).
        `on_idle()` is called between polls (e.g. to keep a command stream going)."""
        deadline = time.monotonic() + timeout
        while True:
            for i, f in enumerate(self.inbox):
                if pred(f):
                    del self.inbox[i]
                    return f
            if time.monotonic() >= deadline:
                return None
            if on_idle:
                on_idle()
            self.poll(wait=0.002)

    def wait_ack(self, msg_type: int, seq: int, timeout: float = 0.5, on_idle=None) -> dict | None:
        f = self.wait_for(lambda f: f.type == T.ACK and f.message["msg_type"] == msg_type
                          and f.message["seq"] == seq, timeout, on_idle)
        return f.message if f else None

    def wait_telemetry(self, timeout: float = 0.5, after: float | None = None, pred=None,
                       on_idle=None) -> dict | None:
        """Waits for a telemetry frame received after `after` (monotonic time) matching `pred`."""
        start = time.monotonic() if after is None else after
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if on_idle:
                on_idle()
            self.poll(wait=0.002)
            if self.telemetry is not None and self.telemetry_at > start:
                if pred is None or pred(self.telemetry):
                    return self.telemetry
        return None

    def drain(self, seconds: float = 0.0):
        end = time.monotonic() + seconds
        while True:
            self.poll(wait=0.002)
            if time.monotonic() >= end:
                return

    # -- commands (§9) ----------------------------------------------------------------------

    def handshake(self, nonce: int, timeout: float = 0.5, attempts: int = 3) -> dict:
        """Steps 1-3 of §12.2: flush, Hello, matching HelloReply."""
        for _ in range(attempts):
            self.flush_peer()
            self.send(T.HELLO, {"nonce": nonce})
            f = self.wait_for(lambda f: f.type == T.HELLO_REPLY and f.message["nonce"] == nonce,
                              timeout)
            if f:
                if f.message["protocol_version"] != PROTOCOL_VERSION:
                    raise ProtocolError(f"head speaks protocol v{f.message['protocol_version']}")
                self.info = f.message
                return f.message
            nonce = (nonce + 1) & 0xFFFFFFFF
        raise ProtocolError("no HelloReply")

    def read_channel_infos(self, count: int, timeout: float = 1.0) -> list[dict]:
        """Step 4 of §12.2: GetChannelInfo for every channel, pipelined."""
        for i in range(count):
            self.send(T.GET_CHANNEL_INFO, {"channel": i})
        infos: dict[int, dict] = {}
        deadline = time.monotonic() + timeout
        while len(infos) < count and time.monotonic() < deadline:
            f = self.wait_for(lambda f: f.type in (T.CHANNEL_INFO, T.ACK) and (
                f.type == T.CHANNEL_INFO or f.message["msg_type"] == T.GET_CHANNEL_INFO),
                deadline - time.monotonic())
            if f is None:
                break
            if f.type == T.ACK:
                raise ProtocolError(f"GetChannelInfo refused: {ACK_CODES[f.message['code']]}")
            infos[f.message["config"]["channel"]] = f.message
        if len(infos) != count:
            raise ProtocolError(f"got {len(infos)} of {count} channel infos")
        self.channels = [infos[i] for i in range(count)]
        return self.channels

    def command(self, msg_type: int, message: dict | None = None, timeout: float = 0.5,
                on_idle=None) -> dict | None:
        """Sends a command answered by an Ack and returns that Ack (or None)."""
        seq = self.send(msg_type, message)
        return self.wait_ack(msg_type, seq, timeout, on_idle)

    def set_targets(self, positions_norm, time_to_target_ms: int = 10) -> int:
        q = [norm_to_q15(x) for x in positions_norm]
        return self.send(T.SET_TARGETS, {"time_to_target_ms": time_to_target_ms,
                                         "positions_q15": q})

    def ping(self, token: int, timeout: float = 0.5, on_idle=None) -> dict | None:
        self.send(T.PING, {"token": token})
        f = self.wait_for(lambda f: f.type == T.PONG and f.message["token"] == token, timeout,
                          on_idle)
        return f.message if f else None


def clamp_to_limits(positions_norm, channels: list[dict]) -> list[float]:
    """Host-side limits (§12.7): clamp into each channel's [min, max]; NaN -> neutral."""
    out = []
    for x, info in zip(positions_norm, channels):
        lo = q15_to_norm(info["config"]["min_q15"])
        hi = q15_to_norm(info["config"]["max_q15"])
        if x != x or x in (float("inf"), float("-inf")):
            x = q15_to_norm(info["neutral_q15"])
        out.append(min(hi, max(lo, x)))
    return out
