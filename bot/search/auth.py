"""Credentials and TLS for search servers, shared by every backend."""

from __future__ import annotations

import ssl

from bot.config import SearchSettings


def credentials(settings: SearchSettings) -> tuple[str, str] | None:
    """The user name and password for HTTP basic auth, when both are set."""
    if settings.username and settings.password:
        return settings.username, settings.password.get_secret_value()
    return None


def api_key_header(settings: SearchSettings) -> dict[str, str]:
    if settings.api_key:
        return {"authorization": f"ApiKey {settings.api_key.get_secret_value()}"}
    return {}


def tls_context(settings: SearchSettings) -> ssl.SSLContext:
    """TLS verification stays on unless the config explicitly turns it off."""
    context = ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    if not settings.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
