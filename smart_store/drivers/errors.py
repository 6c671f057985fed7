"""Error values of the shelf-hub serial protocol (see PROTOCOL.md next to this file).

``parse_line`` never raises on input bytes: a line it cannot accept comes back as a
``ProtocolError`` *value*, so a driver's read loop can count and log bad lines by ``kind``
without try/except around every line. Encoding our own values out of range is a programming
error and raises ``ValueError`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

__all__ = ['ERROR_KINDS', 'ErrorKind', 'ProtocolError']

#: Why a line was rejected:
#:   partial       no line terminator, no ``$`` start marker or no ``*`` before the checksum
#:                 (a line cut by a reconnect, a stall or a lost byte)
#:   checksum      the checksum field is not two hex digits, or does not match the payload
#:   fields        wrong number of comma-separated fields for the message type (or a bad hub id)
#:   non_numeric   a numeric field is not a decimal integer
#:   range         a number outside its range (counts outside signed 24 bit, mm > 65535,
#:                 channel > 63, negative or > uint32 hub_ms)
#:   unknown_type  a well-formed, checksummed line of a type this protocol does not know
ErrorKind = Literal['partial', 'checksum', 'fields', 'non_numeric', 'range', 'unknown_type']
ERROR_KINDS: tuple[str, ...] = get_args(ErrorKind)


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """A rejected line: ``kind`` (one of ``ERROR_KINDS``) and a short human-readable ``detail``."""

    kind: ErrorKind
    detail: str

    def __str__(self) -> str:
        return f'{self.kind}: {self.detail}'
