"""Keep keys off disk: redaction of secret values in text and of credentials inside URLs.

Redaction runs before any truncation, so a key cut in half is never left behind.
"""

from __future__ import annotations

import os
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "[redacted]"
_SECRET_NAME = re.compile(r"(API_KEY|_KEY|_TOKEN|_SECRET|PASSWORD)$", re.IGNORECASE)
_HEADER_VALUE = re.compile(r"(?i)(bearer\s+|basic\s+|x-api-key[\"']?\s*[:=]\s*[\"']?|api[_-]?key[\"']?\s*[:=]\s*"
                           r"[\"']?|sk-(?:ant-|proj-)?)([A-Za-z0-9_\-.~+/=]{4,})")
_URL_SECRET_PARAM = re.compile(r"(?i)(key|token|secret|passw|pwd|signature|sig|auth|code|credential|sas|session)")
"""Query parameters named like credentials (`?key=`, `?code=` of Azure Functions, `sig=` of SAS URLs, AWS's
`X-Amz-Signature` and `X-Amz-Credential`...): their values never reach a file."""
MIN_SECRET_LENGTH = 4
"""Environment values shorter than this are too common to redact safely (and too short to be a real key)."""


def secret_values() -> list[str]:
    """The values of secret-looking environment variables, longest first."""
    values = {value for name, value in os.environ.items()
              if _SECRET_NAME.search(name) and len(value) >= MIN_SECRET_LENGTH}
    return sorted(values, key=len, reverse=True)


def redact(text: str) -> str:
    """`text` without the values of secret environment variables, bearer/basic tokens, `api-key: ...` headers,
    `sk-...` keys or credentials inside URLs."""
    for value in secret_values():
        text = text.replace(value, REDACTED)
    text = _HEADER_VALUE.sub(lambda match: match.group(1) + REDACTED if REDACTED not in match.group(2)
                             else match.group(0), text)
    return re.sub(r"https?://[^\s\"'<>]+", lambda match: redact_url(match.group(0)), text)


def redact_url(url: str) -> str:
    """A URL without the password of its user part and without the values of key-like query parameters."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{REDACTED if ':' not in userinfo else user + ':' + REDACTED}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, REDACTED if _URL_SECRET_PARAM.search(k) else v) for k, v in pairs], safe="[]")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def truncate(text: str, limit: int = 300) -> str:
    """Redact, then cut to `limit` characters (in that order, so no partial key survives)."""
    return redact(text)[:limit]
