"""Deterministic Hacker News data, computed from (seed, id) on demand.

Nothing is stored per item: a million-item dataset costs no memory. The only mutable state is
what `advance()` changes (the max item id, per-item edit counters, deleted and de-listed ids,
and the rolling `updates` feed), all of which is small and bounded by what a test asks for.
"""

from collections import deque
from dataclasses import dataclass, field
from typing import Any

_MASK = (1 << 64) - 1

T0 = 1_700_000_000
"""Unix time of item 0; item n was created at `T0 + n * SECONDS_PER_ITEM`."""
SECONDS_PER_ITEM = 7

STORY_LISTS = ("topstories", "newstories", "beststories", "askstories", "showstories", "jobstories")
_LIST_WINDOW = 4000
_BIG_LIST = 500
_SMALL_LIST = 200
_MAX_KID_DISTANCE = 20
_UPDATES_ITEMS = 100
_UPDATES_PROFILES = 50
_SALTS = 10

_WORDS = (
    "rust python database compiler kernel startup open source model latency queue cache "
    "protocol browser engine graph vector stream async memory paper lisp unix network "
    "release design lessons scaling sqlite postgres bug security tiny fast new why how"
).split()


def _mix(x: int) -> int:
    """splitmix64 finalizer: a cheap, well-distributed hash of an integer."""
    z = (x + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


@dataclass
class FakeHackerNews:
    """The whole fake API's data, as pure functions of the seed plus a small mutable overlay."""

    seed: int = 1
    items: int = 1000
    """The initial max item id."""

    maxitem: int = field(init=False)
    step: int = field(init=False, default=0)
    """How many times `advance()` has run; lists and edits depend on it."""
    _versions: dict[int, int] = field(init=False, default_factory=dict)
    _user_versions: dict[str, int] = field(init=False, default_factory=dict)
    _deleted: set[int] = field(init=False, default_factory=set)
    _delisted: set[int] = field(init=False, default_factory=set)
    _updated_items: deque[int] = field(init=False)
    _updated_profiles: deque[str] = field(init=False)
    _lists_cache: tuple[tuple[int, int], dict[str, list[int]]] | None = field(init=False, default=None)
    _salts: list[int] = field(init=False, repr=False, default_factory=list)

    def __post_init__(self) -> None:
        if self.items < 1:
            raise ValueError("a fake Hacker News needs at least one item")
        self.maxitem = self.items
        self._salts = [_mix(self.seed * 0x100000001B3 + salt) for salt in range(_SALTS)]
        self._updated_items = deque(maxlen=_UPDATES_ITEMS)
        self._updated_profiles = deque(maxlen=_UPDATES_PROFILES)
        for n in range(max(1, self.maxitem - 9), self.maxitem + 1):
            self._note_updated(n)

    # --- per-id deterministic attributes -------------------------------------------------

    def _h(self, n: int, salt: int) -> int:
        return _mix(self._salts[salt] ^ n)

    @property
    def user_count(self) -> int:
        return max(10, self.items // 20)

    def exists(self, n: int) -> bool:
        """Whether the API returns an object (not `null`) for item `n`."""
        return 1 <= n <= self.maxitem and self._h(n, 1) % 1000 != 999

    def kind(self, n: int) -> str:
        """The item type, a pure function of `n` (polls own the three ids after them)."""
        r = n % 1000
        if r == 500:
            return "poll"
        if 501 <= r <= 503:
            return "pollopt"
        h = self._h(n, 2) % 100
        if h < 15:
            return "story"
        if h == 15:
            return "job"
        return "comment"

    def author(self, n: int) -> str:
        return f"user{self._h(n, 3) % self.user_count}"

    def parent(self, n: int) -> int:
        return max(1, n - 1 - self._h(n, 4) % _MAX_KID_DISTANCE)

    def time(self, n: int) -> int:
        return T0 + n * SECONDS_PER_ITEM

    def is_deleted(self, n: int) -> bool:
        return n in self._deleted or self._h(n, 5) % 1000 in range(990, 995)

    def is_dead(self, n: int) -> bool:
        return self._h(n, 5) % 1000 in range(980, 990)

    def version(self, n: int) -> int:
        return self._versions.get(n, 0)

    def score(self, n: int) -> int:
        return 1 + self._h(n, 6) % 400 + 7 * self.version(n)

    def title(self, n: int) -> str:
        h = self._h(n, 7)
        words = [_WORDS[(h >> (6 * i)) % len(_WORDS)] for i in range(3 + h % 5)]
        prefix = ("Ask HN: ", "Show HN: ", "", "", "", "")[(h >> 40) % 6]
        return prefix + " ".join(words).capitalize()

    def kids(self, n: int) -> list[int]:
        last = min(self.maxitem, n + _MAX_KID_DISTANCE)
        # The parent test is the cheapest and rarest to pass, so it goes first.
        return [
            m
            for m in range(n + 1, last + 1)
            if self.parent(m) == n and self.kind(m) == "comment" and self.exists(m)
        ]

    # --- API objects ---------------------------------------------------------------------

    def item(self, n: int) -> dict[str, Any] | None:
        """`/v0/item/<n>.json`."""
        if not self.exists(n):
            return None
        kind = self.kind(n)
        doc: dict[str, Any] = {"id": n, "type": kind, "time": self.time(n)}
        if self.is_deleted(n):
            doc["deleted"] = True
            if kind == "comment":
                doc["parent"] = self.parent(n)
            return doc
        doc["by"] = self.author(n)
        if self.is_dead(n):
            doc["dead"] = True
        v = self.version(n)
        if kind in ("story", "poll", "job"):
            doc["title"] = self.title(n)
            doc["score"] = self.score(n)
        if kind in ("story", "poll"):
            kids = self.kids(n)
            doc["descendants"] = len(kids)
            if kids:
                doc["kids"] = kids
        if kind == "story":
            if self.title(n).startswith("Ask HN"):
                doc["text"] = f"Question {n}?"
            else:
                doc["url"] = f"https://example.com/{n}"
        elif kind == "job":
            doc["url"] = f"https://jobs.example.com/{n}"
        elif kind == "poll":
            doc["parts"] = [n + 1, n + 2, n + 3]
            doc["text"] = "Which one?"
        elif kind == "pollopt":
            doc["poll"] = n - (n % 1000 - 500)
            doc["score"] = self.score(n)
            doc["text"] = f"Option {n % 1000 - 500}"
        else:
            doc["parent"] = self.parent(n)
            doc["text"] = f"Comment {n}" + (f" [edited {v}]" if v else "")
            kids = self.kids(n)
            if kids:
                doc["kids"] = kids
        return doc

    def user(self, name: str) -> dict[str, Any] | None:
        """`/v0/user/<name>.json` (without `submitted`, which would need a reverse index)."""
        if not name.startswith("user") or not name[4:].isdigit():
            return None
        k = int(name[4:])
        if k >= self.user_count:
            return None
        h = self._h(k, 8)
        return {
            "id": name,
            "created": T0 - 86_400 * (1 + h % 3000),
            "karma": 1 + h % 10_000 + 5 * self._user_versions.get(name, 0),
            "about": f"I am {name}.",
        }

    def updates(self) -> dict[str, list[Any]]:
        """`/v0/updates.json`: the most recently changed items and profiles, newest first."""
        return {"items": list(self._updated_items), "profiles": list(self._updated_profiles)}

    def story_list(self, name: str) -> list[int]:
        """One of the six story lists, recomputed when the data changes."""
        if name not in STORY_LISTS:
            raise KeyError(name)
        version = (self.maxitem, self.step)
        if self._lists_cache is None or self._lists_cache[0] != version:
            self._lists_cache = (version, self._compute_lists())
        return self._lists_cache[1][name]

    def _compute_lists(self) -> dict[str, list[int]]:
        first = max(1, self.maxitem - _LIST_WINDOW + 1)
        stories: list[int] = []
        jobs: list[int] = []
        for n in range(self.maxitem, first - 1, -1):
            if not self.exists(n) or self.is_deleted(n) or self.is_dead(n) or n in self._delisted:
                continue
            kind = self.kind(n)
            if kind == "story" or kind == "poll":
                stories.append(n)
            elif kind == "job":
                jobs.append(n)

        def hotness(n: int) -> float:
            age_hours = (self.maxitem - n) * SECONDS_PER_ITEM / 3600
            return self.score(n) / (age_hours + 2) ** 1.8

        return {
            "newstories": stories[:_BIG_LIST],
            "topstories": sorted(stories, key=hotness, reverse=True)[:_BIG_LIST],
            "beststories": sorted(stories, key=self.score, reverse=True)[:_BIG_LIST],
            "askstories": [n for n in stories if self.title(n).startswith("Ask HN")][:_SMALL_LIST],
            "showstories": [n for n in stories if self.title(n).startswith("Show HN")][:_SMALL_LIST],
            "jobstories": jobs[:_SMALL_LIST],
        }

    # --- change over time ----------------------------------------------------------------

    def _note_updated(self, n: int) -> None:
        if n in self._updated_items:
            self._updated_items.remove(n)
        self._updated_items.appendleft(n)
        name = self.author(n)
        if name in self._updated_profiles:
            self._updated_profiles.remove(name)
        self._updated_profiles.appendleft(name)

    def advance(
        self, new_items: int = 0, edits: int = 0, deletes: int = 0, delist: int = 0
    ) -> dict[str, Any]:
        """Move the world forward one step, as a live Hacker News would between two polls.

        `new_items` ids are created past `maxitem`; `edits` existing items change (score, text)
        and `deletes` existing items become deleted, all listed in `updates` with their authors
        (whose karma changes too); `delist` stories leave every story list. The choice of which
        ids is deterministic in (seed, step).
        """
        self.step += 1
        old_max = self.maxitem
        self.maxitem += new_items
        for n in range(old_max + 1, self.maxitem + 1):
            if self.exists(n):
                self._note_updated(n)
        changed: list[int] = []
        for i in range(edits + deletes):
            n = 1 + self._h(self.step * 100_003 + i, 9) % old_max
            if not self.exists(n):
                continue
            self._versions[n] = self.version(n) + 1
            if i >= edits:
                self._deleted.add(n)
            self._note_updated(n)
            name = self.author(n)
            self._user_versions[name] = self._user_versions.get(name, 0) + 1
            changed.append(n)
        delisted: list[int] = []
        for name in ("askstories", "showstories", "jobstories", "topstories"):
            current = self.story_list(name)
            for n in current[len(current) - delist :] if delist else []:
                self._delisted.add(n)
                delisted.append(n)
            self._lists_cache = None
        return {"maxitem": self.maxitem, "step": self.step, "changed": changed, "delisted": delisted}
