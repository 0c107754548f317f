"""Secrets (passwords, tokens, private keys) are registered here and scrubbed from every text the run emits.

The config layer registers what it reads from clouds.yaml/secure.yaml, the cloud layer the tokens it gets, the
keypair fixture its private key. The plugin passes report sections, failure texts and log records through
``redact`` before anything reaches the terminal, a log file or a report.
"""
from __future__ import annotations

import logging
import threading
from typing import Iterable

MASK = "<redacted>"
# Keys of a clouds.yaml ``auth`` block (and of other mappings) whose values are secrets.
SECRET_KEYS = frozenset({
    "password", "token", "application_credential_secret", "secret", "passcode", "totp",
    "client_secret", "access_token", "refresh_token", "private_key",
})
_MIN_LEN = 4  # shorter values would mask ordinary words; such a secret is not worth the noise


class Secrets:
    """A set of secret strings; ``redact(text)`` replaces every one of them (and each line of a multi-line one)."""

    def __init__(self):
        self._values: set = set()
        self._lock = threading.Lock()

    def add(self, value) -> None:
        if not isinstance(value, str):
            return
        parts = [value] + [line.strip() for line in value.splitlines()]
        with self._lock:
            self._values.update(p for p in parts if len(p) >= _MIN_LEN and not p.startswith("-----"))

    def add_from_mapping(self, mapping) -> None:
        """Register the values of secret keys found anywhere in a nested mapping (a cloud's config)."""
        if isinstance(mapping, dict):
            for key, value in mapping.items():
                if str(key).lower() in SECRET_KEYS:
                    self.add(value)
                else:
                    self.add_from_mapping(value)
        elif isinstance(mapping, (list, tuple)):
            for value in mapping:
                self.add_from_mapping(value)

    def redact(self, text):
        if not isinstance(text, str) or not self._values:
            return text
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def __contains__(self, text) -> bool:
        return self.redact(text) != text

    def __len__(self) -> int:
        return len(self._values)


#: The process-wide registry: one run per process (xdist workers are processes).
SECRETS = Secrets()


def install_log_redaction(secrets: Secrets = SECRETS) -> None:
    """Mask secrets in every log record the process creates, whichever logger and handler it goes through.

    A record factory sees each record once at creation, before any handler (pytest's capture, a log file,
    ``--log-cli``) formats it; a handler filter would miss the handlers pytest makes per test phase.
    """
    previous = logging.getLogRecordFactory()
    if getattr(previous, "oslab_redacting", False):
        return

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        if len(secrets):
            try:
                message = record.getMessage()
            except Exception:  # a broken format string is the caller's problem, not ours
                return record
            clean = secrets.redact(message)
            if clean != message:
                record.msg, record.args = clean, ()
        return record

    factory.oslab_redacting = True
    logging.setLogRecordFactory(factory)
