"""Documents of every binding, the resource config and the connector state.

Every model keeps fields it does not declare (`extra="allow"`): HubSpot adds fields to its
responses over time, and a strict model would stop the capture each time (hubspot.md §5).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from estuary_cdk.capture import common
from estuary_cdk.capture.common import BaseDocument, ResourceConfigWithSchedule, ResourceState
from pydantic import AwareDatetime, BaseModel, BeforeValidator, Field, create_model, field_validator
from pydantic.json_schema import JsonDict

__all__ = [
    "CRMObject",
    "ConnectorState",
    "EmailEvent",
    "ResourceConfig",
    "ResourceState",
    "from_ms",
]

_MERGE: JsonDict = {"reduce": {"strategy": "merge"}}


def from_ms(value: Any) -> Any:
    """HubSpot's legacy APIs give epoch milliseconds (ints or numeric strings); documents carry
    RFC 3339 times."""
    if isinstance(value, str) and value.lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    return value


def cleared_is_null(value: Any) -> Any:
    """A `properties` map with HubSpot's cleared values ("") as null, so that a collection's
    merge reduction clears them too."""
    if isinstance(value, dict):
        return {k: (None if v == "" else v) for k, v in value.items()}
    return value


class ResourceConfig(ResourceConfigWithSchedule):
    # A binding's resource: its name, polling interval and (for CRM objects) the cron schedule
    # of the refresh of calculated properties, which change without bumping the last-modified
    # time. (A comment, not a docstring: pydantic would publish it in the spec.)

    schedule: str = Field(
        default="",
        title="Calculated Property Refresh Schedule",
        description="Schedule to automatically refresh calculated properties. Accepts a cron expression.",
        pattern=common.CRON_REGEX,
        json_schema_extra={"nonsensitive": True},
    )


ConnectorState = common.ConnectorState[ResourceState]


class HistoryEntry(BaseModel, extra="allow"):
    timestamp: AwareDatetime
    value: str
    sourceType: str
    sourceId: str | None = None
    sourceLabel: str | None = None
    updatedByUserId: int | None = None


class CRMObject(BaseDocument, extra="allow"):
    """A CRM object (hubspot.md §2.2): `properties` holds every property of the account's
    definition, as strings, with cleared ("") values as null so that the collection's merge
    reduction clears them too; association arrays hold the ids of associated objects."""

    ASSOCIATIONS: ClassVar[tuple[str, ...]] = ()

    id: int
    createdAt: AwareDatetime
    updatedAt: AwareDatetime
    archived: bool
    properties: dict[str, str | None] = Field(default_factory=dict, json_schema_extra=_MERGE)
    propertiesWithHistory: dict[str, list[HistoryEntry]] | None = Field(
        default=None, json_schema_extra=_MERGE
    )

    @field_validator("properties", mode="before")
    @classmethod
    def _cleared_is_null(cls, value: Any) -> Any:
        return cleared_is_null(value)

    @field_validator("propertiesWithHistory", mode="before")
    @classmethod
    def _drop_empty_history(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if v}
        return value


def _crm(name: str, associations: tuple[str, ...], doc: str) -> type[CRMObject]:
    """A CRM object model with one `list[int]` field per association."""
    fields: dict[str, Any] = {a: (list[int], Field(default_factory=list)) for a in associations}
    model = create_model(name, __base__=CRMObject, __doc__=doc, __module__=__name__, **fields)
    model.ASSOCIATIONS = associations
    return model


ENGAGEMENT_ASSOCIATIONS = (
    "contacts", "companies", "deals", "tickets", "quotes", "orders", "emails", "meetings", "notes", "tasks",
    "content", "carts", "partner_clients", "marketing_events",
)  # fmt: skip

Company = _crm("Company", ("contacts", "deals"), "A company and its contacts and deals.")
Contact = _crm("Contact", ("companies",), "A contact and its companies.")
Deal = _crm(
    "Deal", ("contacts", "engagements", "line_items"), "A deal, its contacts, engagements and line items."
)
Engagement = _crm("Engagement", ENGAGEMENT_ASSOCIATIONS, "An engagement (call, email, meeting, note, task).")
Ticket = _crm(
    "Ticket", ("contacts", "engagements", "line_items"), "A ticket, its contacts, engagements and line items."
)
Product = _crm("Product", (), "A product.")
LineItem = _crm(
    "LineItem",
    ("commerce_payments", "products", "deals", "invoices", "quotes", "subscriptions"),
    "A line item.",
)
Order = _crm(
    "Order", ("contacts", "companies", "deals", "line_items"), "An order and what it is associated with."
)
Goal = _crm("Goal", (), "A goal target.")
FeedbackSubmission = _crm("FeedbackSubmission", (), "A feedback survey submission.")
CustomObject = _crm(
    "CustomObject", ("contacts", "companies", "deals", "tickets"), "A custom object's record."
)


class EmailEvent(BaseDocument, extra="allow"):
    """An email event; one without a `type` is an UNBOUNCE (hubspot.md §3.6)."""

    id: str
    created: AwareDatetime
    type: str | None = None

    @field_validator("created", mode="before")
    @classmethod
    def _ms(cls, value: Any) -> Any:
        return from_ms(value)


# --- snapshot bindings (keyed on /_meta/row_id) ------------------------------------------------


class Owner(BaseDocument, extra="allow"):
    id: str


class DealPipeline(BaseDocument, extra="allow"):
    pipelineId: str
    createdAt: AwareDatetime | None = None
    updatedAt: AwareDatetime | None = None

    @field_validator("createdAt", "updatedAt", mode="before")
    @classmethod
    def _ms(cls, value: Any) -> Any:
        return from_ms(value)


class Form(BaseDocument, extra="allow"):
    id: str
    formType: str


class MarketingEvent(BaseDocument, extra="allow"):
    objectId: str


class MarketingEventParticipant(BaseDocument, extra="allow"):
    id: str
    marketingEventId: str = Field(description="The marketing event (added by the connector)")


class Property(BaseDocument, extra="allow"):
    """A property definition of a CRM object type; `hubspotObject` (added by the connector) is
    the object type it belongs to."""

    name: str
    hubspotObject: str
    type: str
    calculated: bool = False


# --- change streams outside the CRM (hubspot.md §2.1, §3.7) ------------------------------------


class MarketingEmail(BaseDocument, extra="allow"):
    """A marketing email, with `stats` unless HubSpot's listing with statistics left it out."""

    id: int
    updatedAt: AwareDatetime
    archived: bool = False


MsDatetime = Annotated[AwareDatetime, BeforeValidator(from_ms)]
"""A time HubSpot gives in epoch milliseconds."""


class Workflow(BaseDocument, extra="allow"):
    """A workflow; the v3 API gives its times in epoch milliseconds."""

    id: int
    updatedAt: MsDatetime
    insertedAt: MsDatetime | None = None


class FormSubmission(BaseDocument, extra="allow"):
    """A form submission, keyed on its form and its time in epoch milliseconds."""

    formId: str = Field(description="The form submitted (added by the connector)")
    submittedAt: int


class ContactList(BaseDocument, extra="allow"):
    """A list of contacts (lists of other object types are not captured)."""

    listId: int
    objectTypeId: str


class ContactListMembership(BaseDocument, extra="allow"):
    """A contact in a list, since `membershipTimestamp`."""

    listId: int = Field(description="The list (added by the connector)")
    recordId: int
    membershipTimestamp: AwareDatetime


class Campaign(BaseDocument, extra="allow"):
    """A marketing campaign with its readable properties (cleared values as null)."""

    id: str
    updatedAt: AwareDatetime
    properties: dict[str, Any] = Field(default_factory=dict)

    @field_validator("properties", mode="before")
    @classmethod
    def _cleared_is_null(cls, value: Any) -> Any:
        return cleared_is_null(value)
