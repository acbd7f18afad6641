"""The buffer between a streamed turn and its writer: order, backpressure, batches, and the end of a stream."""

from __future__ import annotations

import asyncio

from aura.adapters.http.streaming import FrameBuffer


async def test_frames_come_out_in_order_in_batches_of_at_most_the_cap() -> None:
    frames = FrameBuffer(limit=100)
    for index in range(5):
        frames.put_nowait(f"f{index}".encode())
    assert await frames.take(3) == [b"f0", b"f1", b"f2"]
    assert await frames.take(3) == [b"f3", b"f4"]


async def test_a_full_buffer_makes_the_producer_wait_until_the_writer_takes_frames() -> None:
    frames = FrameBuffer(limit=2)
    frames.put_nowait(b"a")
    frames.put_nowait(b"b")
    assert frames.full()
    producer = asyncio.create_task(frames.put(b"c"))
    await asyncio.sleep(0.01)
    assert not producer.done()  # nothing is dropped: it waits
    assert await frames.take(10) == [b"a", b"b"]
    await asyncio.wait_for(producer, 1)
    assert await frames.take(10) == [b"c"]


async def test_the_writer_waits_for_a_frame_and_wakes_when_one_arrives() -> None:
    frames = FrameBuffer(limit=10)
    writer = asyncio.create_task(frames.take(10))
    await asyncio.sleep(0.01)
    assert not writer.done()
    frames.put_nowait(b"late")
    assert await asyncio.wait_for(writer, 1) == [b"late"]


async def test_after_close_the_frames_already_added_are_taken_then_the_stream_ends() -> None:
    frames = FrameBuffer(limit=10)
    frames.put_nowait(b"last chunk")
    frames.put_nowait(b"data: [DONE]\n\n")
    frames.close()
    frames.put_nowait(b": heartbeat\n\n")  # a heartbeat timer that fires after the end adds nothing
    assert await frames.take(10) == [b"last chunk", b"data: [DONE]\n\n"]
    assert await frames.take(10) == []


async def test_close_wakes_a_waiting_writer_with_the_end_of_the_stream() -> None:
    frames = FrameBuffer(limit=10)
    writer = asyncio.create_task(frames.take(10))
    await asyncio.sleep(0.01)
    frames.close()
    assert await asyncio.wait_for(writer, 1) == []
