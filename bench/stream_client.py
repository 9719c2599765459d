"""Streaming load for `make bench`: many concurrent server-sent-event chat completions over
HTTP/1.1, timing each stream's first token and counting its chunks. Python's standard library
only (asyncio), so it runs wherever the bench does.

  stream_client.py burst URL KEY MODEL CONCURRENCY SECONDS
      CONCURRENCY workers each open one stream after another for SECONDS.
  stream_client.py soak URL KEY MODEL TARGET RAMP_PER_SECOND
      Opens up to TARGET streams, RAMP_PER_SECOND a second, holds them to their end.

Prints one line `BENCH {json}`.
"""
import asyncio
import json
import resource
import sys
import time
from urllib.parse import urlsplit


def request_bytes(url, key, model):
    parts = urlsplit(url)
    body = json.dumps({
        "model": model, "stream": True, "max_tokens": 64,
        "messages": [
            {"role": "system", "content": "You are a concise assistant for a logistics company."},
            {"role": "user", "content": "Summarise in one sentence why a shipment from Rotterdam to Hamburg could be delayed this week."},
        ],
    }, separators=(",", ":")).encode()
    head = (f"POST {parts.path or '/'}/chat/completions HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    return parts.hostname, parts.port or 80, head + body


class Stream:
    """One streamed completion: its status, time to the first data event, events, and whether it reached [DONE]."""

    def __init__(self):
        self.status = 0
        self.first_token_s = None
        self.events = 0
        self.done = False
        self.error = None


async def read_body(reader, chunked):
    """Yields the body as it arrives, undoing chunked transfer encoding."""
    if not chunked:
        while data := await reader.read(65536):
            yield data
        return
    while True:
        size_line = await reader.readline()
        if not size_line:
            return
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            return
        data = await reader.readexactly(size)
        await reader.readexactly(2)
        yield data


async def one_stream(host, port, payload):
    stream = Stream()
    started = time.perf_counter()
    writer = None
    try:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(payload)
        await writer.drain()
        status_line = await reader.readline()
        stream.status = int(status_line.split()[1]) if status_line else 0
        chunked = False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        pending = b""
        async for data in read_body(reader, chunked):
            pending += data
            while b"\n\n" in pending:
                event, pending = pending.split(b"\n\n", 1)
                if not event.startswith(b"data: "):
                    continue
                if event == b"data: [DONE]":
                    stream.done = True
                    continue
                if stream.first_token_s is None:
                    stream.first_token_s = time.perf_counter() - started
                stream.events += 1
    except Exception as error:  # a failed stream is counted, never hidden
        stream.error = type(error).__name__
    finally:
        if writer is not None:
            writer.close()
    return stream


def percentile(values, share):
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summary(streams, seconds, **extra):
    ok = [s for s in streams if s.status == 200 and s.done and s.error is None]
    ttft = [s.first_token_s * 1000 for s in ok if s.first_token_s is not None]
    return {
        "streams": len(streams), "completed": len(ok), "errors": len(streams) - len(ok),
        "seconds": round(seconds, 3), "streams_per_s": round(len(ok) / seconds, 1) if seconds else 0,
        "chunks_per_s": round(sum(s.events for s in ok) / seconds, 1) if seconds else 0,
        "ttft_p50_ms": round(percentile(ttft, 0.5), 2), "ttft_p90_ms": round(percentile(ttft, 0.9), 2),
        "ttft_p99_ms": round(percentile(ttft, 0.99), 2), **extra,
    }


async def burst(url, key, model, concurrency, seconds):
    host, port, payload = request_bytes(url, key, model)
    streams = []
    deadline = time.perf_counter() + seconds

    async def worker():
        while time.perf_counter() < deadline:
            streams.append(await one_stream(host, port, payload))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return summary(streams, time.perf_counter() - started)


async def soak(url, key, model, target, ramp_per_second):
    host, port, payload = request_bytes(url, key, model)
    open_now = 0
    most_open = 0

    async def tracked():
        nonlocal open_now, most_open
        open_now += 1
        most_open = max(most_open, open_now)
        try:
            return await one_stream(host, port, payload)
        finally:
            open_now -= 1

    started = time.perf_counter()
    tasks = []
    for index in range(target):
        tasks.append(asyncio.create_task(tracked()))
        if (index + 1) % max(1, ramp_per_second // 10) == 0:
            await asyncio.sleep(0.1)
    streams = await asyncio.gather(*tasks)
    return summary(streams, time.perf_counter() - started, most_open=most_open)


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    mode, url, key, model, count, number = sys.argv[1:7]
    if mode == "burst":
        result = asyncio.run(burst(url, key, model, int(count), float(number)))
    else:
        result = asyncio.run(soak(url, key, model, int(count), int(number)))
    print("BENCH " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
