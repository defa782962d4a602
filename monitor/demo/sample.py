"""The demo's sample: organisations shaped like the survey, with months of posting history.

The survey behind the product: of 38 public organisations, 33 are on social media, all 33 on
Facebook, 25 on LinkedIn and 20 on Instagram; 6 of the 20 Instagram and 5 of the 25 LinkedIn
pages are not kept up; 33 have a website with news. The sample has that make-up, plus a few
YouTube, Mastodon and Bluesky channels.

Histories look like an organisation's: posts on working days in office hours, fewer at
weekends, campaigns that come in bursts, slow weeks around Christmas and in the summer. Each
channel is meant to be in one state; its history is drawn, then judged by ``monitor.cadence``
(the daemon's own judgement) now and some hours from now, and drawn again until it is. Pure:
a seed and ``now`` in, the same sample out.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from monitor.cadence import ActivityState, assess
from monitor.settings import Policy

A = ActivityState
DAY = timedelta(days=1)
HISTORY = timedelta(days=270)  # how far back an active channel's history goes
STABLE_FOR = timedelta(hours=6)  # each channel's state holds from now until at least this later
FEED_ITEMS = {"rss": 20, "youtube": 15}  # a website's feed and YouTube's feed keep only the newest
POLICY = Policy()  # the demo's configuration sets no policy: the defaults judge every channel

# (name, platforms): each platform with the state its channel is drawn for; "expired" is a
# Facebook page whose token has expired (never read: unknown); "parked" a channel kept for its name
_F, _I, _L, _W = "facebook", "instagram", "linkedin", "rss"
ORGANISATIONS: tuple[tuple[str, dict[str, str]], ...] = (
    (
        "Gemeente Aldervoort",
        {
            _F: "active",
            _I: "active",
            _L: "active",
            _W: "active",
            "youtube": "active",
            "mastodon": "active",
            "bluesky": "active",
        },
    ),
    ("Gemeente Brederwijk", {_F: "active", _I: "active", _W: "active"}),
    ("Gemeente Coevelo", {_F: "active", _I: "inactive", _L: "active", _W: "active"}),
    ("Gemeente Dalfsterveen", {_F: "active", _I: "active", _L: "below_target", _W: "active"}),
    ("Gemeente Eemsterland", {_F: "quiet", _I: "dormant", _L: "active", _W: "active"}),
    ("Gemeente Friesmeer", {_F: "active", _I: "active", _L: "inactive", _W: "below_target"}),
    (
        "Gemeente Gravenhoeve",
        {_F: "active", _I: "quiet", _L: "active", _W: "active", "youtube": "dormant"},
    ),
    (
        "Gemeente Hollandsveld",
        {_F: "below_target", _I: "active", _W: "active", "mastodon": "active"},
    ),
    ("Gemeente IJsselwaarde", {_F: "active", _I: "never_posted", _L: "dormant", _W: "active"}),
    ("Gemeente Jutfaas-Oost", {_F: "inactive", _I: "below_target", _L: "active", _W: "inactive"}),
    ("Gemeente Kroonenburg", {_F: "active", _I: "active", _L: "quiet", _W: "active"}),
    (
        "Gemeente Lemmerveen",
        {_F: "active", _I: "inactive", _L: "active", _W: "active", "youtube": "active"},
    ),
    ("Gemeente Maasbergen", {_F: "expired", _I: "active", _L: "active", _W: "active"}),
    ("Gemeente Noorderwolde", {_F: "active", _I: "below_target", _L: "never_posted", _W: "active"}),
    ("Gemeente Oosterdijk", {_F: "active", _I: "dormant", _L: "active", _W: "dormant"}),
    ("Gemeente Peelhorst", {_F: "below_target", _I: "active", _L: "below_target", _W: "active"}),
    (
        "Gemeente Rijnsterbeek",
        {_F: "active", _I: "inactive", _L: "active", _W: "active", "bluesky": "never_posted"},
    ),
    ("Gemeente Schoonvliet", {_F: "active", _I: "quiet", _L: "inactive", _W: "active"}),
    ("Gemeente Tolhuizen", {_F: "dormant", _I: "active", _L: "active", _W: "inactive"}),
    ("Gemeente Uddelervaart", {_F: "active", _I: "below_target"}),
    (
        "Provincie Zuiderkwartier",
        {
            _F: "active",
            _L: "active",
            _W: "active",
            "youtube": "active",
            "mastodon": "below_target",
            "bluesky": "active",
        },
    ),
    ("Provincie Hoogeland", {_F: "quiet", _L: "dormant", _W: "active", "youtube": "parked"}),
    ("Waterschap De Veenstromen", {_F: "active", _L: "active", _W: "below_target"}),
    ("Waterschap Rivierland-Oost", {_F: "active", _L: "quiet", _W: "active"}),
    (
        "Veiligheidsregio Midden-Oost",
        {_F: "active", _L: "active", _W: "active", "mastodon": "active"},
    ),
    ("GGD Westerkwartier", {_F: "inactive", _L: "below_target", _W: "active"}),
    ("Omgevingsdienst Delta-Noord", {_F: "below_target", _L: "active", _W: "inactive"}),
    (
        "Ministerie van Voorbeeldzaken",
        {_F: "active", _L: "active", _W: "active", "youtube": "active"},
    ),
    ("Agentschap Digitale Dienstverlening", {_F: "active", _W: "active"}),
    ("Rijksdienst voor Leefomgeving", {_F: "active", _W: "active"}),
    ("Regionaal Archief Vechtstreek", {_F: "quiet", _W: "active"}),
    ("Stadsbank Middenland", {_F: "active"}),
    ("Belastingsamenwerking Kempenland", {_F: "active"}),
    ("Gemeenschappelijke Regeling Afval Noord", {_W: "active"}),
    ("Recreatieschap Plassengebied", {_W: "dormant"}),
    ("Samenwerkingsverband Sociaal Domein", {_W: "active"}),
    ("Rekenkamer Zuidoost", {}),
    ("Erfgoedcommissie Lindevallei", {}),
)
"""38 organisations: 33 on social media (Facebook 33, LinkedIn 25, Instagram 20), 33 websites."""

_RATES = {  # posts per working week of an active channel, by platform: (lowest, highest)
    "facebook": (3.0, 7.0),
    "instagram": (2.0, 5.0),
    "linkedin": (1.5, 4.0),
    "rss": (2.0, 5.0),
    "youtube": (1.0, 2.0),
    "mastodon": (3.0, 8.0),
    "bluesky": (2.0, 6.0),
}
_WEEKDAY = (1.2, 1.15, 1.1, 1.1, 0.9, 0.2, 0.1)  # Monday first: public bodies post on workdays


@dataclass(frozen=True, slots=True)
class Channel:
    """One channel of the sample: who, where, the state it was drawn for and its posts."""

    organisation: str
    platform: str
    intended: str  # an ActivityState value, "expired" or "parked"
    posts: tuple[datetime, ...]  # newest first, as the platform serves them

    @property
    def judged_as(self) -> ActivityState:
        """The state the daemon will judge once it has read the channel."""
        if self.intended == "expired":
            return A.UNKNOWN  # never read: fetch failure is not inactivity
        if self.intended == "parked":
            return A.PARKED
        return A(self.intended)


def channels(now: datetime, seed: int = 2026) -> list[Channel]:
    """Every channel of the sample, histories drawn for ``now`` (configuration order)."""
    rng = random.Random(seed)  # noqa: S311  (a sample, not a secret)
    result = []
    for organisation, platforms in ORGANISATIONS:
        for platform, intended in platforms.items():
            posts = _history(rng, platform, intended, now)
            result.append(Channel(organisation, platform, intended, posts))
    return result


def _history(
    rng: random.Random, platform: str, intended: str, now: datetime
) -> tuple[datetime, ...]:
    target = {"expired": "active", "parked": "active"}.get(intended, intended)
    if target == A.NEVER_POSTED:
        return ()
    for _ in range(200):
        times = _draw(rng, platform, target, now)
        times = times[: FEED_ITEMS.get(platform, len(times))]
        if all(_judge(times, now + lag) == target for lag in (timedelta(0), STABLE_FOR)):
            return tuple(times)
    raise RuntimeError(f"could not draw a {target} history for {platform}")  # pragma: no cover


def _judge(times: Sequence[datetime], at: datetime) -> ActivityState:
    return assess(times, POLICY, at, polled_ok=True).state


def _draw(rng: random.Random, platform: str, target: str, now: datetime) -> list[datetime]:
    """A history meant for ``target``, newest first."""
    low, high = _RATES[platform]
    rate = rng.uniform(low, high)
    end = now
    if target == A.BELOW_TARGET:
        rate = rng.uniform(0.35, 0.6)  # one post in about two weeks: below 2 per 14 days
    elif target == A.QUIET:
        end = now - rng.uniform(11, 24) * DAY  # a busy channel that stopped a while ago
    elif target == A.INACTIVE:
        end = now - rng.uniform(35, 150) * DAY
    elif target == A.DORMANT:
        end = now - rng.uniform(200, 480) * DAY
    start = end - HISTORY
    times = _posting(rng, rate, start, end)
    if target == A.ACTIVE and (not times or now - times[0] > DAY):
        times.insert(0, now - rng.uniform(0.1, 0.9) * DAY)  # someone posted this morning
    if target == A.BELOW_TARGET:
        # exactly one post in the target period, a few days old; the rest spread out before
        times = [t for t in times if t < now - POLICY.target_period]
        times.insert(0, now - rng.uniform(2, 6) * DAY)
    return times


def _posting(rng: random.Random, rate: float, start: datetime, end: datetime) -> list[datetime]:
    """Posts between ``start`` and ``end`` at about ``rate`` a week, newest first: working
    days and hours, campaign bursts, holidays."""
    times = []
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    burst_until = day
    while day < end:
        if day >= burst_until and rng.random() < 0.03:  # a campaign: a busy week or two
            burst_until = day + rng.randint(5, 12) * DAY
        expected = rate / 5 * _WEEKDAY[day.weekday()] * _season(day)
        if day < burst_until:
            expected *= 2.5
        for _ in range(_poisson(rng, expected)):
            hour = rng.triangular(7.5, 18.5, 10.5)  # mornings most, some late afternoon
            at = day + timedelta(hours=hour) - timedelta(hours=1)  # Amsterdam's office hours, UTC
            if start <= at < end:
                times.append(at)
        day += DAY
    return sorted(times, reverse=True)


def _season(day: datetime) -> float:
    """Less is posted around Christmas and in the summer holidays."""
    if (day.month == 12 and day.day >= 22) or (day.month == 1 and day.day <= 3):
        return 0.25
    if (day.month == 7 and day.day >= 15) or (day.month == 8 and day.day <= 25):
        return 0.5
    return 1.0


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method: the means here are small)."""
    if mean <= 0:
        return 0
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def survey(sample: Sequence[Channel]) -> dict[str, tuple[int, int]]:
    """Per platform: (channels, channels not kept up) as the sample means them."""
    not_kept_up = {A.INACTIVE, A.DORMANT, A.NEVER_POSTED}
    counts: dict[str, tuple[int, int]] = {}
    for c in sample:
        total, bad = counts.get(c.platform, (0, 0))
        counts[c.platform] = (total + 1, bad + (c.judged_as in not_kept_up))
    return counts
