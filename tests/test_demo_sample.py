"""The demo's sample has the survey's make-up, and histories that look like a public body's."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.cadence import ActivityState, assess
from monitor.demo import config_text, slug
from monitor.demo.sample import ORGANISATIONS, POLICY, channels, survey

SOCIAL = {"facebook", "instagram", "linkedin", "youtube", "mastodon", "bluesky"}
MOMENTS = [
    datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
    datetime(2026, 12, 29, 8, 0, tzinfo=UTC),  # in the Christmas slump
    datetime(2027, 8, 2, 16, 0, tzinfo=UTC),  # in the summer holidays
    datetime(2027, 3, 7, 23, 0, tzinfo=UTC),  # a Sunday night
]


def test_the_organisations_are_the_surveys() -> None:
    assert len(ORGANISATIONS) == 38
    assert sum(1 for _, platforms in ORGANISATIONS if SOCIAL & set(platforms)) == 33
    on = Counter(p for _, platforms in ORGANISATIONS for p in platforms)
    assert (on["facebook"], on["linkedin"], on["instagram"], on["rss"]) == (33, 25, 20, 33)
    assert len({name for name, _ in ORGANISATIONS}) == 38
    assert len({slug(name) for name, _ in ORGANISATIONS}) == 38  # handles are distinct


@pytest.mark.parametrize("now", MOMENTS)
def test_every_channel_is_judged_as_drawn_whenever_the_demo_starts(now: datetime) -> None:
    sample = channels(now)
    counts = survey(sample)
    assert counts["instagram"] == (20, 6)  # 6 of 20 not kept up
    assert counts["linkedin"] == (25, 5)  # 5 of 25
    assert counts["facebook"][0] == 33
    for channel in sample:
        if channel.intended in ("expired", "parked"):
            continue
        for later in (timedelta(0), timedelta(hours=6)):
            judged = assess(channel.posts, POLICY, now + later, polled_ok=True).state
            assert judged == ActivityState(channel.intended), (channel.organisation, later)
    assert sum(c.intended == "expired" for c in sample) == 1


def test_the_sample_is_the_same_for_the_same_moment() -> None:
    assert channels(MOMENTS[0]) == channels(MOMENTS[0])
    assert channels(MOMENTS[0]) != channels(MOMENTS[0], seed=7)


def test_histories_look_like_a_public_bodys() -> None:
    now = MOMENTS[3]  # nine months back: the summer of 2026 and its Christmas
    posts = [t for c in channels(now) if c.intended == "active" for t in c.posts]
    assert len(posts) > 3000
    weekend = sum(t.weekday() >= 5 for t in posts) / len(posts)
    assert weekend < 0.08  # public bodies post on working days
    office = sum(6 <= t.hour < 18 for t in posts) / len(posts)
    assert office > 0.95  # in office hours (Amsterdam: UTC + 1)
    # the Christmas fortnight is slower than the weeks around it
    christmas = sum(
        datetime(2026, 12, 22, tzinfo=UTC) <= t < datetime(2027, 1, 4, tzinfo=UTC) for t in posts
    )
    november = sum(
        datetime(2026, 11, 2, tzinfo=UTC) <= t < datetime(2026, 11, 15, tzinfo=UTC) for t in posts
    )
    assert christmas < november / 2
    summer = sum(
        datetime(2026, 7, 20, tzinfo=UTC) <= t < datetime(2026, 8, 17, tzinfo=UTC) for t in posts
    )
    autumn = sum(
        datetime(2026, 9, 21, tzinfo=UTC) <= t < datetime(2026, 10, 19, tzinfo=UTC) for t in posts
    )
    assert summer < autumn * 0.75
    # bursty: weekly counts vary more than a steady rate would (variance above the mean)
    weeks = Counter((now - t).days // 7 for t in posts if now - t < timedelta(days=180))
    counts = [weeks.get(w, 0) for w in range(25)]
    mean = sum(counts) / len(counts)
    assert sum((c - mean) ** 2 for c in counts) / len(counts) > mean


def test_the_configuration_is_simulated_and_names_every_organisation(tmp_path: Path) -> None:
    sample = channels(MOMENTS[0])
    bases = {
        k: f"http://127.0.0.1:{9000 + i}"
        for i, k in enumerate(("feeds", "graph", "linkedin", "mastodon", "bluesky"))
    }
    text = config_text(sample, tmp_path, "127.0.0.1:9184", bases, "http://127.0.0.1:9999/hook")
    assert "simulated = true" in text
    assert text.count("[[organisation]]") == 38
    assert 'youtube = { handle = "UC' in text and "parked = true" in text
