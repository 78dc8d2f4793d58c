"""Frames between supervisor and hosts: whole frames survive any split of the byte stream, and
a broken stream is detected, never misread."""

from __future__ import annotations

import asyncio
import struct

import pytest

from gateway.frames import MAX_FRAME, FrameError, encode, encode_events, read_frame


def reader_with(*chunks: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    for chunk in chunks:
        reader.feed_data(chunk)
    reader.feed_eof()
    return reader


async def test_frames_round_trip_however_the_bytes_arrive() -> None:
    frames = [{"op": "ping", "req": n, "text": "olá 👋" * n} for n in range(50)]
    stream = b"".join(encode(f) for f in frames)
    reader = reader_with(*(stream[i : i + 7] for i in range(0, len(stream), 7)))
    assert [await read_frame(reader) for _ in frames] == frames
    assert await read_frame(reader) is None


async def test_events_are_framed_from_json_serialized_once() -> None:
    reader = reader_with(encode_events(['{"id": 1}', '{"id": 2}'], upto=7))
    assert await read_frame(reader) == {"op": "events", "upto": 7, "events": [{"id": 1}, {"id": 2}]}


@pytest.mark.parametrize(
    ("stream", "complaint"),
    [
        (encode({"op": "ping"})[:-3], "inside a frame"),
        (b"\x00\x00", "inside a frame header"),
        (struct.pack(">I", 3) + b"abc", "not JSON"),
        (struct.pack(">I", 2) + b"[]", "no op"),
        (struct.pack(">I", MAX_FRAME + 1), "larger than"),
    ],
)
async def test_a_broken_stream_is_an_error(stream: bytes, complaint: str) -> None:
    with pytest.raises(FrameError, match=complaint):
        await read_frame(reader_with(stream))
