"""The local Hacker News API: deterministic data, the real API's shapes, and change over time."""

import asyncio
import itertools
import sys
from collections import Counter

import aiohttp
from aiohttp import web
from estuary_cdk.testing import serve_app
from source_hackernews.fake_api import STORY_LISTS, FakeHackerNews, make_app
from source_hackernews.fake_api.app import make_lowlevel_server, random_faults_middleware


def test_same_seed_same_data_other_seed_other_data() -> None:
    a, b, c = (
        FakeHackerNews(seed=7, items=5000),
        FakeHackerNews(seed=7, items=5000),
        FakeHackerNews(seed=8, items=5000),
    )
    assert [a.item(n) for n in range(1, 300)] == [b.item(n) for n in range(1, 300)]
    assert [a.item(n) for n in range(1, 300)] != [c.item(n) for n in range(1, 300)]
    assert a.story_list("topstories") == b.story_list("topstories")


def test_a_million_items_cost_nothing_until_asked() -> None:
    data = FakeHackerNews(items=1_000_000)
    last = data.item(1_000_000)
    assert data.maxitem == 1_000_000
    assert last is None or last["id"] == 1_000_000
    assert data.item(1_000_001) is None
    assert len(data.story_list("newstories")) == 500


def test_item_mix_covers_every_kind_and_flag() -> None:
    data = FakeHackerNews(items=20_000)
    items = [data.item(n) for n in range(1, 20_001)]
    kinds = Counter(i["type"] for i in items if i)
    assert set(kinds) == {"story", "comment", "job", "poll", "pollopt"}
    assert any(i is None for i in items)
    assert any(i and i.get("deleted") for i in items)
    assert any(i and i.get("dead") for i in items)
    times = [i["time"] for i in items if i]
    assert times == sorted(times) and all(isinstance(t, int) for t in times)
    deleted = next(i for i in items if i and i.get("deleted"))
    assert "by" not in deleted and deleted["id"] > 0


def test_relations_are_consistent() -> None:
    data = FakeHackerNews(items=3000)
    poll = data.item(500)
    assert poll is not None and poll["type"] == "poll" and poll["parts"] == [501, 502, 503]
    opt = data.item(501)
    assert opt is None or opt["poll"] == 500
    for n in range(1, 3000):
        item = data.item(n)
        for kid in (item or {}).get("kids", []):
            child = data.item(kid)
            assert child is not None and child["parent"] == n


def test_advance_creates_edits_deletes_and_delists() -> None:
    data = FakeHackerNews(items=2000)
    before = {name: data.story_list(name) for name in STORY_LISTS}
    result = data.advance(new_items=25, edits=5, deletes=2, delist=1)
    assert data.maxitem == 2025 == result["maxitem"]
    updates = data.updates()
    new_ids = [n for n in range(2001, 2026) if data.exists(n)]
    assert set(new_ids) <= set(updates["items"])
    assert set(result["changed"]) <= set(updates["items"])
    deleted = result["changed"][-2:]
    assert all(data.item(n)["deleted"] for n in deleted)  # type: ignore[index]
    assert all(data.author(n) in updates["profiles"] for n in result["changed"])
    for name in ("askstories", "showstories", "jobstories"):
        gone = set(before[name]) - set(data.story_list(name))
        assert gone & set(result["delisted"]), name
    assert not set(result["delisted"]) & {n for name in STORY_LISTS for n in data.story_list(name)}


def test_an_edit_changes_the_item_and_its_authors_profile() -> None:
    data = FakeHackerNews(items=2000)
    result = data.advance(edits=3)
    n = result["changed"][0]
    again = FakeHackerNews(items=2000)
    assert data.item(n) != again.item(n)
    assert data.user(data.author(n)) != again.user(data.author(n))


async def test_http_paths_and_shapes_match_the_real_api() -> None:
    data = FakeHackerNews(items=1500)
    async with serve_app(make_app(data)) as server, aiohttp.ClientSession() as session:

        async def get(path: str) -> object:
            async with session.get(server.url_for(path)) as resp:
                assert resp.status == 200
                assert resp.content_type == "application/json"
                return await resp.json()

        assert await get("/v0/maxitem.json") == 1500
        item = await get("/v0/item/1.json")
        assert item == data.item(1)
        assert await get("/v0/item/999999.json") is None
        assert await get("/v0/user/user1.json") == data.user("user1")
        assert await get("/v0/user/nobody.json") is None
        updates = await get("/v0/updates.json")
        assert isinstance(updates, dict) and set(updates) == {"items", "profiles"}
        for name in STORY_LISTS:
            assert await get(f"/v0/{name}.json") == data.story_list(name)

        async with session.post(
            server.url_for("/_control/advance"), json={"new_items": 10, "edits": 2}
        ) as resp:
            assert (await resp.json())["maxitem"] == 1510
        assert await get("/v0/maxitem.json") == 1510


async def test_faults_and_latency_compose_with_the_testing_middleware() -> None:
    data = FakeHackerNews(items=100)
    async with serve_app(make_app(data, latency_ms=5)) as server, aiohttp.ClientSession() as session:
        server.faults.rate_limit(path="/v0/maxitem.json")
        async with session.get(server.url_for("/v0/maxitem.json")) as resp:
            assert resp.status == 429
        async with session.get(server.url_for("/v0/maxitem.json")) as resp:
            assert resp.status == 200 and await resp.json() == 100
        assert server.requests.faults() == ["status:429", None]


async def test_random_faults_for_demos_fail_about_the_asked_fraction() -> None:
    data = FakeHackerNews(items=100)
    app = make_app(data, middlewares=[random_faults_middleware(0.3, seed=5)])
    statuses: Counter[str] = Counter()
    async with serve_app(app) as server, aiohttp.ClientSession() as session:
        for n in range(1, 201):
            try:
                async with session.get(server.url_for(f"/v0/item/{n}.json")) as resp:
                    await resp.read()
                    statuses[str(resp.status)] += 1
            except aiohttp.ClientError:
                statuses["dropped"] += 1
    assert set(statuses) == {"200", "429", "503", "dropped"}
    assert 30 <= 200 - statuses["200"] <= 90


async def test_lowlevel_server_answers_like_the_app() -> None:
    data = FakeHackerNews(items=300)
    runner = web.ServerRunner(make_lowlevel_server(data, latency_ms=1))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with serve_app(make_app(data)) as server, aiohttp.ClientSession() as session:
            for path in (
                "/v0/item/7.json",
                "/v0/maxitem.json",
                "/v0/updates.json",
                "/v0/topstories.json",
                "/v0/user/user2.json",
                "/v0/item/999.json",
                "/v0/nothing.json",
                "/_control/state",
            ):
                async with session.get(url + path) as low, session.get(server.url_for(path)) as app:
                    assert (low.status, await low.read()) == (app.status, await app.read()), path
            async with session.post(url + "/_control/advance", json={"new_items": 5}) as resp:
                assert resp.status == 200 and (await resp.json())["maxitem"] == 305 == data.maxitem
    finally:
        await runner.cleanup()


async def test_command_line_server_advances_on_its_clock() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "source_hackernews.fake_api",
        "--port",
        "0",
        "--items",
        "50",
        "--tick-seconds",
        "0.1",
        "--new-per-tick",
        "3",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        url = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
        async with aiohttp.ClientSession() as session:
            seen = [50]
            for _ in range(100):
                async with session.get(f"{url}/v0/maxitem.json") as resp:
                    seen.append(await resp.json())
                if seen[-1] >= 56:
                    break
                await asyncio.sleep(0.05)
        assert seen[-1] >= 56 and all((b - a) % 3 == 0 for a, b in itertools.pairwise(seen))
    finally:
        proc.kill()
        await proc.wait()
