"""Resource configuration models (one per binding, chosen by the user in the catalog)."""

import abc
from datetime import timedelta
from typing import Any, ClassVar

from pydantic import BaseModel, Field

CRON_REGEX = (
    r"^"
    r"((?:[0-5]?\d(?:-[0-5]?\d)?|\*(?:/[0-5]?\d)?)(?:,(?:[0-5]?\d(?:-[0-5]?\d)?|\*(?:/[0-5]?\d)?))*)\s+"
    r"((?:[01]?\d|2[0-3]|(?:[01]?\d|2[0-3])-(?:[01]?\d|2[0-3])|\*(?:/[01]?\d|/2[0-3])?)"
    r"(?:,(?:[01]?\d|2[0-3]|(?:[01]?\d|2[0-3])-(?:[01]?\d|2[0-3])|\*(?:/[01]?\d|/2[0-3])?))*)\s+"
    r"((?:0?[1-9]|[12]\d|3[01]|(?:0?[1-9]|[12]\d|3[01])-(?:0?[1-9]|[12]\d|3[01])|\*(?:/[0-9]|/1[0-9]|/2[0-9]|/3[01])?)"
    r"(?:,(?:0?[1-9]|[12]\d|3[01]|(?:0?[1-9]|[12]\d|3[01])-(?:0?[1-9]|[12]\d|3[01])|\*(?:/[0-9]|/1[0-9]|/2[0-9]|/3[01])?))*)\s+"
    r"((?:[1-9]|1[0-2]|(?:[1-9]|1[0-2])-(?:[1-9]|1[0-2])|\*(?:/[1-9]|/1[0-2])?)"
    r"(?:,(?:[1-9]|1[0-2]|(?:[1-9]|1[0-2])-(?:[1-9]|1[0-2])|\*(?:/[1-9]|/1[0-2])?))*)\s+"
    r"((?:[0-6]|(?:[0-6])-(?:[0-6])|\*(?:/[0-6])?)(?:,(?:[0-6]|(?:[0-6])-(?:[0-6])|\*(?:/[0-6])?))*)"
    r"$|^$"
)
"""Five cron fields (minute, hour, day of month, month, day of week), each a number, a range,
``*`` or ``*/N``, or comma lists of those; or the empty string, meaning "no schedule"."""


class BaseResourceConfig(abc.ABC, BaseModel, extra="forbid"):
    """Base of every resource config. ``path()`` is the resource's identity (its resource path)."""

    PATH_POINTERS: ClassVar[list[str]]

    # The control plane stores the resource path in the binding's resource config as
    # ``_meta.path``; accepting it keeps ``extra="forbid"`` from rejecting real catalogs.
    meta_: dict[str, Any] | None = Field(default=None, alias="_meta", title="Meta")

    @abc.abstractmethod
    def path(self) -> list[str]:
        raise NotImplementedError()


class ResourceConfig(BaseResourceConfig):
    """ResourceConfig is a common resource configuration shape."""

    PATH_POINTERS: ClassVar[list[str]] = ["/name"]

    name: str = Field(description="Name of this resource")
    interval: timedelta = Field(
        default=timedelta(),
        description="Interval between updates for this resource",
        json_schema_extra={"nonsensitive": True},
    )

    def path(self) -> list[str]:
        return [self.name]


class ResourceConfigWithSchedule(ResourceConfig):
    # A ResourceConfig whose binding is re-backfilled on a cron `schedule`. A comment rather than
    # a docstring: pydantic would publish a docstring as the schema's "description", which the
    # reference's resourceConfigSchema does not have (spec output must match it).

    schedule: str = Field(
        default="",
        title="Schedule",
        description="Schedule to automatically rebackfill this binding. Accepts a cron expression.",
        pattern=CRON_REGEX,
        json_schema_extra={"nonsensitive": True},
    )
