"""Small HTTP helpers shared by the double's routes."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from .faults import RouteFault


@dataclass
class UploadedFile:
    """One `files[n]` part of a multipart request."""

    field: str
    filename: str
    data: bytes
    content_type: str | None = None


@dataclass
class ParsedBody:
    """A request body: the JSON (or `payload_json`) and any files."""

    json: Any = None
    files: list[UploadedFile] = field(default_factory=list)
    multipart: bool = False


BODY = web.RequestKey("body", ParsedBody)


class DiscordError(Exception):
    """Raised by handlers to answer with Discord's error shape."""

    def __init__(self, status: int, code: int, message: str, extra: dict[str, Any] | None = None):
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra or {}

    def response(self) -> web.Response:
        """The JSON error response."""
        return json_response(
            {"message": self.message, "code": self.code, **self.extra}, self.status
        )


def json_response(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A response with `Content-Type: application/json` exactly (discord.py compares it)."""
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    return web.Response(body=json.dumps(data).encode(), status=status, headers=all_headers)


def no_content() -> web.Response:
    """204 with no body."""
    return web.Response(status=204)


def fault_response(fault: RouteFault) -> web.Response:
    """The answer for an injected fault; 429s carry what discord.py needs to retry."""
    if fault.status != 429:
        return DiscordError(fault.status, fault.code, fault.message).response()
    wait = fault.wait()
    headers = {
        "Via": "1.1 google",
        "Retry-After": str(max(1, math.ceil(wait))),
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset-After": f"{wait:.3f}",
        "X-RateLimit-Bucket": "double-bucket",
        "X-RateLimit-Scope": "global" if fault.is_global else "user",
    }
    if fault.is_global:
        headers["X-RateLimit-Global"] = "true"
    body = {"message": fault.message, "retry_after": wait, "global": fault.is_global}
    return json_response(body, 429, headers)


async def parse_body(request: web.Request) -> ParsedBody:
    """Read JSON or multipart (`payload_json` + `files[n]`) once."""
    ctype = request.content_type
    if ctype.startswith("multipart/"):
        parsed = ParsedBody(multipart=True)
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue  # nested multipart is not used by Discord clients
            data = await part.read(decode=False)
            name = part.name or ""
            if name == "payload_json":
                parsed.json = json.loads(data)
            else:
                filename = part.filename or name
                ctype_part = part.headers.get("Content-Type")
                parsed.files.append(UploadedFile(name, filename, bytes(data), ctype_part))
        return parsed
    raw = await request.read()
    if not raw:
        return ParsedBody()
    try:
        return ParsedBody(json=json.loads(raw))
    except ValueError:
        raise DiscordError(400, 50109, "The request body contains invalid JSON.") from None
