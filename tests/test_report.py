"""``monitor.report``: the survey's table, the grid, the channel rows and the scorecard, in
Markdown, self-contained HTML and a CSV of plain numbers that never opens as formulas."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from monitor.cadence import ActivityState
from monitor.records import ChannelRecord, PostTime
from monitor.report import build, render, scorecard
from monitor.settings import ChannelSettings, Policy
from monitor.views import ChannelView, judge
from tests.conftest import NOW

DAY = timedelta(days=1)
NUMBERS = (
    *("silence_seconds", "silence_days", "usual_gap_seconds", "usual_gap_days"),
    *("posts_per_week_14d", "posts_per_week_30d", "posts_per_week_90d"),
    *("target_posts", "target_period_days", "posts_in_target_period"),
)
# OWASP "CSV Injection": a cell starting with one of these is read as a formula
FORMULAS = ['=HYPERLINK("https://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]


def channel(
    org: str,
    platform: str,
    posts: list[float] | None,  # days ago; None: never read
    *,
    handle: str | None = None,
    channel_id: int = 1,
    name: str | None = None,
    parked: bool = False,
    failing: bool = False,
    at: timedelta = timedelta(0),  # judged this long before NOW
) -> ChannelView:
    handle = handle or f"{org.lower().replace(' ', '')}-{platform}"
    read = posts is not None
    record = ChannelRecord(
        id=channel_id,
        organisation=org,
        platform=platform,
        handle=handle,
        name=name if name is not None else f"{org} on {platform}",
        url=f"https://{platform}.example/{handle}",
        followers=None,
        last_poll_at=NOW - timedelta(minutes=5),
        last_poll_ok=not failing,
        last_success_at=NOW - timedelta(minutes=5) if read else None,
        last_error_reason="auth" if failing else None,
        last_error_detail="Error validating access token: Session has expired" if failing else None,
        consecutive_failures=1 if failing else 0,
    )
    settings = ChannelSettings(org, platform, handle, Policy(), timedelta(hours=6), parked)
    times = [PostTime(NOW - d * DAY, "post") for d in posts or ()]
    return judge(settings, record, times, NOW - at)


def every(days: float, newest: float = 0.5, count: int = 40) -> list[float]:
    return [newest + i * days for i in range(count)]


def survey_views() -> list[ChannelView]:
    """Five Instagram channels (two not kept up), three LinkedIn (one), and a website."""
    return [
        channel("Gemeente A", "instagram", every(1), channel_id=1),
        channel("Gemeente A", "linkedin", every(3), channel_id=2),
        channel("Gemeente A", "rss", every(2), channel_id=3),
        channel("Gemeente B", "instagram", every(7, newest=45), channel_id=4),  # inactive
        channel("Gemeente B", "linkedin", [], channel_id=5),  # never posted
        channel("Provincie C", "instagram", every(7, newest=200), channel_id=6),  # dormant
        channel("Provincie C", "linkedin", every(2), channel_id=7),
        channel("Waterschap D", "instagram", every(2), channel_id=8, parked=True),
        channel("Agentschap E", "instagram", None, channel_id=9, failing=True),  # unknown
    ]


def test_the_survey_table_counts_organisations_states_and_not_kept_up() -> None:
    report = build(survey_views(), NOW)
    rows = {r.platform: r for r in report.platforms}
    assert list(rows) == ["instagram", "linkedin", "rss"]  # the contract's platform order
    instagram = rows["instagram"]
    assert (instagram.organisations, instagram.channels, instagram.not_kept_up) == (5, 5, 2)
    assert instagram.states[ActivityState.INACTIVE] == 1
    assert instagram.states[ActivityState.DORMANT] == 1
    assert instagram.states[ActivityState.PARKED] == 1
    assert instagram.states[ActivityState.UNKNOWN] == 1
    assert (rows["linkedin"].channels, rows["linkedin"].not_kept_up) == (3, 1)
    text = render(report, "md")
    assert "- 2 of 5 Instagram channels not kept up (40%)" in text
    assert "- 1 of 3 LinkedIn channels not kept up (33%)" in text
    assert "| Instagram | 5 | " in text and "| 2 of 5 (40%) |" in text


def test_the_grid_shows_each_organisations_platforms() -> None:
    report = build(survey_views(), NOW)
    assert report.grid_platforms == ("instagram", "linkedin", "rss")
    grid = {row.organisation: row.cells for row in report.grid}
    assert grid["Gemeente B"] == {
        "instagram": (ActivityState.INACTIVE,),
        "linkedin": (ActivityState.NEVER_POSTED,),
    }
    text = render(report, "md")
    assert "| Gemeente B | inactive | never posted | – |" in text


def test_channel_rows_give_silence_rates_gap_target_and_the_reason() -> None:
    text = render(build(survey_views(), NOW), "md")
    line = next(x for x in text.splitlines() if x.startswith("| Gemeente B | Instagram |"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[3] == "inactive"
    assert cells[4] == "no post for 45 days; inactive after 30 days"
    assert cells[5:10] == ["45 d", "0.0", "0.0", "0.5", "7.0 d"]
    assert cells[10:12] == ["2 per 14 d", "0"]


def test_csv_holds_plain_numbers_names_and_urls() -> None:
    text = render(build(survey_views(), NOW), "csv")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    b = next(r for r in rows if r["organisation"] == "Gemeente B" and r["platform"] == "instagram")
    assert b["name"] == "Gemeente B on instagram"
    assert b["url"] == "https://instagram.example/gemeenteb-instagram"
    assert float(b["silence_seconds"]) == 45 * 86400
    assert float(b["silence_days"]) == 45
    assert float(b["usual_gap_days"]) == 7
    assert float(b["posts_per_week_90d"]) == pytest.approx(7 / 90 * 7, abs=0.01)
    assert (b["target_posts"], b["target_period_days"], b["posts_in_target_period"]) == (
        "2",
        "14",
        "0",
    )
    never = next(r for r in rows if r["platform"] == "linkedin" and r["state"] == "never_posted")
    assert never["silence_seconds"] == "" and never["usual_gap_days"] == ""  # not "–"
    for row in rows:
        for key in NUMBERS:  # a number or empty: never "0.5 d" or "–"
            assert row[key] == "" or float(row[key]) >= 0, (key, row[key])


@pytest.mark.parametrize("name", FORMULAS)
def test_csv_cells_never_start_a_formula(name: str) -> None:
    text = render(build([channel(name, "rss", every(1), name=name)], NOW), "csv")
    header, row = list(csv.reader(io.StringIO(text, newline="")))
    assert header[:4] == ["organisation", "platform", "channel", "state"]
    clean = name.replace("\t", "").replace("\r", "")  # control characters are dropped
    assert row[0] == ("'" + clean if clean.startswith(("=", "+", "-", "@")) else clean)
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row)


def test_html_is_self_contained_styled_with_charts_and_escaped() -> None:
    views = [*survey_views(), channel("<script>alert(1)</script>", "rss", every(1), channel_id=10)]
    page = render(build(views, NOW), "html")
    assert page.startswith("<!doctype html>")
    assert "<style>" in page and "<svg" in page and "<rect" in page
    assert "<script" not in page  # the organisation name is text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "src=" not in page and "<link" not in page  # nothing loaded from elsewhere
    assert "2 of 5 Instagram channels not kept up (40%)" in page


def test_simulated_data_says_so_in_every_format() -> None:
    report = build(survey_views(), NOW, simulated=True)
    assert "Simulated data" in render(report, "md")
    assert "Simulated data" in render(report, "html")
    assert "Simulated data" not in render(build(survey_views(), NOW), "md")


def test_the_scorecard_compares_the_period_with_the_one_before() -> None:
    # 3 posts in the last 14 days, 1 in the 14 before: below target then, on target now
    posts = [1.0, 5.0, 9.0, 20.0]
    now = channel("Gemeente A", "facebook", posts, channel_id=1)
    then = channel("Gemeente A", "facebook", posts, channel_id=1, at=14 * DAY)
    quiet = channel("Gemeente B", "facebook", [16.0, 18.0, 22.0], channel_id=2)
    quiet_then = channel("Gemeente B", "facebook", [16.0, 18.0, 22.0], channel_id=2, at=14 * DAY)
    stored = {
        1: [PostTime(NOW - d * DAY, "post") for d in posts],
        2: [PostTime(NOW - d * DAY, "post") for d in (16.0, 18.0, 22.0)],
    }
    score = scorecard([now, quiet], [then, quiet_then], stored, 14 * DAY, NOW)
    a, b = score.channels
    assert (a.posts, a.previous_posts, a.change, a.met, a.previously_met) == (3, 1, 2, True, False)
    assert (a.previous_state, a.state) == (ActivityState.BELOW_TARGET, ActivityState.ACTIVE)
    assert (b.posts, b.previous_posts, b.change, b.met) == (0, 3, -3, False)
    (facebook,) = score.platforms
    assert (facebook.channels, facebook.met, facebook.previously_met) == (2, 1, 1)
    assert (facebook.posts, facebook.previous_posts) == (3, 4)
    report = build([now, quiet], NOW, score=score)
    text = render(report, "md")
    assert "## Scorecard: the last 14 days against the 14 days before" in text
    assert "| Gemeente A | Facebook | Gemeente A on facebook | 3 | 1 | +2 | 2 | yes |" in text
    rows = list(csv.DictReader(io.StringIO(render(report, "csv"), newline="")))
    assert (rows[1]["posts_in_period"], rows[1]["change"], rows[1]["target_met"]) == (
        "0",
        "-3",
        "false",
    )
    assert "Scorecard" in render(report, "html")
