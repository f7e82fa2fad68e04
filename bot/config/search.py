"""The ``search:`` section: where the logs are searched."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator

from bot.config.base import Section, WebUrl, credentials_out_of_url


class SearchSettings(Section):
    """Where the logs are searched."""

    backend: Literal["opensearch", "elasticsearch", "kibana"] = "opensearch"
    url: WebUrl = "http://127.0.0.1:9200"
    index: str = "logstash-*"
    subunit_index: str = Field(
        "subunit-*",
        description="index pattern of the test results (one document per test and build, as "
        "ci-log-processing writes them); ingestion writes to its prefix's daily indices",
    )
    username: str | None = None
    password: SecretStr | None = None
    api_key: SecretStr | None = None
    ca_file: Path | None = None
    verify_tls: bool = True
    timeout: float = Field(10.0, gt=0, description="seconds per request")
    retries: int = Field(2, ge=0, le=10, description="extra attempts on connection errors")
    kibana_flavor: Literal["kibana", "opensearch-dashboards"] = "kibana"
    kibana_url: WebUrl | None = Field(None, description="Kibana base for links in messages")
    max_concurrent: int = Field(
        8, gt=0, le=1000, description="requests in flight at once, from all parts of the bot"
    )
    breaker_failures: int = Field(
        5, ge=1, description="unavailable answers in a row that open the circuit (fail fast)"
    )
    breaker_cooldown: float = Field(
        30.0, gt=0, description="seconds the open circuit fails fast before one probe"
    )

    @model_validator(mode="before")
    @classmethod
    def _credentials_out_of_url(cls, data: Any) -> Any:
        # http://reader:PASS@host: the password becomes a secret, never shown with the URL.
        return credentials_out_of_url(data, "url", "username", "password")
