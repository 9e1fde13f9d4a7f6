"""The `support-analysis` task in Python, built with componentize-py.

Without arguments it does what examples/support-analysis does: resolves its
one granted key and prints a summary (length, PostHog prefix), never the key,
then asks for `billing-admin`, which this agent is not granted, and reports
the denial.

With arguments it is a hostile probe, one step per argument, printing one
line per step (the steps and lines of examples/probe):
  env            the environment the task sees (runtime, via wasi:cli)
  read:PATH      try to read a host file
  list:PATH      try to list a host directory
  connect:ADDR   try to open a TCP connection (HOST:PORT)
  inject:NAME:URL  GET URL with `Authorization: Bearer <placeholder of NAME>`
                 (injection mode: the host swaps in the key; the task never
                 holds it); prints the status
  get:NAME       resolve NAME; prints its sha256 and FNV-1a 64-bit checksum
                 (the JS task's checksum, so one test checks both), never
                 the value
  raise:TEXT     raise an uncaught exception (the traceback, exit 1)
"""

import hashlib
import os
import socket
import sys
import traceback
import urllib.parse

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import environment, exit as wasi_exit, outgoing_handler, secrets
from wit_world.imports.streams import StreamError_Closed
from wit_world.imports.secrets import SecretError
from wit_world.imports.wasi_http_types import (
    Fields,
    Method_Get,
    OutgoingRequest,
    Scheme_Http,
    Scheme_Https,
)

GRANTED = "posthog-read"
NOT_GRANTED = "billing-admin"


class Run(exports.Run):
    def run(self) -> None:
        # An uncaught exception would end in a Rust panic and a wasm trap
        # inside componentize-py: catch it at the task boundary, print the
        # traceback as Python does, and exit 1.
        try:
            main()
        except Exception:  # the boundary: every failure is reported the same way
            traceback.print_exc()
            sys.stderr.flush()
            wasi_exit.exit(Err(None))


def main() -> None:
    # Read through wasi:cli rather than sys.argv: componentize-py
    # pre-initialises the interpreter at build time, and the run's
    # arguments are only known at run time.
    steps = environment.get_arguments()[1:]
    if steps:
        for step in steps:
            probe(step)
    else:
        support_analysis()


def support_analysis() -> None:
    try:
        key = secrets.get_secret(GRANTED)
    except Err as error:
        print(f"{GRANTED}: {error_name(error)}", flush=True)
        wasi_exit.exit(Err(None))
        return
    prefixed = "yes" if key.startswith("phc_") else "no"
    size = len(key.encode())
    print(f"{GRANTED}: resolved ({size} bytes, PostHog key prefix: {prefixed})")
    print(f"analysis: would query PostHog events with a {size}-byte key")
    del key
    try:
        secrets.get_secret(NOT_GRANTED)
        print(f"{NOT_GRANTED}: unexpectedly granted", flush=True)
        wasi_exit.exit(Err(None))
    except Err as error:
        if error.value == SecretError.DENIED:
            print(f"{NOT_GRANTED}: denied, as expected (not granted to this agent)")
        else:
            print(f"{NOT_GRANTED}: {error_name(error)}")


def error_name(error: Err) -> str:
    return "Denied" if error.value == SecretError.DENIED else "Unavailable"


def probe(step: str) -> None:
    verb, _, arg = step.partition(":")
    if verb == "env":
        names = [name for name, _ in environment.get_environment()]
        print(f"env: {len(names)} vars [{','.join(names)}]")
        # What CPython's os.environ holds, for comparison.
        print(f"os.environ: {len(os.environ)} vars")
    elif verb == "read":
        try:
            with open(arg, "rb") as file:
                print(f"read {arg}: ok {len(file.read())} bytes")
        except Exception as error:  # any failure is the expected outcome
            print(f"read {arg}: error {type(error).__name__}")
    elif verb == "list":
        try:
            print(f"list {arg}: ok {len(os.listdir(arg))} entries")
        except Exception as error:
            print(f"list {arg}: error {type(error).__name__}")
    elif verb == "connect":
        connect(arg)
    elif verb == "inject":
        inject(arg)
    elif verb == "raise":
        fail(arg)
    elif verb == "get":
        try:
            value = secrets.get_secret(arg).encode()
            digest = hashlib.sha256(value).hexdigest()
            print(
                f"get {arg}: granted {len(value)} bytes "
                f"fnv1a64={fnv1a64(value)} sha256={digest}"
            )
        except Err as error:
            print(f"get {arg}: {error_name(error)}")
    else:
        print(f"unknown step {step}")


def fail(message: str) -> None:
    raise RuntimeError(message)


def inject(arg: str) -> None:
    name, _, url = arg.partition(":")
    try:
        token = secrets.placeholder(name)
    except Err as error:
        print(f"inject: placeholder {error_name(error)}")
        return
    try:
        status, body = http_get(url, token)
        print(f"inject: status {status} ({len(body)} bytes)")
    except Exception as error:  # a refused request is an expected outcome
        print(f"inject: error {error}")


def http_get(url: str, token: str) -> tuple[int, bytes]:
    """GET `url` over wasi:http with `token` as the bearer credential,
    blocking (componentize-py's generated poll_loop does not import when the
    world has both wasi:filesystem and wasi:http `types`)."""
    parts = urllib.parse.urlsplit(url)
    headers = [("authorization", f"Bearer {token}".encode())]
    request = OutgoingRequest(Fields.from_list(headers))
    request.set_method(Method_Get())
    request.set_scheme(Scheme_Https() if parts.scheme == "https" else Scheme_Http())
    request.set_authority(parts.netloc)
    request.set_path_with_query(parts.path + (f"?{parts.query}" if parts.query else ""))
    # Resources are dropped child first (`with`): a body outlived by its
    # stream, or a response by its body, makes the host trap.
    with outgoing_handler.handle(request, None) as future:
        with future.subscribe() as ready:
            ready.block()
        outcome = future.get()
    if not isinstance(outcome, Ok) or not isinstance(outcome.value, Ok):
        raise RuntimeError(f"request failed: {outcome.value!r}")
    with outcome.value.value as response:
        status = response.status()
        with response.consume() as incoming, incoming.stream() as stream:
            return status, read_all(stream)


def read_all(stream) -> bytes:
    body = b""
    while True:
        try:
            body += stream.blocking_read(16 * 1024)
        except Err as error:
            if isinstance(error.value, StreamError_Closed):
                return body
            raise


def fnv1a64(data: bytes) -> str:
    """FNV-1a, 64-bit; the e2e test computes the same."""
    value = 0xCBF29CE484222325
    for byte in data:
        value = ((value ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


def connect(addr: str) -> None:
    host, _, port = addr.rpartition(":")
    try:
        # A raw socket, no name lookup: the attempt reaches wasi:sockets.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect((host, int(port)))
            print(f"connect {addr}: ok")
    except Exception as error:
        print(f"connect {addr}: error {type(error).__name__} {error}")
