"""The standard library a script may import (docs/scripts.md lists it).

Everything here is imported when the interpreter component is built, so it
is in the component's snapshot: at run time there is no standard library on
disk to load anything else from.
"""

# fmt: off
MODULES = (
    "argparse", "base64", "binascii", "bisect", "calendar", "collections",
    "collections.abc", "contextlib", "copy", "csv", "dataclasses", "datetime",
    "decimal", "difflib", "enum", "fnmatch", "fractions", "functools", "gzip",
    "hashlib", "heapq", "hmac", "html", "io", "ipaddress", "itertools", "json",
    "math", "operator", "os", "os.path", "pprint", "random", "re", "secrets", "shlex",
    "statistics", "string", "struct", "sys", "textwrap", "time", "traceback",
    "typing", "unicodedata", "urllib", "urllib.parse", "uuid", "zlib",
)
# fmt: on

# The SDK, under its natural name.
SDK = ("scopehold",)
