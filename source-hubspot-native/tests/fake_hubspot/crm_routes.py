"""CRM v3/v4 endpoints: schemas, properties, object pages, batch reads, association batch reads,
owners and deal pipelines (hubspot.md §3.1-3.5, §6.2)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .catalog import ANCHOR_MS, DAY_MS
from .properties import iso
from .render import record_json
from .responses import bad_request, extra, fake_of, int_param, json, json_body, paging
from .store import TypeStore

routes = web.RouteTableDef()

_CONTACT_LIST_PROPERTIES = ["hs_list_size", "hs_lastmodifieddate", "hs_list_id", "hs_object_id"]


def _store(request: web.Request) -> TypeStore:
    name = request.match_info["object"]
    fake = fake_of(request)
    store = fake.crm.types.get(name)
    if store is None:
        raise web.HTTPBadRequest(
            text=f'{{"status":"error","message":"Unable to infer object type from: {name}","category":"VALIDATION_ERROR"}}',
            content_type="application/json",
        )
    return store


def _names(raw: str | None) -> list[str]:
    return [n for n in (raw or "").split(",") if n]


@routes.get("/crm/v3/schemas")
async def schemas(request: web.Request) -> web.Response:
    def schema(name: str, type_id: str, archived: bool) -> dict[str, Any]:
        return {
            "id": type_id.split("-")[1],
            "name": name,
            "labels": {"singular": name.title(), "plural": name.title()},
            "objectTypeId": type_id,
            "fullyQualifiedName": f"p123_{name}",
            "archived": archived,
            "primaryDisplayProperty": "name",
            "createdAt": iso(ANCHOR_MS - 300 * DAY_MS),
            "updatedAt": iso(ANCHOR_MS - 200 * DAY_MS),
        }

    return json({"results": [schema("cars", "2-123", False), schema("boats", "2-124", True)]})


@routes.get("/crm/v3/properties/{object}")
async def properties(request: web.Request) -> web.Response:
    name = request.match_info["object"]
    fake = fake_of(request)
    if name == "0-45":
        return json(
            {"results": [{"name": n, "type": "string", "label": n} for n in _CONTACT_LIST_PROPERTIES]}
        )
    if name == "campaign":
        return json({"results": fake.marketing.campaign_properties})
    store = fake.crm.types.get(name)
    if store is None:  # a custom object's plain name ("cars") is refused; p_cars works (d123c2699)
        return bad_request(f"Unable to infer object type from: {name}")
    return json({"results": [extra(request, p.definition(name)) for p in store.props]})


@routes.get("/crm/v3/objects/{object}")
async def list_objects(request: web.Request) -> web.Response:
    fake, store = fake_of(request), _store(request)
    history = _names(request.query.get("propertiesWithHistory"))
    limit = int_param(request, "limit", 10, 1, 50 if history else 100)
    props = _names(request.query.get("properties")) or ["createdate", store.obj.lastmod, "hs_object_id"]
    associations = _names(request.query.get("associations"))
    after = int_param(request, "after", 0)
    with fake.crm.lock:
        ids = sorted(i for i in store.records if i >= after)
        page = ids[:limit]
        results = [
            extra(
                request, record_json(fake.crm, store, store.records[i], props, history or None, associations)
            )
            for i in page
        ]
    body: dict[str, Any] = {"results": results}
    if len(ids) > limit:
        body["paging"] = paging(request, ids[limit], limit=str(limit))
    return json(body)


@routes.post("/crm/v3/objects/{object}/batch/read")
async def batch_read(request: web.Request) -> web.Response:
    fake, store = fake_of(request), _store(request)
    body = await json_body(request)
    inputs = body.get("inputs") or []
    history = body.get("propertiesWithHistory")
    cap = 50 if history else 100
    if len(inputs) > cap:
        return bad_request(f"The number of inputs ({len(inputs)}) exceeds the limit of {cap}")
    props = body.get("properties") or ["createdate", store.obj.lastmod, "hs_object_id"]
    results, missing = [], []
    with fake.crm.lock:
        for item in inputs:
            rec = store.records.get(int(item["id"]))
            if rec is None:
                missing.append(str(item["id"]))
            else:
                results.append(extra(request, record_json(fake.crm, store, rec, props, history)))
    now = iso(fake.clock.now_ms())
    out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}
    if not missing:
        return json(out)
    out["numErrors"] = 1
    out["errors"] = [
        {
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "message": "Could not get some objects, they may be deleted or not exist. Check that ids are valid.",
            "context": {"ids": missing},
        }
    ]
    return json(out, 207)


@routes.post("/crm/v4/associations/{object}/{target}/batch/read")
async def association_batch_read(request: web.Request) -> web.Response:
    fake = fake_of(request)
    source, target = request.match_info["object"], request.match_info["target"]
    inputs = (await json_body(request)).get("inputs") or []
    if len(inputs) > 100:
        return bad_request(f"The number of inputs ({len(inputs)}) exceeds the limit of 100")
    page_size = fake.knobs.assoc_page_size
    results, empty = [], []
    with fake.crm.lock:
        for item in inputs:
            edges = sorted(fake.crm.associations(source, int(item["id"]), target).items())
            start = int(item.get("after") or 0)
            chunk = edges[start : start + page_size]
            if not chunk:
                empty.append(str(item["id"]))
                continue
            row: dict[str, Any] = {
                "from": {"id": str(item["id"])},
                "to": [
                    {
                        "toObjectId": to_id,
                        "associationTypes": [
                            {
                                "category": "HUBSPOT_DEFINED" if k.label is None else "USER_DEFINED",
                                "typeId": k.type_id,
                                "label": k.label,
                            }
                            for k in kinds
                        ],
                    }
                    for to_id, kinds in chunk
                ],
            }
            if start + page_size < len(edges):
                row["paging"] = paging(request, start + page_size)
            results.append(row)
    now = iso(fake.clock.now_ms())
    out: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}
    if not empty:
        return json(out)
    out["numErrors"] = len(empty)
    out["errors"] = [
        {
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
            "message": f"No {target} is associated with {source} {i}.",
            "context": {"fromObjectId": [i], "toObjectType": [target]},
        }
        for i in empty
    ]
    return json(out, 207)


@routes.get("/crm/v3/owners")
async def owners(request: web.Request) -> web.Response:
    fake = fake_of(request)
    limit = int_param(request, "limit", 100, 1, 500)
    after = int_param(request, "after", 0)
    with fake.marketing_lock:
        rows = fake.marketing.owners[after : after + limit]
        more = after + limit < len(fake.marketing.owners)
    body: dict[str, Any] = {"results": [extra(request, dict(r)) for r in rows]}
    if more:
        body["paging"] = paging(request, after + limit, limit=str(limit))
    return json(body)


@routes.get("/crm-pipelines/v1/pipelines/deals")
async def pipelines(request: web.Request) -> web.Response:
    return json({"results": [extra(request, dict(p)) for p in fake_of(request).marketing.pipelines]})
