"""fetch: blocking HTTP over wasi:http, through the runner's egress gate."""

import json as _json
import urllib.parse

from componentize_py_types import Err, Ok
from wit_world.imports import outgoing_handler, streams
from wit_world.imports.wasi_http_types import (
    Fields,
    Method_Delete,
    Method_Get,
    Method_Head,
    Method_Other,
    Method_Patch,
    Method_Post,
    Method_Put,
    OutgoingBody,
    OutgoingRequest,
    Scheme_Http,
    Scheme_Https,
)

_METHODS = {
    "GET": Method_Get,
    "POST": Method_Post,
    "PUT": Method_Put,
    "PATCH": Method_Patch,
    "DELETE": Method_Delete,
    "HEAD": Method_Head,
}
_CHUNK = 4096


class HttpError(Exception):
    """The request was refused by the runner (egress, injection) or failed."""


class Response:
    """A whole HTTP response: status, headers (lowercase names), body bytes."""

    def __init__(self, status: int, headers: dict, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self):
        return _json.loads(self.body)

    def __repr__(self) -> str:
        return f"<Response {self.status}, {len(self.body)} bytes>"


def fetch(url: str, method: str = "GET", headers=None, body=None) -> Response:
    """Sends one request and reads the whole response."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise HttpError(f"not an http(s) URL: {url!r}")
    if isinstance(body, str):
        body = body.encode()
    pairs = [(k.lower(), str(v).encode()) for k, v in (headers or {}).items()]
    request = OutgoingRequest(Fields.from_list(pairs))
    verb = method.upper()
    request.set_method(_METHODS[verb]() if verb in _METHODS else Method_Other(verb))
    request.set_scheme(Scheme_Https() if parts.scheme == "https" else Scheme_Http())
    request.set_authority(parts.netloc)
    request.set_path_with_query((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
    outgoing = request.body()
    # Resources are dropped child first (`with`): a body outlived by its
    # stream, or a response by its body, makes the host trap.
    with outgoing_handler.handle(request, None) as future:
        _write_body(outgoing, body or b"")
        with future.subscribe() as ready:
            ready.block()
        outcome = future.get()
    if not isinstance(outcome, Ok) or not isinstance(outcome.value, Ok):
        raise HttpError(f"{method} {url}: {_describe(outcome)}")
    with outcome.value.value as response:
        status = response.status()
        with response.headers() as fields:
            got = {}
            for name, value in fields.entries():
                got[name.lower()] = value.decode("utf-8", errors="replace")
        with response.consume() as incoming, incoming.stream() as stream:
            return Response(status, got, _read_all(stream))


def _write_body(outgoing: OutgoingBody, data: bytes) -> None:
    with outgoing.write() as stream:
        for start in range(0, len(data), _CHUNK):
            stream.blocking_write_and_flush(data[start : start + _CHUNK])
    OutgoingBody.finish(outgoing, None)


def _describe(outcome) -> str:
    value = outcome.value
    while isinstance(value, (Ok, Err)):
        value = value.value
    return f"refused or failed ({type(value).__name__})"


def _read_all(stream) -> bytes:
    body = bytearray()
    while True:
        try:
            body += stream.blocking_read(64 * 1024)
        except Err as error:
            if isinstance(error.value, streams.StreamError_Closed):
                return bytes(body)
            raise
