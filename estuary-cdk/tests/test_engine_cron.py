import re
from datetime import UTC, datetime, timedelta

import pytest
from estuary_cdk import cron
from estuary_cdk.capture._engine.config import CRON_REGEX

T0 = datetime(2025, 1, 1, 10, 30, 45, tzinfo=UTC)


def test_empty_expression_never_fires() -> None:
    assert cron.next_fire("", T0, T0 + timedelta(days=3)) is None


def test_first_matching_minute_after_truncated_start() -> None:
    assert cron.next_fire("*/15 * * * *", T0, T0 + timedelta(hours=1)) == datetime(
        2025, 1, 1, 10, 45, tzinfo=UTC
    )
    # Strictly after the start minute: a fire at the start minute itself is not returned.
    assert cron.next_fire("30 10 * * *", T0, T0 + timedelta(days=2)) == datetime(
        2025, 1, 2, 10, 30, tzinfo=UTC
    )


def test_end_is_inclusive_and_bounds_the_search() -> None:
    fire = datetime(2025, 1, 1, 11, 0, tzinfo=UTC)
    assert cron.next_fire("0 11 * * *", T0, fire) == fire
    assert cron.next_fire("0 11 * * *", T0, fire - timedelta(seconds=1)) is None


def test_missed_and_next_fire_partition_time() -> None:
    """A fire is seen exactly once: either as missed (<= now) or as the next one (> now)."""
    last = datetime(2025, 1, 1, 0, 0, tzinfo=UTC)
    now = datetime(2025, 1, 1, 6, 0, 0, tzinfo=UTC)
    assert cron.next_fire("0 6 * * *", last, now) == now
    assert cron.next_fire("0 6 * * *", now) != now


def test_default_end_is_computed_per_call(monkeypatch: pytest.MonkeyPatch) -> None:
    # A start far in the future (relative to import time) still finds its next fire, because the
    # default end is "now + 24h" at call time. We fake "now" by moving the datetime used by cron.
    future_now = datetime.now(tz=UTC) + timedelta(days=30)

    class _FakeDatetime(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def, override]
            return future_now

    monkeypatch.setattr(cron, "datetime", _FakeDatetime)
    fire = cron.next_fire("* * * * *", future_now)
    assert fire is not None and fire > future_now


@pytest.mark.parametrize(
    "expr, ok",
    [
        ("", True),
        ("0 */6 * * *", True),
        ("55 23 * * *", True),
        ("0,30 1-5 1 1,6 0-6", True),
        ("*/5 * * * 1", True),
        ("60 * * * *", False),
        ("* 24 * * *", False),
        ("* * 0 * *", False),
        ("* * * 13 *", False),
        ("* * * * 7", False),
        ("* * * *", False),
        ("daily", False),
    ],
)
def test_cron_regex(expr: str, ok: bool) -> None:
    assert bool(re.match(CRON_REGEX, expr)) is ok
