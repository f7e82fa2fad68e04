"""Logging for the bot and the CLI: secrets masked in every record, repeated warnings collapsed.

**Masking.** :func:`install_secret_masking` wraps the log record factory, so *every* record — from
our modules and from libraries (nio logs login bodies, the search clients log requests at DEBUG),
whichever handler writes it — has each configured secret replaced by ``***`` in its message, its
arguments, its exception text and its stack. A factory and not a handler filter: a filter only
sees the handlers it was added to, and pytest, the CLI and a deployment's logging config all add
their own. Besides the secret itself, the forms a secret takes on the way out are masked too:
JSON/``repr`` escaping, URL quoting, every long line of a multi-line secret (an SSH key), and
the ``user:password`` base64 of HTTP basic auth. The credentials of *any* URL
(``scheme://user:password@host``) are masked too, configured or not: a URL in an event, an
error of a library or a setting from elsewhere must not carry a password into a log.

**Collapsing.** Reconnect loops log each failed attempt. :class:`RepeatFilter` lets the first
warning of a kind through and holds back the same warning (numbers ignored: delays, counters)
for ``window`` seconds, then says how many were held back. A DEBUG run (``--debug``) shows all.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import quote

MASK = "***"
#: Lines of a multi-line secret (an SSH private key) this long are masked on their own.
LINE_MIN = 16
#: Seconds a repeated warning is held back after it was logged once.
REPEAT_WINDOW = 600.0

_formatter = logging.Formatter()
#: The ``user:password@`` of a URL (the userinfo ends at the first ``/ ? #`` or space).
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#\s@]+@")


def mask_userinfo(text: str) -> str:
    """``text`` with the credentials of every URL in it masked: ``https://***@host``."""
    if "://" not in text or "@" not in text:
        return text
    return _USERINFO.sub(rf"\1{MASK}@", text)


class SecretMask:
    """Replaces secrets (and the encoded forms they travel in) with ``***``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = tuple(dict.fromkeys(s for s in secrets if s))
        variants = {v for secret in self.secrets for v in _variants(secret) if v}
        # Longest first: a secret containing another is masked whole.
        ordered = sorted(variants, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def __call__(self, text: str) -> str:
        masked = self._pattern.sub(MASK, text) if self._pattern is not None else text
        return mask_userinfo(masked)

    def record(self, record: logging.LogRecord) -> None:
        """Mask one record in place: message and arguments, exception text, stack."""
        try:
            message = record.getMessage()
        except Exception:  # bad format arguments: logging reports those itself, later
            message = str(record.msg)
        masked = self(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self(_formatter.formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = self(record.exc_text)
        if record.stack_info:
            record.stack_info = self(record.stack_info)


def _variants(secret: str) -> Iterator[str]:
    yield secret
    yield json.dumps(secret)[1:-1]  # inside a JSON body: \n, \" escaped
    yield repr(secret)[1:-1]  # inside a repr() of a dict or a tuple
    yield quote(secret, safe="")  # in a URL or a form body
    for line in secret.splitlines():
        if len(line.strip()) >= LINE_MIN and not line.startswith("-----"):
            yield line.strip()


# --- the record factory ----------------------------------------------------------------------

_mask = SecretMask(())
_base_factory: Callable[..., logging.LogRecord] | None = None


def install_secret_masking(secrets: Iterable[str]) -> Callable[[], None]:
    """Mask ``secrets`` (besides those masked already) in every log record from now on.

    Returns the undo: the masking as it was before this call (the app undoes its own on exit,
    so an app run inside tests leaves no global state behind).
    """
    global _mask, _base_factory
    before = _mask
    _mask = SecretMask([*before.secrets, *secrets])
    if _base_factory is None:
        _base_factory = logging.getLogRecordFactory()
        logging.setLogRecordFactory(_masking_factory)

    def undo() -> None:
        global _mask
        _mask = before

    return undo


def mask(text: str) -> str:
    """``text`` with the installed secrets masked (for chat replies and other output)."""
    return _mask(text)


def _masking_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    assert _base_factory is not None
    record = _base_factory(*args, **kwargs)
    _mask.record(record)
    return record


# --- collapsing repeated warnings ------------------------------------------------------------

_NUMBER = re.compile(r"\d+(?:\.\d+)?")


class RepeatFilter(logging.Filter):
    """Lets a warning through once per ``window`` s; says how many repeats it held back."""

    def __init__(self, window: float = REPEAT_WINDOW, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.window = window
        self._clock = clock
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, record.levelno, _NUMBER.sub("#", record.getMessage()))
        now = self._clock()
        since, held = self._seen.get(key, (-self.window - 1.0, 0))
        if now - since < self.window:
            self._seen[key] = (since, held + 1)
            return False
        self._seen[key] = (now, 0)
        if held:
            record.msg, record.args = f"{record.getMessage()} (and {held} more like it)", None
        if len(self._seen) > 1000:  # forget the oldest kinds: bounded memory
            for old in sorted(self._seen, key=lambda k: self._seen[k][0])[:500]:
                del self._seen[old]
        return True


def setup_logging(debug: bool, *, quiet: Iterable[str] = ()) -> None:
    """Root logging for the CLI: DEBUG with ``debug``, else WARNING with repeats collapsed."""
    level = logging.DEBUG if debug else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", force=True)
    if not debug:
        for handler in logging.getLogger().handlers:
            handler.addFilter(RepeatFilter())
        for noisy in quiet:
            logging.getLogger(noisy).setLevel(logging.CRITICAL)
