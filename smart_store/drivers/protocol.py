"""The shelf hubs' serial line protocol, shared by the drivers and the digital twin.

One ASCII line per message (full description, rates and a checksum example: PROTOCOL.md)::

    $LC,<hub_ms>,<channel>,<counts>*<CS>\\r\\n     load cell sample, counts = signed 24-bit
    $DS,<hub_ms>,<channel>,<mm>*<CS>\\r\\n         distance sample, mm = 0..65535 (65535 = none)
    $HB,<hub_ms>,<hub_id>*<CS>\\r\\n               heartbeat, once a second

``hub_ms`` is a uint32 millisecond counter since hub boot (wraps after ~49.7 days; see
``hub_time_unwrap``), ``channel`` is 0..63, ``CS`` is two upper-case hex digits: the XOR of all
bytes between ``$`` and ``*``.

Parsing never raises on input bytes: ``parse_line`` returns either a sample or a
``ProtocolError`` value. ``LineSplitter`` turns arbitrary read chunks into complete lines.
Pure Python, no ROS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from smart_store.drivers.errors import ERROR_KINDS, ErrorKind, ProtocolError

__all__ = [
    'CHANNEL_MAX',
    'COUNTS_MAX',
    'COUNTS_MIN',
    'ERROR_KINDS',
    'HUB_MS_MODULUS',
    'MAX_LINE',
    'MM_MAX',
    'MM_NO_TARGET',
    'DistanceSample',
    'Heartbeat',
    'HubTimeUnwrapper',
    'LineSplitter',
    'LoadCellSample',
    'ProtocolError',
    'Sample',
    'checksum',
    'encode',
    'encode_distance',
    'encode_heartbeat',
    'encode_loadcell',
    'hub_time_unwrap',
    'parse_line',
]

HUB_MS_MODULUS: Final = 1 << 32          # hub_ms is a uint32: it wraps to 0 after 2**32 - 1
COUNTS_MIN: Final = -(1 << 23)           # HX711-style signed 24-bit raw counts
COUNTS_MAX: Final = (1 << 23) - 1
MM_MAX: Final = 65535
MM_NO_TARGET: Final = 65535              # nothing within the sensor's range
CHANNEL_MAX: Final = 63
HUB_ID_MAX_LEN: Final = 48
#: Longest line a LineSplitter accepts by default (terminator excluded). A valid $LC line is at
#: most 31 bytes with its CRLF, a heartbeat with a 48-character hub id 70 bytes.
MAX_LINE: Final = 128


@dataclass(frozen=True, slots=True)
class LoadCellSample:
    """Raw load-cell reading: ``grams = (counts - offset) / scale`` (LoadCellChannel)."""

    hub_ms: int
    channel: int
    counts: int


@dataclass(frozen=True, slots=True)
class DistanceSample:
    """Distance reading in millimetres; ``mm == MM_NO_TARGET`` means nothing in range."""

    hub_ms: int
    channel: int
    mm: int


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Sent once a second by every hub, also when it has nothing else to say."""

    hub_ms: int
    hub_id: str


Sample = LoadCellSample | DistanceSample | Heartbeat


# ------------------------------------------------------------------------------------ encoding
def checksum(payload: bytes) -> int:
    """XOR of all bytes of ``payload`` (the bytes between ``$`` and ``*``)."""
    cs = 0
    for byte in payload:
        cs ^= byte
    return cs


def _frame(payload: str) -> bytes:
    data = payload.encode('ascii')
    return b'$' + data + b'*' + f'{checksum(data):02X}'.encode('ascii') + b'\r\n'


def _check(name: str, value: int, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f'{name} must be an int, got {type(value).__name__}')
    if not lo <= value <= hi:
        raise ValueError(f'{name}={value} outside {lo}..{hi}')


def encode_loadcell(hub_ms: int, channel: int, counts: int) -> bytes:
    """``$LC,<hub_ms>,<channel>,<counts>*CS\\r\\n``; ``ValueError`` for out-of-range values."""
    _check('hub_ms', hub_ms, 0, HUB_MS_MODULUS - 1)
    _check('channel', channel, 0, CHANNEL_MAX)
    _check('counts', counts, COUNTS_MIN, COUNTS_MAX)
    return _frame(f'LC,{hub_ms},{channel},{counts}')


def encode_distance(hub_ms: int, channel: int, mm: int) -> bytes:
    """``$DS,<hub_ms>,<channel>,<mm>*CS\\r\\n``; ``ValueError`` for out-of-range values."""
    _check('hub_ms', hub_ms, 0, HUB_MS_MODULUS - 1)
    _check('channel', channel, 0, CHANNEL_MAX)
    _check('mm', mm, 0, MM_MAX)
    return _frame(f'DS,{hub_ms},{channel},{mm}')


def encode_heartbeat(hub_ms: int, hub_id: str) -> bytes:
    """``$HB,<hub_ms>,<hub_id>*CS\\r\\n``; the hub id is a config id (letter, then [A-Za-z0-9_])."""
    _check('hub_ms', hub_ms, 0, HUB_MS_MODULUS - 1)
    if not _HUB_ID_RE.fullmatch(hub_id.encode('ascii', 'replace')):
        raise ValueError(f'invalid hub id {hub_id!r}')
    return _frame(f'HB,{hub_ms},{hub_id}')


def encode(sample: Sample) -> bytes:
    """Encode any sample type."""
    if isinstance(sample, LoadCellSample):
        return encode_loadcell(sample.hub_ms, sample.channel, sample.counts)
    if isinstance(sample, DistanceSample):
        return encode_distance(sample.hub_ms, sample.channel, sample.mm)
    return encode_heartbeat(sample.hub_ms, sample.hub_id)


# ------------------------------------------------------------------------------------- parsing
_HEX2 = re.compile(rb'[0-9A-Fa-f]{2}')
_INT = re.compile(rb'-?[0-9]{1,12}')
_DIGITS = re.compile(rb'-?[0-9]+')
_HUB_ID_RE = re.compile(rb'[A-Za-z][A-Za-z0-9_]{0,%d}' % (HUB_ID_MAX_LEN - 1))
# message type -> number of comma-separated fields including the type
_FIELD_COUNT: Final = {b'LC': 4, b'DS': 4, b'HB': 3}


def _err(kind: ErrorKind, detail: str) -> ProtocolError:
    return ProtocolError(kind, detail)


def _show(field: bytes) -> str:
    text = repr(field[:20])
    return text + ('...' if len(field) > 20 else '')


def _number(name: str, field: bytes, lo: int, hi: int) -> int | ProtocolError:
    if not _INT.fullmatch(field):
        if _DIGITS.fullmatch(field):
            return _err('range', f'{name} {_show(field)} has too many digits')
        return _err('non_numeric', f'{name} {_show(field)} is not a decimal integer')
    value = int(field)
    if not lo <= value <= hi:
        return _err('range', f'{name}={value} outside {lo}..{hi}')
    return value


def parse_line(line: bytes | bytearray | memoryview) -> Sample | ProtocolError:
    """Parse one line (with its terminator: CRLF, LF or CR) into a sample.

    Returns a ``ProtocolError`` value for anything else; never raises on any byte content.
    Bytes before the last ``$`` of the line are ignored (noise after a reconnect).
    """
    data = bytes(line)
    if not data.endswith((b'\n', b'\r')):
        return _err('partial', 'no line terminator')
    body = data.rstrip(b'\r\n')
    start = body.rfind(b'$')
    if start < 0:
        return _err('partial', 'no $ start marker')
    frame = body[start + 1:]
    star = frame.rfind(b'*')
    if star < 0:
        return _err('partial', 'no * before the checksum')
    payload, cs_field = frame[:star], frame[star + 1:]
    if not _HEX2.fullmatch(cs_field):
        return _err('checksum', f'checksum field {_show(cs_field)} is not two hex digits')
    expected = checksum(payload)
    if int(cs_field, 16) != expected:
        return _err('checksum', f'checksum {cs_field.decode("ascii")} != computed {expected:02X}')
    fields = payload.split(b',')
    kind = fields[0]
    count = _FIELD_COUNT.get(kind)
    if count is None:
        return _err('unknown_type', f'message type {_show(kind)}')
    if len(fields) != count:
        return _err('fields', f'{kind.decode()} needs {count} fields, got {len(fields)}')
    hub_ms = _number('hub_ms', fields[1], 0, HUB_MS_MODULUS - 1)
    if isinstance(hub_ms, ProtocolError):
        return hub_ms
    if kind == b'HB':
        if not _HUB_ID_RE.fullmatch(fields[2]):
            return _err('fields', f'invalid hub id {_show(fields[2])}')
        return Heartbeat(hub_ms, fields[2].decode('ascii'))
    channel = _number('channel', fields[2], 0, CHANNEL_MAX)
    if isinstance(channel, ProtocolError):
        return channel
    if kind == b'LC':
        counts = _number('counts', fields[3], COUNTS_MIN, COUNTS_MAX)
        if isinstance(counts, ProtocolError):
            return counts
        return LoadCellSample(hub_ms, channel, counts)
    mm = _number('mm', fields[3], 0, MM_MAX)
    if isinstance(mm, ProtocolError):
        return mm
    return DistanceSample(hub_ms, channel, mm)


# ------------------------------------------------------------------------------- line splitter
_TERMINATOR = re.compile(rb'[\r\n]')


class LineSplitter:
    """Turns arbitrary chunks of a byte stream (partial reads) into complete lines.

    CR, LF and CRLF all end a line; empty lines are skipped (so CRLF is not two lines). Each
    returned line is the line's content followed by ``b'\\r\\n'`` (whatever terminator it had),
    ready for ``parse_line``. A line longer than ``max_line`` bytes (terminator excluded) is
    garbage: it is dropped up to the next terminator and counted in ``overlong`` (its bytes in
    ``dropped_bytes``), and the buffer never holds more than ``max_line`` bytes.
    """

    def __init__(self, max_line: int = MAX_LINE) -> None:
        if max_line < 1:
            raise ValueError('max_line must be >= 1')
        self.max_line = max_line
        self.overlong = 0
        self.dropped_bytes = 0
        self._buf = bytearray()
        self._discarding = False  # inside an overlong line: drop until the next terminator

    @property
    def pending(self) -> int:
        """Bytes of an unfinished line held for the next chunk."""
        return len(self._buf)

    def reset(self) -> None:
        """Forget an unfinished line (call after a reconnect: it can never be completed)."""
        self.dropped_bytes += len(self._buf)
        self._buf.clear()
        self._discarding = False

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[bytes]:
        """Add ``chunk``; return the lines it completed, in order."""
        lines: list[bytes] = []
        data = bytes(chunk)
        pos = 0
        for match in _TERMINATOR.finditer(data):
            end = match.start()
            self._complete(data[pos:end], lines)
            pos = end + 1
        tail = data[pos:]
        if self._discarding:
            self.dropped_bytes += len(tail)
        elif len(self._buf) + len(tail) > self.max_line:
            self.dropped_bytes += len(self._buf) + len(tail)
            self._buf.clear()
            self._discarding = True
            self.overlong += 1
        else:
            self._buf += tail
        return lines

    def _complete(self, piece: bytes, lines: list[bytes]) -> None:
        if self._discarding:
            self.dropped_bytes += len(piece)
            self._discarding = False
            return
        if not self._buf and not piece:
            return  # empty line (second half of CRLF, or blank)
        if len(self._buf) + len(piece) > self.max_line:
            self.dropped_bytes += len(self._buf) + len(piece)
            self.overlong += 1
            self._buf.clear()
            return
        line = bytes(self._buf) + piece + b'\r\n' if self._buf else piece + b'\r\n'
        self._buf.clear()
        lines.append(line)


# -------------------------------------------------------------------------------- hub time
def hub_time_unwrap(raw_ms: int, previous: int | None) -> int:
    """Unwrap a uint32 ``hub_ms`` into a monotonic-ish int given the previous unwrapped value.

    Chooses the value congruent to ``raw_ms`` modulo 2**32 nearest to ``previous`` (``None``:
    the first sample, returned as is). So 4294967290 followed by 5 gives 4294967301. A result
    below ``previous`` means the hub's clock went backwards: lines out of order, or a reboot
    (a reboot after less than ~24.8 days of uptime reads as a large backward jump).
    """
    if previous is None:
        return raw_ms
    half = HUB_MS_MODULUS // 2
    candidate = previous - previous % HUB_MS_MODULUS + raw_ms % HUB_MS_MODULUS
    diff = candidate - previous
    if diff >= half:
        candidate -= HUB_MS_MODULUS
    elif diff < -half:
        candidate += HUB_MS_MODULUS
    return candidate


class HubTimeUnwrapper:
    """Stateful ``hub_time_unwrap`` for one hub: ``unwrapper(raw_ms) -> unwrapped ms``."""

    def __init__(self) -> None:
        self.last: int | None = None

    def __call__(self, raw_ms: int) -> int:
        self.last = hub_time_unwrap(raw_ms, self.last)
        return self.last

    def reset(self) -> None:
        """Forget the history (after a hub reboot or a reconnect)."""
        self.last = None
