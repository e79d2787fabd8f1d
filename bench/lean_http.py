"""A lean HTTP/1.1 JSON client for the simulated fleet: one keep-alive connection per worker,
requests written as bytes, responses read by their Content-Length.

The load generator is not what a benchmark of the controller measures. With one simulated
worker the cycle is serial, and httpx's `AsyncClient` (pure-Python HTTP parsing, a
connection pool, anyio) spent about a millisecond of the shared 2 cores on each request. This
client does only what the work protocol needs: POST a JSON body, read a JSON answer. It
raises httpx's transport errors, so that callers handle a lost controller the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any
from urllib.parse import urlsplit

import httpx

__all__ = ["LeanClient", "LeanResponse"]


class LeanResponse:
    def __init__(self, status_code: int, body: bytes) -> None:
        self.status_code = status_code
        self.content = body

    def json(self) -> Any:
        return json.loads(self.content)

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise httpx.HTTPStatusError(
                f"HTTP {self.status_code}: {self.content[:200]!r}",
                request=httpx.Request("POST", "/"),
                response=httpx.Response(self.status_code, content=self.content),
            )


class LeanClient:
    """`post(path, json=...)` over one connection, opened again when it was lost."""

    def __init__(self, base_url: str, timeout: float, headers: dict[str, str]) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"the lean client speaks plain http only, not {base_url}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.timeout = timeout
        fixed = {"Host": f"{self.host}:{self.port}", "Content-Type": "application/json"}
        self._head = "".join(f"{k}: {v}\r\n" for k, v in {**fixed, **headers}.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> LeanClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def post(self, path: str, json: Any) -> LeanResponse:
        body = _dumps(json)
        request = (
            f"POST {path} HTTP/1.1\r\n{self._head}Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        try:
            return await asyncio.wait_for(self._exchange(request), self.timeout)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            await self.aclose()
            raise httpx.ReadError(f"{path}: {exc!r}") from exc

    async def _exchange(self, request: bytes) -> LeanResponse:
        reused = self._writer is not None
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        self._writer.write(request)
        try:
            head = await self._reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionResetError) as exc:
            if not reused or getattr(exc, "partial", b""):
                raise
            # A kept-alive connection that the server had closed (its idle timeout) before
            # answering anything: the request again on a new connection, once (the fleet
            # retries any other transport error after a pause).
            await self.aclose()
            return await self._exchange(request)
        status_line, *lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", ""):
            raise ValueError("chunked answers are not read by the lean client")
        length = int(headers.get("content-length", "0"))
        body = await self._reader.readexactly(length) if length else b""
        if headers.get("connection", "").lower() == "close":
            await self.aclose()
        return LeanResponse(status, body)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
