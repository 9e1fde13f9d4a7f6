"""The ScopeHold SDK for Python scripts run with `runner exec SCRIPT.py`.

    from scopehold import get_secret, placeholder, fetch

get_secret(name)   the value of a secret granted to the run's agent (str);
                   raises SecretDenied (not granted, expired, revoked,
                   unknown: all look the same) or SecretUnavailable (the
                   runner could not record the access; it fails closed)
placeholder(name)  an opaque stand-in for the secret: put it in a request's
                   URL or headers and the runner swaps in the value, only
                   for a destination the grant is bound to (`hosts`); the
                   script never holds the key
fetch(url, method="GET", headers=None, body=None)
                   an HTTP request through the runner's egress gate
                   (wasi:http); returns a Response (status, headers, body,
                   text(), json()); raises HttpError when it is refused or
                   fails
"""

from ._http import HttpError, Response, fetch
from ._secrets import SecretDenied, SecretError, SecretUnavailable, get_secret, placeholder

__all__ = [
    "HttpError",
    "Response",
    "SecretDenied",
    "SecretError",
    "SecretUnavailable",
    "fetch",
    "get_secret",
    "placeholder",
]
