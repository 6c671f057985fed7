"""Shelf-hub serial protocol: encoding, parsing, every error kind, framing and hub time."""

from __future__ import annotations

import random

import pytest

from smart_store.drivers.errors import ERROR_KINDS
from smart_store.drivers.protocol import (
    COUNTS_MAX,
    COUNTS_MIN,
    MAX_LINE,
    DistanceSample,
    Heartbeat,
    HubTimeUnwrapper,
    LineSplitter,
    LoadCellSample,
    ProtocolError,
    checksum,
    encode,
    encode_distance,
    encode_heartbeat,
    encode_loadcell,
    hub_time_unwrap,
    parse_line,
)


def with_cs(payload: str, terminator: bytes = b'\r\n') -> bytes:
    """A frame with a correct checksum around any payload."""
    data = payload.encode('latin-1')
    return b'$' + data + b'*' + f'{checksum(data):02X}'.encode() + terminator


# --------------------------------------------------------------------------- encoding
def test_checksum_example_from_protocol_md() -> None:
    assert checksum(b'LC,123456,3,-42137') == 0x09
    assert encode_loadcell(123456, 3, -42137) == b'$LC,123456,3,-42137*09\r\n'
    assert encode_distance(123456, 2, 1893) == b'$DS,123456,2,1893*0D\r\n'
    assert encode_heartbeat(123456, 'hub_lc_a') == b'$HB,123456,hub_lc_a*1C\r\n'


@pytest.mark.parametrize(
    'sample',
    [
        LoadCellSample(0, 0, 0),
        LoadCellSample(2**32 - 1, 63, COUNTS_MIN),
        LoadCellSample(123, 7, COUNTS_MAX),
        LoadCellSample(987654, 12, -1),
        DistanceSample(0, 0, 0),
        DistanceSample(2**32 - 1, 63, 65535),
        DistanceSample(55, 3, 1900),
        Heartbeat(0, 'h'),
        Heartbeat(2**32 - 1, 'hub_distance'),
    ],
)
def test_round_trip(sample: LoadCellSample | DistanceSample | Heartbeat) -> None:
    line = encode(sample)
    assert line.startswith(b'$') and line.endswith(b'\r\n')
    assert parse_line(line) == sample
    # a lone LF or CR terminator is accepted as well
    assert parse_line(line[:-1]) == sample
    assert parse_line(line[:-2] + b'\r') == sample


def test_worst_case_line_lengths_match_the_link_budget() -> None:
    assert len(encode_loadcell(2**32 - 1, 7, COUNTS_MIN)) == 30
    assert len(encode_loadcell(2**32 - 1, 63, COUNTS_MIN)) == 31
    assert len(encode_distance(2**32 - 1, 3, 65535)) == 27


@pytest.mark.parametrize(
    'call',
    [
        lambda: encode_loadcell(-1, 0, 0),
        lambda: encode_loadcell(2**32, 0, 0),
        lambda: encode_loadcell(0, 64, 0),
        lambda: encode_loadcell(0, 0, COUNTS_MAX + 1),
        lambda: encode_distance(0, 0, 65536),
        lambda: encode_distance(0, 0, -1),
        lambda: encode_heartbeat(0, 'bad id'),
        lambda: encode_heartbeat(0, '9lives'),
    ],
)
def test_encoding_out_of_range_raises(call: object) -> None:
    with pytest.raises(ValueError):
        call()  # type: ignore[operator]


def test_encoding_rejects_non_ints() -> None:
    with pytest.raises(TypeError):
        encode_loadcell(0, 0, 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        encode_distance(0, True, 5)


# --------------------------------------------------------------------------- error kinds
ERROR_CASES: list[tuple[str, bytes, str]] = [
    ('no-terminator', b'$LC,1,2,3*11', 'partial'),
    ('no-dollar', b'LC,1,2,3*11\r\n', 'partial'),
    ('cut-mid-line', b'23,4,5\r\n', 'partial'),
    ('no-star', b'$LC,1,2,3\r\n', 'partial'),
    ('empty', b'', 'partial'),
    ('wrong-checksum', b'$LC,123456,3,-42137*0A\r\n', 'checksum'),
    ('checksum-one-digit', b'$LC,123456,3,-42137*9\r\n', 'checksum'),
    ('checksum-not-hex', b'$LC,123456,3,-42137*G9\r\n', 'checksum'),
    ('corrupted-payload', b'$LC,123456,3,-42138*09\r\n', 'checksum'),
    ('too-few-fields', with_cs('LC,1,2'), 'fields'),
    ('too-many-fields', with_cs('DS,1,2,3,4'), 'fields'),
    ('heartbeat-extra-field', with_cs('HB,1,hub,x'), 'fields'),
    ('heartbeat-bad-id', with_cs('HB,1,hub id'), 'fields'),
    ('heartbeat-empty-id', with_cs('HB,1,'), 'fields'),
    ('counts-not-numeric', with_cs('LC,1,2,12a4'), 'non_numeric'),
    ('ms-float', with_cs('LC,1.5,2,3'), 'non_numeric'),
    ('channel-empty', with_cs('DS,1,,3'), 'non_numeric'),
    ('plus-sign', with_cs('LC,1,2,+3'), 'non_numeric'),
    ('space', with_cs('LC,1,2, 3'), 'non_numeric'),
    ('non-ascii-digit', with_cs('LC,1,2,\xb2'), 'non_numeric'),
    ('counts-over-24bit', with_cs('LC,1,2,8388608'), 'range'),
    ('counts-under-24bit', with_cs('LC,1,2,-8388609'), 'range'),
    ('mm-over-65535', with_cs('DS,1,2,65536'), 'range'),
    ('mm-negative', with_cs('DS,1,2,-5'), 'range'),
    ('channel-64', with_cs('LC,1,64,0'), 'range'),
    ('negative-ms', with_cs('LC,-1,2,3'), 'range'),
    ('ms-over-uint32', with_cs('HB,4294967296,hub'), 'range'),
    ('huge-number', with_cs('LC,1,2,' + '9' * 5000), 'range'),
    ('unknown-type', with_cs('XX,1,2,3'), 'unknown_type'),
    ('lowercase-type', with_cs('lc,1,2,3'), 'unknown_type'),
]


@pytest.mark.parametrize(
    ('line', 'kind'), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES]
)
def test_error_kinds(line: bytes, kind: str) -> None:
    result = parse_line(line)
    assert isinstance(result, ProtocolError), result
    assert result.kind == kind, result
    assert result.detail and str(result).startswith(f'{kind}: ')


def test_every_error_kind_is_exercised() -> None:
    assert {c[2] for c in ERROR_CASES} == set(ERROR_KINDS)


def test_noise_before_dollar_and_lowercase_checksum_are_tolerated() -> None:
    noisy = b'\x00\xff#junk$LC,123456,3,-42137*09\r\n'
    assert parse_line(noisy) == LoadCellSample(123456, 3, -42137)
    assert parse_line(b'$DS,123456,2,1893*0d\r\n') == DistanceSample(123456, 2, 1893)
    assert parse_line(bytearray(b'$DS,1,2,3*' + f'{checksum(b"DS,1,2,3"):02X}\n'.encode())) == (
        DistanceSample(1, 2, 3)
    )


def test_random_bytes_never_raise() -> None:
    rng = random.Random(1234)
    alphabet = b'$*,-0123456789ABCDEFLCDSHB\r\n\x00\xff'
    kinds: set[str] = set()
    for i in range(20000):
        n = rng.randrange(0, 60)
        if i % 2:
            data = bytes(rng.randrange(256) for _ in range(n))
        else:  # protocol-looking bytes reach the deeper checks more often
            data = bytes(rng.choice(alphabet) for _ in range(n))
        if i % 3 == 0:
            data += b'\r\n'
        result = parse_line(data)
        assert isinstance(result, LoadCellSample | DistanceSample | Heartbeat | ProtocolError)
        if isinstance(result, ProtocolError):
            kinds.add(result.kind)
    assert {'partial', 'checksum'} <= kinds


def test_mutated_valid_lines_never_raise() -> None:
    rng = random.Random(99)
    base = [
        encode_loadcell(123456, 3, -42137),
        encode_distance(7, 1, 65535),
        encode_heartbeat(9, 'hub_a'),
    ]
    for _ in range(5000):
        line = bytearray(rng.choice(base))
        for _ in range(rng.randrange(1, 4)):
            line[rng.randrange(len(line))] = rng.randrange(256)
        result = parse_line(bytes(line))
        assert isinstance(result, LoadCellSample | DistanceSample | Heartbeat | ProtocolError)


# --------------------------------------------------------------------------- line splitter
def test_splitter_reassembles_lines_from_any_chunking() -> None:
    lines = [encode_loadcell(i, i % 8, i * 1000 - 50000) for i in range(200)]
    stream = b''.join(lines)
    rng = random.Random(5)
    for _ in range(20):
        splitter = LineSplitter()
        out: list[bytes] = []
        pos = 0
        while pos < len(stream):
            n = rng.randrange(1, 40)
            out += splitter.feed(stream[pos : pos + n])
            pos += n
        assert out == lines
        assert splitter.pending == 0 and splitter.overlong == 0


def test_splitter_byte_by_byte_and_terminator_styles() -> None:
    splitter = LineSplitter()
    out: list[bytes] = []
    for byte in b'$A*00\r\n$B*00\n$C*00\r$D*00\r\n\r\n\n$E':
        out += splitter.feed(bytes([byte]))
    assert out == [b'$A*00\r\n', b'$B*00\r\n', b'$C*00\r\n', b'$D*00\r\n']
    assert splitter.pending == 2
    assert splitter.feed(b'*00\r') == [b'$E*00\r\n']
    # a CR at the end of one chunk and its LF at the start of the next make one line
    assert splitter.feed(b'$F*00\r') == [b'$F*00\r\n']
    assert splitter.feed(b'\n$G*00\r\n') == [b'$G*00\r\n']


def test_splitter_drops_and_counts_overlong_garbage() -> None:
    splitter = LineSplitter(max_line=40)
    good = encode_distance(1, 2, 3)
    # overlong garbage arriving in small chunks without any terminator: bounded buffer
    for _ in range(100):
        assert splitter.feed(b'x' * 10) == []
        assert splitter.pending <= 40
    assert splitter.overlong == 1
    # the garbage ends at the next terminator; the following line is fine
    assert splitter.feed(b'yyy\r\n' + good) == [good]
    # an overlong line that arrives complete in one chunk
    assert splitter.feed(b'z' * 41 + b'\n' + good) == [good]
    assert splitter.overlong == 2
    assert splitter.dropped_bytes == 1000 + 3 + 41
    # exactly max_line is still a line
    assert splitter.feed(b'a' * 40 + b'\r\n') == [b'a' * 40 + b'\r\n']


def test_splitter_reset_forgets_partial_line() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b'$LC,12,3') == []
    splitter.reset()
    assert splitter.pending == 0
    line = encode_loadcell(1, 1, 1)
    assert splitter.feed(line) == [line]
    assert MAX_LINE >= 70
    with pytest.raises(ValueError):
        LineSplitter(0)


def test_splitter_lines_parse() -> None:
    splitter = LineSplitter()
    stream = encode_heartbeat(5, 'hub_lc_a') + b'\x07garbage\r\n' + encode_loadcell(6, 0, 1)
    results = [parse_line(line) for line in splitter.feed(stream)]
    assert results[0] == Heartbeat(5, 'hub_lc_a')
    assert isinstance(results[1], ProtocolError) and results[1].kind == 'partial'
    assert results[2] == LoadCellSample(6, 0, 1)


# --------------------------------------------------------------------------- hub time
def test_hub_time_unwrap() -> None:
    wrap = 2**32
    assert hub_time_unwrap(5, None) == 5
    assert hub_time_unwrap(1012, 1000) == 1012
    assert hub_time_unwrap(5, wrap - 6) == wrap + 5           # forward across the wrap
    assert hub_time_unwrap(wrap - 6, wrap + 5) == wrap - 6    # a late line from before it
    assert hub_time_unwrap(995, 1000) == 995                  # reordered lines go backwards
    assert hub_time_unwrap(7, 3 * wrap + 2) == 3 * wrap + 7
    assert hub_time_unwrap(2, 5 * wrap - 1) == 5 * wrap + 2


def test_hub_time_unwrapper_is_monotonic_over_many_wraps() -> None:
    unwrap = HubTimeUnwrapper()
    true_ms = 2**32 - 40_000
    last = unwrap(true_ms)
    for _ in range(5000):
        true_ms += 12_500_000  # 3.5 h steps, well below half the wrap period
        value = unwrap(true_ms % 2**32)
        assert value == true_ms and value > last
        last = value
    assert last // 2**32 == 15  # the raw clock wrapped 15 times
    unwrap.reset()
    assert unwrap(10) == 10
