"""``/metrics`` from kept lines (``monitor.exposition``) is byte for byte what prometheus_client
writes for the same views, in every format a scraper may ask for, and follows changes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.exposition import choose_encoder

from monitor.exposition import ChannelExposition
from monitor.metrics import ChannelCollector
from monitor.records import ChannelRecord, PostTime
from monitor.settings import ChannelSettings, Policy
from monitor.views import ChannelView, judge
from tests.conftest import NOW

ACCEPT = [
    "",
    "text/plain;version=0.0.4",
    "application/openmetrics-text;version=1.0.0",
    "application/openmetrics-text; version=1.0.0; charset=utf-8",
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8",
    "application/openmetrics-text;version=1.0.0;escaping=dots",
    "application/openmetrics-text;version=1.0.0;escaping=values",
    "text/plain;version=1.0.0;escaping=allow-utf-8",
    "application/openmetrics-text;version=0.0.1,text/plain;version=0.0.4;q=0.5",
]
TEXT = st.text(alphabet=st.sampled_from('ab"\\\n é€{}=,#'), max_size=8)


@st.composite
def channel_views(draw: st.DrawFn, index: int) -> ChannelView:
    settings = ChannelSettings(
        draw(TEXT) + f"org{index}",
        draw(st.sampled_from(["rss", "mastodon"])),
        f"https://x{index}.example/{draw(TEXT)}",
        Policy(target_posts=draw(st.integers(0, 5))),
        timedelta(hours=1),
        parked=draw(st.booleans()),
    )
    ok = draw(st.sampled_from([True, False, None]))
    record = ChannelRecord(
        id=index,
        organisation=settings.organisation,
        platform=settings.platform,
        handle=settings.label,
        name=draw(st.none() | TEXT),
        url=draw(st.none() | st.sampled_from(["https://a.example/p?key=1", "http://[x", ""])),
        followers=draw(st.none() | st.integers(0, 2**53)),
        last_poll_at=None if ok is None else NOW,
        last_poll_ok=ok,
        last_success_at=None if ok is None else NOW - timedelta(hours=draw(st.integers(0, 9))),
        last_error_reason=None,
        last_error_detail=None,
        consecutive_failures=draw(st.integers(0, 3)),
    )
    hours = draw(st.lists(st.integers(0, 24 * 200), max_size=12))
    posts = [PostTime(NOW - timedelta(hours=h, microseconds=7), "post") for h in hours]
    return judge(settings, record, posts, NOW)


def kept(first: Sequence[bytes], then: Sequence[bytes]) -> bool:
    """Whether two scrapes sent the same kept pages of lines (not written again)."""
    pages = [(a, b) for a, b in zip(first, then, strict=True) if not a.startswith(b"#")]
    return bool(pages) and all(a is b for a, b in pages)


def reference(views: Sequence[ChannelView], accept: str) -> bytes:
    """prometheus_client's own rendering of the same channels."""
    registry = CollectorRegistry()
    registry.register(ChannelCollector(lambda: views))
    encoder, _ = choose_encoder(accept)
    return encoder(registry)


@settings(max_examples=60, deadline=None)
@given(st.data(), st.integers(0, 4))
def test_kept_lines_are_what_prometheus_client_writes(data: st.DataObject, count: int) -> None:
    views = [data.draw(channel_views(i)) for i in range(count)]
    current = [(1, list(enumerate(views)))]
    exposition = ChannelExposition(lambda: current[0])
    for accept in ACCEPT:
        encoder, _ = choose_encoder(accept)
        assert exposition.render(encoder, CollectorRegistry()) == reference(views, accept), accept

    # then a poll of each channel that changed nothing but when it was made (a 304), or failed
    later = NOW + timedelta(minutes=data.draw(st.integers(1, 10**6)))
    polled = [
        replace(
            v,
            record=replace(
                v.record,
                last_poll_at=later,
                last_success_at=later if data.draw(st.booleans()) else v.record.last_success_at,
            ),
        )
        for v in views
    ]
    current[0] = (2, list(enumerate(polled)))
    for accept in ACCEPT:
        encoder, _ = choose_encoder(accept)
        assert exposition.render(encoder, CollectorRegistry()) == reference(polled, accept), accept


@settings(max_examples=60, deadline=None)
@given(st.data(), st.integers(1, 7), st.integers(1, 3))
def test_pages_follow_each_change_as_told_or_seen(
    data: st.DataObject, count: int, page: int
) -> None:
    """Channels change a few at a time, some only in when they were polled: the lines spliced
    into their pages are what prometheus_client writes for the whole, whether the change was
    told (``changed``) or found by looking at every channel."""
    views = [data.draw(channel_views(i)) for i in range(count)]
    log: list[tuple[int, int]] = []  # (version, channel) as the judgement keeps it
    version = [1]

    def current() -> tuple[int, list[tuple[int, ChannelView]]]:
        return version[0], list(enumerate(views))

    def changed(after: int) -> tuple[int, list[tuple[int, ChannelView]]] | None:
        if data.draw(st.booleans(), label="change log lost"):
            return None
        return version[0], [(c, views[c]) for v, c in log if v > after]

    exposition = ChannelExposition(current, changed, page=page)
    encoder, _ = choose_encoder("")
    exposition.prepare()
    for step in range(data.draw(st.integers(1, 6), label="rounds")):
        for channel in data.draw(st.lists(st.integers(0, count - 1), max_size=count)):
            if data.draw(st.booleans(), label="only polled again"):
                later = NOW + timedelta(minutes=step + 1)
                record = replace(views[channel].record, last_poll_at=later, last_success_at=later)
                views[channel] = replace(views[channel], record=record)
            else:
                views[channel] = data.draw(channel_views(channel))
            version[0] += 1
            log.append((version[0], channel))
        if data.draw(st.booleans(), label="prepared before the scrape"):
            exposition.prepare()
        assert exposition.render(encoder, CollectorRegistry()) == reference(views, "")


def test_the_daemons_own_series_come_first_and_end_of_file_stays_last() -> None:
    registry = CollectorRegistry()
    Counter("own_polls", "Polls.", registry=registry).inc()
    exposition = ChannelExposition(lambda: (1, []))
    encoder, _ = choose_encoder("application/openmetrics-text;version=1.0.0")
    body = exposition.render(encoder, registry).decode()
    assert body.startswith("# HELP own_polls Polls.")
    assert body.endswith("# EOF\n") and body.count("# EOF") == 1
    assert "channel_monitor_build_info" in body


def test_lines_follow_the_judgement_and_are_kept_while_it_stands() -> None:
    settings = ChannelSettings("Org", "rss", "https://a.example/rss", Policy(), timedelta(hours=1))
    record = ChannelRecord(
        1, "Org", "rss", settings.label, "A", None, 5, NOW, True, NOW, None, None, 0
    )
    view = judge(settings, record, [PostTime(NOW - timedelta(days=1), "post")], NOW)
    current: list[tuple[int, list[tuple[int, ChannelView]]]] = [(1, [(1, view)])]
    exposition = ChannelExposition(lambda: current[0])
    encoder, _ = choose_encoder("")
    first = exposition.render(encoder, CollectorRegistry())
    assert exposition.render(encoder, CollectorRegistry()) == first
    assert kept(exposition.channel_pieces(encoder), exposition.channel_pieces(encoder))

    exposition.prepare()  # rendered ahead; OpenMetrics writes the same sample lines
    openmetrics, _ = choose_encoder("application/openmetrics-text;version=1.0.0")

    def samples(body: bytes) -> list[bytes]:
        return [line for line in body.splitlines() if not line.startswith(b"#")]

    assert samples(exposition.channels(openmetrics)) == samples(first)

    polled = replace(view, record=replace(record, followers=6, last_poll_at=NOW + timedelta(1)))
    current[0] = (2, [(1, polled)])
    again = exposition.render(encoder, CollectorRegistry())
    assert again == reference([polled], "")
    assert b"channel_monitor_followers{" in again and b"} 6.0\n" in again


@pytest.mark.parametrize("accept", ["", "application/openmetrics-text;version=1.0.0"])
def test_a_channel_whose_lines_cannot_be_written_is_left_out_alone(accept: str) -> None:
    settings = ChannelSettings("Org", "rss", "https://a.example/rss", Policy(), timedelta(hours=1))
    record = ChannelRecord(
        1, "Org", "rss", settings.label, "A", None, None, NOW, True, NOW, None, None, 0
    )
    good = judge(settings, record, [], NOW)
    odd = replace(
        good,
        record=replace(record, id=2, name=b"bytes"),
        settings=replace(settings, organisation="Odd"),
    )  # type: ignore[arg-type]
    exposition = ChannelExposition(lambda: (1, [(1, good), (2, odd)]))
    encoder, _ = choose_encoder(accept)
    body = exposition.render(encoder, CollectorRegistry())
    assert b'organisation="Org"' in body
    assert b'organisation="Odd"' not in body


def test_only_the_channels_held_are_exported_and_a_new_held_set_is_joined_anew() -> None:
    """Replicas: each exports the series of the channels it polls, so their scrapes add up to
    each channel once; the kept text must not outlive a change of what is held."""
    views = []
    for index in (1, 2, 3):
        settings = ChannelSettings(
            f"Org {index}", "rss", f"https://{index}.example/rss", Policy(), timedelta(hours=1)
        )
        record = ChannelRecord(
            index, settings.organisation, "rss", settings.label, None, None, None, NOW, True,
            NOW, None, None, 0,
        )  # fmt: skip
        views.append((index, judge(settings, record, [], NOW)))
    held: list[tuple[int, frozenset[int]]] = []
    exposition = ChannelExposition(lambda: (7, views), held=lambda: held[-1])
    for accept in ("", "application/openmetrics-text;version=1.0.0"):
        encoder, _ = choose_encoder(accept)
        held.append((len(held), frozenset({1, 3})))
        exposition.prepare()
        body = exposition.render(encoder, CollectorRegistry())
        assert body == reference([views[0][1], views[2][1]], accept)
        assert kept(exposition.channel_pieces(encoder), exposition.channel_pieces(encoder))

        held.append((len(held), frozenset({2})))  # the same judgement: only the set moved
        exposition.prepare()
        assert exposition.render(encoder, CollectorRegistry()) == reference([views[1][1]], accept)
