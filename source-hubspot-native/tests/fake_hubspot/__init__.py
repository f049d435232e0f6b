"""A fake HubSpot account for the connector's tests and benchmark (hubspot.md §6): seeded data,
OAuth and private-app tokens with scopes, HubSpot's rate limits and headers, a lagging and
capped search index, the legacy change APIs, faults, and a control API.

    fake = FakeHubSpot(seed=7)                       # the small data set of §6.5
    with serve_app_in_thread(lambda: make_app(fake)) as server:
        ...                                          # point the connector's base_url at server.url
"""

from .app import make_app
from .catalog import DEFAULT_SCOPES, OBJECT_TYPES, OPTIONAL_SCOPES, REQUIRED_SCOPES
from .dataset import Sizes
from .fake import CLIENT_ID, CLIENT_SECRET, PRIVATE_APP_TOKEN, REFRESH_TOKEN, FakeHubSpot, Knobs

__all__ = [
    "CLIENT_ID",
    "CLIENT_SECRET",
    "DEFAULT_SCOPES",
    "OBJECT_TYPES",
    "OPTIONAL_SCOPES",
    "PRIVATE_APP_TOKEN",
    "REFRESH_TOKEN",
    "REQUIRED_SCOPES",
    "FakeHubSpot",
    "Knobs",
    "Sizes",
    "make_app",
]
