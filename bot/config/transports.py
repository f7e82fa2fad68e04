"""The chat networks: ``irc:`` and ``matrix:``. Rooms come from channels.yaml."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from bot.config.base import Section, WebUrl


class IrcSettings(Section):
    """One IRC network. Rooms (channels) come from channels.yaml routing, not from here."""

    server: str
    port: int = Field(6697, gt=0, lt=65536)
    tls: bool = True
    tls_verify: bool = Field(True, description="verify the server certificate and host name")
    ca_file: Path | None = Field(None, description="CA bundle for a private/self-signed server")
    nick: str = Field("recheckbot", min_length=1, max_length=30, pattern=r"^[^\s,*?!@#:]+$")
    username: str | None = Field(None, description="ident user name; default: the nick")
    realname: str = "recheckbot (elastic-recheck)"
    account: str | None = Field(None, description="services account name; default: the nick")
    password: SecretStr | None = Field(None, description="services account password")
    auth: Literal["auto", "sasl", "nickserv", "none"] = Field(
        "auto",
        description="auto: SASL PLAIN when the server offers it, else NickServ IDENTIFY "
        "(only with a password); sasl: SASL or no connection; nickserv: IDENTIFY only",
    )
    server_password: SecretStr | None = None
    send_burst: int = Field(4, ge=1, le=100, description="lines sent at once before pacing")
    send_interval: float = Field(
        1.0, ge=0, le=60, description="seconds between lines once the burst is spent"
    )
    connect_timeout: float = Field(30.0, gt=0, description="seconds for TCP + TLS + registration")
    reconnect_max_delay: float = Field(60.0, gt=0, description="cap of the reconnect backoff")
    ping_interval: float = Field(90.0, gt=0, description="PING the server after this quiet time")
    ping_timeout: float = Field(60.0, gt=0, description="drop the link when PING goes unanswered")
    regain_interval: float = Field(
        60.0, gt=0, description="seconds between tries to take back the configured nick"
    )

    @model_validator(mode="after")
    def _check_auth(self) -> IrcSettings:
        if self.auth in ("sasl", "nickserv") and self.password is None:
            raise ValueError(f"auth: {self.auth} needs a password")
        return self


class MatrixSettings(Section):
    """One Matrix account. Rooms (ids or aliases) come from channels.yaml routing."""

    homeserver: WebUrl
    user_id: str = Field(pattern=r"^@[^:\s]+:\S+$")
    password: SecretStr | None = None
    access_token: SecretStr | None = None
    device_id: str | None = Field(None, description="reuse a device (with access_token)")
    device_name: str = "recheckbot"
    verify_tls: bool = True
    sync_timeout: float = Field(30.0, gt=0, le=300, description="long-poll seconds per /sync")
    request_timeout: float = Field(20.0, gt=0, description="seconds per HTTP request")
    reconnect_max_delay: float = Field(60.0, gt=0, description="cap of the retry backoff")
    threads: Literal["when-threaded", "always", "never"] = Field(
        "when-threaded",
        description="where replies go: in the thread of a command sent in one, else as a reply "
        "in the room (when-threaded); always in a thread under the command; never in a thread",
    )
    backlog: float = Field(
        300.0,
        ge=0,
        description="seconds: after a start, answer the commands sent this long before it "
        "that the bot has not answered yet (0: none)",
    )
    direct_chats: bool = Field(
        True,
        description="accept invitations to direct chats (is_direct) and answer commands there",
    )

    @model_validator(mode="after")
    def _check_credentials(self) -> MatrixSettings:
        if self.password is None and self.access_token is None:
            raise ValueError("password or access_token is required")
        return self
