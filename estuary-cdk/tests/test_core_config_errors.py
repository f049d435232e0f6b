"""Config errors never show a config value: a secret in the wrong place (a token pasted into a
credentials discriminator, a syntax error on a password's line) stays out of the message, while
the location and what is wrong are still there."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import pydantic
import pytest
from estuary_cdk._config_errors import HIDDEN, masked_message
from estuary_cdk._input import describe_validation_error, parse_request_line
from estuary_cdk.capture import Request
from estuary_cdk.cli import CliError, load_config
from estuary_cdk.flow import AccessToken, BasicAuth
from pydantic import BaseModel, Field, field_validator

TOKEN = "tok-do-not-print-4711"


class Config(BaseModel):
    credentials: Annotated[AccessToken | BasicAuth, Field(discriminator="credentials_title")]
    page_size: int = Field(default=10, gt=10)

    @field_validator("page_size")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError(f"page_size {value} must be even")
        return value


class Resource(BaseModel):
    name: str


def _discover(config: dict[str, Any]) -> bytes:
    return orjson.dumps({"discover": {"connectorType": "IMAGE", "config": config}})


def test_a_token_in_the_discriminator_is_not_shown() -> None:
    line = _discover({"credentials": {"credentials_title": TOKEN}})
    with pytest.raises(Exception) as info:
        parse_request_line(Request[Config, Resource, dict], line, 7)
    text = str(info.value)
    assert TOKEN not in text
    assert (
        f"line 7: discover.config.credentials: Input tag '{HIDDEN}' found using 'credentials_title'" in text
    )
    assert "'Private App Credentials', 'Username & Password'" in text  # what is expected stays


def test_limits_stay_and_inputs_go() -> None:
    try:
        Config.model_validate(
            {
                "credentials": {"credentials_title": "Private App Credentials", "access_token": TOKEN},
                "page_size": 10,
            }
        )
    except pydantic.ValidationError as exc:
        text = describe_validation_error(exc)
    assert "page_size: Input should be greater than 10" in text  # the limit, though equal to the input
    try:
        Config.model_validate(
            {
                "credentials": {"credentials_title": "Private App Credentials", "access_token": TOKEN},
                "page_size": 13,
            }
        )
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
    assert masked_message(error) == f"Value error, page_size {HIDDEN} must be even"


def test_a_yaml_error_on_a_secrets_line_does_not_quote_it(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    for text in (
        f'token: "{TOKEN}\npages: 1\n',
        f"pages: 1\ntoken: {TOKEN}: x\n",
        f"pages: 1\n\ttoken: {TOKEN}\n",
    ):
        cfg.write_text(text)
        with pytest.raises(CliError) as info:
            load_config(cfg)
        message = str(info.value)
        assert message.startswith(f"{cfg} is not valid YAML/JSON: line "), message
        assert TOKEN not in message and "do-not-print" not in message
