"""The simulated fleet's lean HTTP client, against a small server that answers as told."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import httpx
import pytest

from bench.lean_http import LeanClient

# One canned answer per request: status, body, extra header lines; the server closes the
# connection after an answer when told to ("close"), or without answering ("drop").
Answer = tuple[int, bytes, str]


async def _serve(
    answers: list[Answer | str], seen: list[dict[str, object]]
) -> tuple[asyncio.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while answers:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            lines = head.decode().split("\r\n")
            length = next(int(x.split(":")[1]) for x in lines if x.startswith("Content-Length"))
            body = await reader.readexactly(length)
            seen.append({"line": lines[0], "headers": lines[1:], "body": json.loads(body)})
            answer = answers.pop(0)
            if answer == "drop":
                break
            status, content, extra = answer  # type: ignore[misc]
            head_lines = [f"HTTP/1.1 {status} X", f"content-length: {len(content)}", extra]
            writer.write("".join(f"{x}\r\n" for x in head_lines if x).encode() + b"\r\n")
            writer.write(content)
            await writer.drain()
            if "close" in extra:
                break
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def _run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 10))


def test_posts_json_and_reads_answers_on_one_connection() -> None:
    async def test() -> None:
        seen: list[dict[str, object]] = []
        answers: list[Answer | str] = [(200, b'{"prune": false}', ""), (204, b"", "")]
        server, port = await _serve(answers, seen)
        async with LeanClient(f"http://127.0.0.1:{port}", 5, {"Authorization": "Bearer t"}) as c:
            first = await c.post("/api/v1/work/7/report", json={"epoch": 1})
            second = await c.post("/api/v1/work/claim", json={"worker_id": "w"})
        server.close()
        assert first.status_code == 200 and first.json() == {"prune": False}
        assert second.status_code == 204 and second.content == b""
        assert seen[0]["line"] == "POST /api/v1/work/7/report HTTP/1.1"
        assert "Authorization: Bearer t" in seen[0]["headers"]  # type: ignore[operator]
        assert seen[1]["body"] == {"worker_id": "w"}

    _run(test)


def test_error_status_raises_on_raise_for_status() -> None:
    async def test() -> None:
        server, port = await _serve([(409, b'{"detail": "gone"}', "")], [])
        async with LeanClient(f"http://127.0.0.1:{port}", 5, {}) as client:
            answer = await client.post("/x", json={})
        server.close()
        assert answer.status_code == 409
        with pytest.raises(httpx.HTTPStatusError):
            answer.raise_for_status()

    _run(test)


def test_a_connection_closed_while_idle_is_opened_again() -> None:
    async def test() -> None:
        seen: list[dict[str, object]] = []
        answers: list[Answer | str] = [(200, b"{}", "connection: close"), (200, b"[1]", "")]
        server, port = await _serve(answers, seen)
        async with LeanClient(f"http://127.0.0.1:{port}", 5, {}) as client:
            await client.post("/a", json={})
            again = await client.post("/b", json={})
        server.close()
        assert again.json() == [1] and len(seen) == 2

    _run(test)


def test_a_kept_connection_dropped_without_an_answer_is_tried_once_more() -> None:
    async def test() -> None:
        seen: list[dict[str, object]] = []
        answers: list[Answer | str] = [(200, b"{}", ""), "drop", (200, b"[2]", "")]
        server, port = await _serve(answers, seen)
        async with LeanClient(f"http://127.0.0.1:{port}", 5, {}) as client:
            await client.post("/a", json={})
            again = await client.post("/b", json={"n": 2})
        server.close()
        assert again.json() == [2]
        assert [s["body"] for s in seen] == [{}, {"n": 2}, {"n": 2}]

    _run(test)


def test_no_server_is_a_transport_error() -> None:
    async def test() -> None:
        server, port = await _serve([], [])
        server.close()
        await server.wait_closed()
        async with LeanClient(f"http://127.0.0.1:{port}", 5, {}) as client:
            with pytest.raises(httpx.TransportError):
                await client.post("/a", json={})

    _run(test)


def test_only_plain_http() -> None:
    with pytest.raises(ValueError, match="plain http"):
        LeanClient("https://example.org", 5, {})
