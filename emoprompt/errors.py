"""One small exception tree. Every user-facing error says what to do next."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


class EmopromptError(Exception):
    """Base of every error emoprompt raises on purpose; the CLI prints it as one line and exits 2."""


class UsageError(EmopromptError):
    """Bad input from the user: an unknown name, a malformed file, a wrong flag."""


class MissingDependencyError(EmopromptError):
    """An optional dependency is not installed; the message carries the install command."""


class BackendError(EmopromptError):
    """A model backend cannot be used at all (not a per-request failure, which becomes an error record)."""


class RequestError(Exception):
    """One request failed after retries; the runner records it as an error cell, never as a wrong answer."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None, rate_limits: Any = None) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message
        self.retry_after = retry_after
        """Seconds the server asked us to wait (Retry-After), when it said."""
        self.rate_limits = rate_limits
        """The provider's rate-limit headers on this answer (`emoprompt.backends.pacing.RateLimits`), if any."""


class RunStopped(Exception):
    """A run must stop sending: `kind` is `max_cost` (the next request could pass the spending cap) or `patience`
    (the provider's rate limit let nothing through for too long). The cells not yet run stay unrun for --resume;
    none is recorded as an error."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class Interrupted(KeyboardInterrupt):
    """A run stopped by SIGINT or SIGTERM after recording the cells in flight; `signum` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ' Did you mean X?' for the closest choice, or '' when nothing is close."""
    lowered = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return f" Did you mean {lowered[close[0]]!r}?" if close else ""


def unknown_name(kind: str, name: str, choices: Iterable[str], hint: str = "") -> UsageError:
    """Build the error for an unknown stimulus, suite, task, model or key, with a suggestion."""
    choices = sorted(set(choices))
    message = f"unknown {kind} {name!r}.{did_you_mean(name, choices)}"
    if hint:
        message += f" {hint}"
    elif len(choices) <= 12:
        message += f" Choose from: {', '.join(choices)}."
    return UsageError(message)


def require(module: str, extra: str, package: str | None = None) -> None:
    """Raise MissingDependencyError with the exact install command when `module` cannot be imported."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        hint = f"pip install 'emoprompt[{extra}]'"
        if package:
            hint = f"pip install {package}"
        raise MissingDependencyError(f"{module} is not installed; install it with: {hint}")
