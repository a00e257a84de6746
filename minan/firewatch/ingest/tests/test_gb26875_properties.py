"""Property tests of the GB/T 26875.3 codec: the stream decoder never raises on any
bytes, a single-frame decode raises nothing but FrameError, and frames built from arbitrary field
values survive encode -> decode, alone and as a stream cut at arbitrary points."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given
from hypothesis import strategies as st

from minan.core.tests.properties import PURE
from minan.firewatch.ingest import gb26875 as gb

times = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31, 23, 59, 59)).map(
        lambda t: t.replace(microsecond=0, tzinfo=gb.DEVICE_TZ)
    ),
)
frames = st.builds(
    gb.Frame,
    serial=st.integers(0, 0xFFFF),
    main_version=st.integers(0, 0xFF),
    user_version=st.integers(0, 0xFF),
    sent_at=times,
    source=st.integers(0, 2**48 - 1),
    destination=st.integers(0, 2**48 - 1),
    command=st.sampled_from(sorted(gb.STANDARD_COMMANDS)),
    adu=st.binary(max_size=gb.ADU_MAX),
)
# Bytes that often look like frames: start and end markers, real frames and their pieces mixed in.
framey = st.lists(
    st.one_of(
        st.binary(max_size=64),
        st.sampled_from([gb.START, gb.END, b"@", b"@@@", b"#"]),
        frames.map(lambda f: f.encode()),
        frames.map(lambda f: f.encode()[: len(f.encode()) // 2]),
    ),
    max_size=8,
).map(b"".join)


def _cut(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:], strict=False)]


@PURE
@given(data=st.one_of(st.binary(max_size=3000), framey), cuts=st.lists(st.integers(0, 5000), max_size=6))
def test_the_stream_decoder_never_raises_and_stays_bounded(data: bytes, cuts: list[int]) -> None:
    decoder = gb.StreamDecoder(slice_size=512)
    for chunk in _cut(data, cuts):
        for item in decoder.feed(chunk):
            assert isinstance(item, gb.Frame | gb.FrameError)
        assert decoder.pending <= decoder.max_buffer


@PURE
@given(data=st.one_of(st.binary(max_size=1200), framey))
def test_decoding_one_frame_raises_nothing_but_frame_error(data: bytes) -> None:
    try:
        frame = gb.Frame.decode(data)
    except gb.FrameError as exc:
        assert exc.reason in {"start", "end", "checksum", "length", "command", "adu"}
        return
    assert frame.encode() == data  # whatever decodes re-encodes to the same bytes


@PURE
@given(adu=st.binary(max_size=300), command=st.integers(0, 255))
def test_adu_parsing_and_signals_raise_nothing_but_frame_error(adu: bytes, command: int) -> None:
    try:
        gb.parse_adu(adu, command)
    except gb.FrameError as exc:
        assert exc.reason == "adu"
    frame = gb.Frame(1, 1, 1, None, 1, 2, command if command in gb.STANDARD_COMMANDS else 2, adu)
    assert isinstance(gb.to_signals(frame), list)  # a refused ADU becomes a "malformed" signal


@PURE
@given(frame=frames)
def test_a_frame_survives_encode_then_decode(frame: gb.Frame) -> None:
    data = frame.encode()
    assert len(data) == gb.FRAME_OVERHEAD + len(frame.adu)
    assert gb.Frame.decode(data) == frame


@PURE
@given(
    sent=st.lists(frames, min_size=1, max_size=5),
    garbage=st.binary(max_size=40).filter(lambda b: b"@" not in b),
    cuts=st.lists(st.integers(0, 6000), max_size=8),
)
def test_frames_in_a_stream_come_out_in_order_whatever_the_cuts(
    sent: list[gb.Frame], garbage: bytes, cuts: list[int]
) -> None:
    stream = garbage + b"".join(f.encode() for f in sent)
    decoder = gb.StreamDecoder()
    out: list[gb.Frame | gb.FrameError] = []
    for chunk in _cut(stream, cuts):
        out += decoder.feed(chunk)
    assert [item for item in out if isinstance(item, gb.Frame)] == sent
    assert all(item.reason == "start" for item in out if isinstance(item, gb.FrameError))
    assert decoder.pending == 0
