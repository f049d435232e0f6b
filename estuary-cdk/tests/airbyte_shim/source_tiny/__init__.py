"""A minimal Airbyte CDK source for the shim's tests, written against airbyte-cdk 0.52 (what the
reference's Airbyte-based connectors lock): a fake API at `base_url` (tests/test_airbyte_shim.py
serves it on 127.0.0.1) with an incremental, paged stream of items keyed by `id` and a
full-refresh stream of colors without a key. It prints to stdout and logs its API key on purpose:
the shim must keep the one off stdout and redact the other."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

import requests
from airbyte_cdk.models import ConnectorSpecification
from airbyte_cdk.sources import AbstractSource
from airbyte_cdk.sources.streams import IncrementalMixin, Stream
from airbyte_cdk.sources.streams.http import HttpStream

DOCS = "https://example.com/source-tiny"

ITEM_SCHEMA = {
    "type": "object",
    "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "updated": {"type": "integer"}},
    "required": ["id"],
}
COLOR_SCHEMA = {"type": "object", "properties": {"color": {"type": "string"}}}


class _Base(HttpStream):
    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__()
        self._config = config

    @property
    def url_base(self) -> str:
        return str(self._config["base_url"]).rstrip("/") + "/"

    @property
    def availability_strategy(self) -> None:
        return None

    def request_headers(self, **_: Any) -> Mapping[str, Any]:
        return {"Authorization": f"Bearer {self._config['api_key']}"}

    def next_page_token(self, response: requests.Response) -> Mapping[str, Any] | None:
        page = response.json().get("next_page")
        return {"page": page} if page is not None else None

    def parse_response(self, response: requests.Response, **_: Any) -> Iterable[Mapping[str, Any]]:
        yield from response.json()["data"]


class Items(_Base, IncrementalMixin):
    primary_key = "id"
    cursor_field = "updated"
    state_checkpoint_interval = 2

    def __init__(self, config: Mapping[str, Any]) -> None:
        super().__init__(config)
        self._cursor = 0

    @property
    def state(self) -> MutableMapping[str, Any]:
        return {"updated": self._cursor}

    @state.setter
    def state(self, value: MutableMapping[str, Any]) -> None:
        self._cursor = int(value.get("updated", 0))

    def get_json_schema(self) -> Mapping[str, Any]:
        return dict(ITEM_SCHEMA)

    def path(self, **_: Any) -> str:
        return "items"

    def request_params(
        self,
        stream_state: Mapping[str, Any] | None = None,
        next_page_token: Mapping[str, Any] | None = None,
        **_: Any,
    ) -> MutableMapping[str, Any]:
        # The cursor as the sync began: records of later pages move `self._cursor` on.
        params: dict[str, Any] = {"since": int((stream_state or {}).get("updated", 0))}
        if next_page_token:
            params.update(next_page_token)
        return params

    def read_records(self, *args: Any, **kwargs: Any) -> Iterable[Mapping[str, Any]]:
        for record in super().read_records(*args, **kwargs):
            self._cursor = max(self._cursor, int(record["updated"]))
            yield record


class Colors(_Base):
    primary_key = None

    def get_json_schema(self) -> Mapping[str, Any]:
        return dict(COLOR_SCHEMA)

    def path(self, **_: Any) -> str:
        return "colors"

    def parse_response(self, response: requests.Response, **kwargs: Any) -> Iterable[Mapping[str, Any]]:
        print("a stray print from the source")  # The shim must keep it off stdout.
        yield from super().parse_response(response, **kwargs)


class SourceTiny(AbstractSource):
    def spec(self, logger: logging.Logger) -> ConnectorSpecification:
        return ConnectorSpecification(
            documentationUrl=DOCS,
            connectionSpecification={
                "type": "object",
                "required": ["base_url", "api_key"],
                "properties": {
                    "base_url": {"type": "string", "title": "Base URL"},
                    "api_key": {"type": "string", "title": "API key", "airbyte_secret": True},
                },
            },
        )

    def check_connection(self, logger: logging.Logger, config: Mapping[str, Any]) -> tuple[bool, Any]:
        logger.info(f"checking with the key {config['api_key']}")
        response = requests.get(
            str(config["base_url"]).rstrip("/") + "/ping",
            headers={"Authorization": f"Bearer {config['api_key']}"},
        )
        if response.status_code != 200:
            return False, f"the API refused the key ({response.status_code})"
        return True, None

    def streams(self, config: Mapping[str, Any]) -> list[Stream]:
        return [Items(config), Colors(config)]
