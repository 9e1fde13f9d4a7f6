"""get_secret and placeholder over the scopehold:task/secrets interface."""

from componentize_py_types import Err
from wit_world.imports import secrets
from wit_world.imports.secrets import SecretError as _WitError


class SecretError(Exception):
    """A secret was not handed over; `reason` is "denied" or "unavailable"."""

    reason = "denied"

    def __init__(self, name: str) -> None:
        super().__init__(f"secret {name!r}: {self.reason}")
        self.name = name


class SecretDenied(SecretError):
    """Not granted to this agent, expired, revoked or unknown (all alike)."""

    reason = "denied"


class SecretUnavailable(SecretError):
    """The runner could not record the access or read its store."""

    reason = "unavailable"


def _raise(name: str, error: Err) -> None:
    if error.value == _WitError.DENIED:
        raise SecretDenied(name) from None
    raise SecretUnavailable(name) from None


def get_secret(name: str) -> str:
    """The value of the secret `name` granted to the run's agent."""
    try:
        return secrets.get_secret(name)
    except Err as error:
        _raise(name, error)


def placeholder(name: str) -> str:
    """A placeholder the runner replaces with the value in requests to the
    grant's hosts (injection mode)."""
    try:
        return secrets.placeholder(name)
    except Err as error:
        _raise(name, error)
