"""The ScopeHold Python interpreter component: runs the script it is given.

The runner passes the script's text on stdin (the script itself gets no
stdin) and its name and arguments as the command's arguments, so `sys.argv`
is `[script name, args...]`. The script runs as `__main__` with the curated
standard library (curated.py) and the `scopehold` SDK importable; any other
import is an error naming what is available. An uncaught exception or a
syntax error prints the script's traceback and exits 1; nothing of this
module shows in it.
"""

import builtins
import importlib
import linecache
import sys
import traceback

import curated
import scopehold
from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import environment, exit as wasi_exit, stdin, streams

# Imported now, at build time, so they are in the component's snapshot.
for _name in curated.MODULES:
    importlib.import_module(_name)

ALLOWED = frozenset(curated.MODULES + curated.SDK)
AVAILABLE = ", ".join(sorted(ALLOWED))


class Run(exports.Run):
    def run(self) -> None:
        args = environment.get_arguments()
        name = args[0] if args else "<script>"
        status = run_script(name, read_stdin(), list(args))
        sys.stdout.flush()
        sys.stderr.flush()
        wasi_exit.exit(Ok(None) if status == 0 else Err(None))


def read_stdin() -> str:
    data = bytearray()
    with stdin.get_stdin() as stream:
        while True:
            try:
                data += stream.blocking_read(1 << 16)
            except Err as error:
                if isinstance(error.value, streams.StreamError_Closed):
                    break
                raise
    return data.decode("utf-8")


def run_script(name: str, source: str, argv: list) -> int:
    """Compiles and runs the script; its exit status."""
    linecache.cache[name] = (len(source), None, source.splitlines(True), name)
    try:
        code = compile(source, name, "exec")
    except SyntaxError as error:
        traceback.print_exception(error, limit=0)
        return 1
    namespace = {"__name__": "__main__", "__file__": name, "__builtins__": builtins}
    sys.argv = argv
    guard = ImportGuard(namespace)
    builtins.__import__ = guard
    try:
        exec(code, namespace)
    except SystemExit as stop:
        return exit_status(stop.code)
    except BaseException as error:  # the script's own failure, reported as Python does
        print_script_traceback(error)
        return 1
    finally:
        builtins.__import__ = guard.original
    return 0


def print_script_traceback(error: BaseException) -> None:
    """The traceback as Python prints it, without this module's frames (the
    exec call, the import guard): what the script author needs."""
    report = traceback.TracebackException.from_exception(error)
    for part in chain(report):
        frames = [frame for frame in part.stack if frame.filename != __file__]
        part.stack = traceback.StackSummary.from_list(frames)
    print("".join(report.format()), end="", file=sys.stderr)


def chain(report):
    """The exception and every one it was raised from or during."""
    seen = []
    while report is not None and all(report is not s for s in seen):
        seen.append(report)
        report = report.__cause__ or report.__context__
    return seen


def exit_status(code) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


class ImportGuard:
    """`__import__` for the script: curated modules and the SDK only.

    Imports made by library code (a module importing its own helpers) pass;
    only those written in the script (its globals) are checked."""

    def __init__(self, namespace: dict) -> None:
        self.namespace = namespace
        self.original = builtins.__import__

    def __call__(self, name, globals=None, locals=None, fromlist=(), level=0):
        if sys._getframe(1).f_globals is self.namespace:
            refused = refused_import(name, fromlist, level)
            if refused is not None:
                raise ModuleNotFoundError(
                    f"module {refused!r} is not available to ScopeHold scripts; "
                    f"available: {AVAILABLE}",
                    name=refused,
                )
        return self.original(name, globals, locals, fromlist, level)


def refused_import(name: str, fromlist, level: int):
    """The module name an import statement may not have, or None."""
    if level != 0:
        return name or "." * level
    if name not in ALLOWED and not any(m.startswith(name + ".") for m in ALLOWED):
        return name
    # `from urllib import parse`: each name must be an allowed submodule or
    # an attribute the (allowed) module already has.
    module = sys.modules.get(name)
    for item in fromlist or ():
        full = f"{name}.{item}"
        if not (full in ALLOWED or item == "*" or hasattr(module, item)):
            return full
    return None
