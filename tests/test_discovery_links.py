# ruff: noqa: E501  (tables of URLs read best one case a line)
"""Discovery's pure parts: what a page links and where, what a link points to, robots.txt rules,
which pages are read. No network."""

from __future__ import annotations

import json
from urllib.robotparser import RobotFileParser

import pytest

from monitor.discovery.fetch import robots_allow
from monitor.discovery.handles import (
    Candidate,
    Elsewhere,
    Ignored,
    aliases,
    classify,
    feed_key,
    url_aliases,
)
from monitor.discovery.links import page_links
from monitor.discovery.site import _subpages

PAGE = "https://www.voorbeeld.nl/nieuws/"


def regions(html: str) -> dict[str, str | None]:
    return {a.url: a.region for a in page_links(html, PAGE).anchors}


# --- where a link sits --------------------------------------------------------------------------


def test_chrome_regions_by_element_role_and_class() -> None:
    html = """
    <header><a href="https://a.example/1">1</a></header>
    <div role="contentinfo"><a href="https://a.example/2">2</a></div>
    <nav><ul><li><a href="https://a.example/3">3</a></li></ul></nav>
    <aside><a href="https://a.example/4">4</a></aside>
    <div id="footer"><a href="https://a.example/5">5</a></div>
    <div class="elementor social-icons"><a href="https://a.example/6">6</a></div>
    <main><p><a href="https://a.example/7">7</a></p></main>
    <p><a href="https://a.example/8">8</a></p>
    """
    assert regions(html) == {
        "https://a.example/1": "header",
        "https://a.example/2": "footer",
        "https://a.example/3": "nav",
        "https://a.example/4": "aside",
        "https://a.example/5": "footer",
        "https://a.example/6": "social",
        "https://a.example/7": None,
        "https://a.example/8": None,
    }


def test_a_header_or_footer_inside_an_article_or_main_is_content() -> None:
    html = """
    <main><article><header><a href="https://a.example/byline">by</a></header>
    <footer class="entry-footer"><a href="https://a.example/share">share</a></footer></article></main>
    <footer><ul class="social"><a href="https://a.example/own">own</a></ul></footer>
    """
    assert regions(html) == {
        "https://a.example/byline": None,
        "https://a.example/share": None,
        "https://a.example/own": "footer",  # the landmark names it, not the inner block
    }


def test_regions_survive_unclosed_and_stray_tags() -> None:
    html = """<footer><p>unclosed <li><a href="https://a.example/1">1</a></span></div>
    </footer><p><a href="https://a.example/2">2</a>"""
    assert regions(html) == {"https://a.example/1": "footer", "https://a.example/2": None}


def test_anchor_text_from_text_alt_aria_label_and_svg_title() -> None:
    html = """<footer>
    <a href="https://a.example/1"><img src="f.svg" alt="Facebook"></a>
    <a href="https://a.example/2" aria-label="Volg ons op Mastodon"><i class="fa fa-mastodon"></i></a>
    <a href="https://a.example/3"><svg><title>Instagram</title></svg> </a>
    </footer>"""
    found = {a.url: (a.text, a.hint) for a in page_links(html, PAGE).anchors}
    assert found == {
        "https://a.example/1": ("Facebook", ""),
        "https://a.example/2": ("Volg ons op Mastodon", ""),
        "https://a.example/3": ("Instagram", ""),
    }


def test_relative_links_base_href_and_what_is_not_a_link() -> None:
    html = """<base href="https://cdn.voorbeeld.nl/site/">
    <a href="contact">c</a><a href="/over-ons#team">o</a>
    <a href="mailto:info@voorbeeld.nl">m</a><a href="tel:14012">t</a>
    <a href="javascript:void(0)">j</a><a href="#top">top</a><a href="ftp://x.example/">f</a>"""
    assert [a.url for a in page_links(html, PAGE).anchors] == [
        "https://cdn.voorbeeld.nl/site/contact",
        "https://cdn.voorbeeld.nl/over-ons",
    ]


def test_rel_me_feeds_and_canonical() -> None:
    html = """<head>
    <link rel="me" href="https://social.overheid.nl/@voorbeeld">
    <link rel="alternate" type="application/rss+xml" title="Nieuws" href="/feed/">
    <link rel="alternate" type="application/atom+xml; charset=utf-8" href="/atom.xml">
    <link rel="alternate" type="application/json" href="/wp-json/">
    <link rel="alternate" hreflang="en" href="/en/">
    <link rel="canonical" href="https://www.voorbeeld.nl/">
    </head><body><a rel="me noopener" href="https://mastodon.example/@v">M</a></body>"""
    links = page_links(html, PAGE)
    assert links.me == ["https://social.overheid.nl/@voorbeeld"]
    assert [(f.url, f.title) for f in links.feeds] == [
        ("https://www.voorbeeld.nl/feed/", "Nieuws"),
        ("https://www.voorbeeld.nl/atom.xml", ""),
    ]
    assert links.canonical == "https://www.voorbeeld.nl/"
    assert [(a.url, a.rel_me) for a in links.anchors] == [("https://mastodon.example/@v", True)]


def test_og_url_stands_in_for_a_missing_canonical() -> None:
    html = '<meta property="og:url" content="https://www.youtube.com/channel/UC1">'
    assert page_links(html, PAGE).canonical == "https://www.youtube.com/channel/UC1"


# --- JSON-LD -------------------------------------------------------------------------------------


def ld(data: object) -> str:
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


def test_json_ld_same_as_of_the_organisation_in_a_graph_or_alone() -> None:
    graph = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "WebSite", "sameAs": ["https://www.facebook.com/website"]},
            {
                "@type": ["Organization", "GovernmentOrganization"],
                "sameAs": ["https://www.facebook.com/org", "https://x.com/org", 5],
            },
        ],
    }
    alone = {"@type": "GovernmentOrganization", "sameAs": "https://bsky.app/profile/o.nl"}
    links = page_links(ld(graph) + ld([alone]), PAGE)
    assert links.same_as == [
        "https://www.facebook.com/org",
        "https://x.com/org",
        "https://bsky.app/profile/o.nl",
    ]


def test_json_ld_of_a_nested_partner_or_another_type_is_not_ours() -> None:
    event = {
        "@type": "Event",
        "organizer": {"@type": "Organization", "sameAs": "https://www.facebook.com/partner"},
    }
    person = {"@type": "Person", "sameAs": "https://www.linkedin.com/in/someone"}
    links = page_links(ld(event) + ld(person), PAGE)
    assert links.same_as == []


def test_broken_json_ld_is_a_problem_not_a_crash() -> None:
    html = '<script type="application/ld+json">{"@type": "Organization",</script>'
    html += '<script type="application/ld+json"><!-- {"@type": "NGO", "sameAs": "https://www.instagram.com/ngo"} --></script>'
    links = page_links(html, PAGE)
    assert links.problems == ["a JSON-LD block is not valid JSON"]
    assert links.same_as == ["https://www.instagram.com/ngo"]


# --- what a link points to -----------------------------------------------------------------------

CHANNELS = [
    # (url, platform, handle, name, still to resolve)
    ("https://www.facebook.com/gemeentevoorbeeld", "facebook", "gemeentevoorbeeld", None),
    (
        "https://nl-nl.facebook.com/GemeenteVoorbeeld/?locale=nl_NL",
        "facebook",
        "GemeenteVoorbeeld",
        None,
    ),
    ("https://m.facebook.com/pg/gemeentevoorbeeld/posts/", "facebook", "gemeentevoorbeeld", None),
    (
        "https://www.facebook.com/profile.php?id=100064123456789",
        "facebook",
        "100064123456789",
        None,
    ),
    (
        "https://www.facebook.com/people/Gemeente-Voorbeeld/100089123456789/",
        "facebook",
        "100089123456789",
        None,
    ),
    (
        "https://www.facebook.com/pages/Gemeente-Voorbeeld/123456789012345",
        "facebook",
        "123456789012345",
        None,
    ),
    (
        "https://www.facebook.com/Gemeente-Voorbeeld-123456789012345/",
        "facebook",
        "123456789012345",
        None,
    ),
    ("https://fb.me/gemeentevoorbeeld", "facebook", "gemeentevoorbeeld", None),
    ("https://www.instagram.com/gemeente.voorbeeld/", "instagram", "gemeente.voorbeeld", None),
    (
        "https://instagram.com/gemeentevoorbeeld/reels/?hl=nl",
        "instagram",
        "gemeentevoorbeeld",
        None,
    ),
    ("https://nl.linkedin.com/company/gemeente-voorbeeld/posts", "linkedin", None, "linkedin"),
    ("https://www.linkedin.com/company/1234567/", "linkedin", "1234567", None),
    ("https://www.linkedin.com/showcase/voorbeeld-werkt/", "linkedin", None, "linkedin"),
    (
        "https://www.youtube.com/channel/UCgemeenteVoorbeeld00000/videos",
        "youtube",
        "UCgemeenteVoorbeeld00000",
        None,
    ),
    ("https://www.youtube.com/@GemeenteVoorbeeld", "youtube", None, "youtube"),
    ("https://m.youtube.com/c/GemeenteVoorbeeld", "youtube", None, "youtube"),
    ("https://www.youtube.com/user/gemvoorbeeld?sub_confirmation=1", "youtube", None, "youtube"),
    ("https://www.youtube.com/gemeentevoorbeeld", "youtube", None, "youtube"),
    ("https://bsky.app/profile/voorbeeld.nl", "bluesky", "voorbeeld.nl", None),
    (
        "https://bsky.app/profile/did:plc:abcdefghijklmnopqrstuvwx",
        "bluesky",
        "did:plc:abcdefghijklmnopqrstuvwx",
        None,
    ),
    ("https://social.overheid.nl/@voorbeeld", "mastodon", "@voorbeeld@social.overheid.nl", None),
    ("https://mastodon.nl/users/voorbeeld", "mastodon", "@voorbeeld@mastodon.nl", None),
    (
        "https://mastodon.social/@voorbeeld@social.voorbeeld.nl",
        "mastodon",
        "@voorbeeld@social.voorbeeld.nl",
        None,
    ),
]


@pytest.mark.parametrize(("url", "platform", "handle", "resolve"), CHANNELS)
def test_a_channel_link(url: str, platform: str, handle: str | None, resolve: str | None) -> None:
    found = classify(url, site="www.voorbeeld.nl")
    assert isinstance(found, Candidate), found
    assert (found.platform, found.handle, found.resolve) == (platform, handle, resolve)


DECOYS = [
    # share buttons and intents
    ("https://www.facebook.com/sharer/sharer.php?u=https%3A%2F%2Fwww.voorbeeld.nl%2F", "share"),
    ("https://www.facebook.com/share.php?u=x", "share"),
    ("https://www.facebook.com/dialog/share?app_id=1&href=x", "share"),
    ("https://www.facebook.com/plugins/page.php?href=x", "share"),
    ("https://www.facebook.com/tr?id=123&ev=PageView", "share"),
    ("https://twitter.com/intent/tweet?url=x", "share"),
    ("https://x.com/share?url=x", "share"),
    ("https://www.linkedin.com/shareArticle?mini=true&url=x", "share"),
    ("https://www.linkedin.com/sharing/share-offsite/?url=x", "share"),
    ("https://wa.me/?text=x", "share"),
    ("https://api.whatsapp.com/send?text=x", "share"),
    ("https://bsky.app/intent/compose?text=x", "share"),
    # the platforms' own pages
    ("https://www.facebook.com/facebook", "Facebook's own"),
    ("https://www.instagram.com/instagram/", "Instagram's own"),
    ("https://www.linkedin.com/company/linkedin/", "LinkedIn's own"),
    ("https://www.youtube.com/@YouTube", "YouTube's own"),
    ("https://www.youtube.com/", "YouTube's own"),
    ("https://bsky.app/profile/bsky.app", "Bluesky's own"),
    ("https://mastodon.social/@Mastodon", "Mastodon's own"),
    # not channels
    ("https://www.facebook.com/groups/buurtpreventie/", "group"),
    ("https://www.facebook.com/events/123456/", "not a Facebook Page"),
    ("https://www.facebook.com/gemeentevoorbeeld/posts/pfbid02abc", "single post"),
    ("https://www.instagram.com/p/C0ffee123/", "post"),
    ("https://www.instagram.com/reel/C0ffee123/", "post"),
    ("https://www.instagram.com/explore/tags/voorbeeld/", "post"),
    ("https://www.linkedin.com/in/jan-jansen/", "person"),
    ("https://www.linkedin.com/feed/update/urn:li:activity:1/", "post"),
    ("https://www.youtube.com/watch?v=abc", "video"),
    ("https://youtu.be/abc", "video"),
    ("https://www.youtube.com/embed/abc", "video"),
    ("https://www.youtube.com/playlist?list=PL1", "video"),
    ("https://bsky.app/profile/voorbeeld.nl/post/3k2", "post"),
    # a "/@name" that nothing says is Mastodon
    ("https://blog.voorbeeldmedia.nl/@provincie", "nothing says so"),
]


@pytest.mark.parametrize(("url", "reason"), DECOYS)
def test_a_decoy_is_ignored_with_its_reason(url: str, reason: str) -> None:
    found = classify(url, site="www.voorbeeld.nl")
    assert isinstance(found, Ignored), found
    assert reason in found.reason


@pytest.mark.parametrize(
    "url",
    [
        "https://www.voorbeeld.nl/@team",  # the site's own "/@…" page
        "https://medium.com/@voorbeeld",
        "https://www.tiktok.com/@voorbeeld",  # an account elsewhere, not Mastodon
        "https://www.threads.net/@voorbeeld",
        "https://www.rijksoverheid.nl/contact",
    ],
)
def test_not_mastodon(url: str) -> None:
    assert not isinstance(classify(url, site="www.voorbeeld.nl"), Candidate)


def test_a_slash_at_link_counts_as_mastodon_when_the_page_says_so() -> None:
    url = "https://toot.voorbeeld.nl/@gemeente"
    assert isinstance(classify(url), Ignored)
    for said in ({"rel_me": True}, {"hint": "Volg ons op Mastodon"}, {"hint": "fa-mastodon"}):
        found = classify(url, **said)  # type: ignore[arg-type]
        assert isinstance(found, Candidate)
        assert found.handle == "@gemeente@toot.voorbeeld.nl"


def test_accounts_on_platforms_not_monitored() -> None:
    assert classify("https://x.com/gemvoorbeeld") == Elsewhere("x", "https://x.com/gemvoorbeeld")
    assert classify("https://www.tiktok.com/@gemvoorbeeld") == Elsewhere(
        "tiktok", "https://www.tiktok.com/@gemvoorbeeld"
    )


def test_a_lookalike_host_is_not_the_platform() -> None:
    assert classify("https://notfacebook.com/gemeente", site="x") is None
    assert classify("https://facebook.com.evil.example/gemeente", site="x") is None


# --- names compared ------------------------------------------------------------------------------


def test_aliases_fold_case_and_forms() -> None:
    assert aliases("facebook", "GemeenteVoorbeeld") == {"gemeentevoorbeeld"}
    assert aliases("linkedin", "urn:li:organization:123") == {"123"}
    assert aliases("mastodon", "Voorbeeld@Social.Overheid.nl") == {"@voorbeeld@social.overheid.nl"}
    assert aliases("youtube", "UCgemeenteVoorbeeld00000") == {"UCgemeenteVoorbeeld00000"}
    assert aliases("youtube", "@GemeenteVoorbeeld") == {"@gemeentevoorbeeld"}
    assert aliases("bluesky", "did:plc:ABC") == {"did:plc:ABC"}
    assert feed_key("https://www.voorbeeld.nl/feed/") == feed_key("http://voorbeeld.nl/feed")


def test_a_stored_public_url_gives_the_name_it_was_linked_by() -> None:
    assert url_aliases("facebook", "https://www.facebook.com/gemeentevoorbeeld") == {
        "gemeentevoorbeeld"
    }
    assert url_aliases("linkedin", "https://www.linkedin.com/company/gemeente-voorbeeld/") == {
        "gemeente-voorbeeld"
    }
    assert url_aliases("mastodon", "https://social.overheid.nl/@voorbeeld") == {
        "@voorbeeld@social.overheid.nl"
    }
    assert url_aliases("facebook", "https://www.instagram.com/gemeentevoorbeeld") == set()
    assert url_aliases("youtube", None) == set()


# --- robots.txt ----------------------------------------------------------------------------------


def robots(text: str) -> RobotFileParser:
    parser = RobotFileParser()
    parser.parse(text.splitlines())
    return parser


@pytest.mark.parametrize(
    ("text", "path", "allowed"),
    [
        ("User-agent: *\nDisallow: /contact", "/contact/", False),
        ("User-agent: *\nDisallow: /contact", "/over-ons/", True),
        ("User-agent: *\nDisallow:", "/contact", True),
        # the longest match wins, whatever the order (robotparser takes the first)
        ("User-agent: *\nDisallow: /\nAllow: /contact", "/contact", True),
        ("User-agent: *\nAllow: /\nDisallow: /contact", "/contact", False),
        # wildcards and the end anchor (robotparser reads them literally)
        ("User-agent: *\nDisallow: /*/contact", "/nl/contact", False),
        ("User-agent: *\nDisallow: /*.php$", "/index.php", False),
        ("User-agent: *\nDisallow: /*.php$", "/index.php?x=1", True),
        # our own group replaces "*"
        ("User-agent: channel-monitor\nDisallow: /\n\nUser-agent: *\nAllow: /", "/", False),
        ("User-agent: googlebot\nDisallow: /\n\nUser-agent: *\nAllow: /", "/", True),
        # percent-encoding compared decoded
        ("User-agent: *\nDisallow: /over%20ons", "/over ons", False),
    ],
)
def test_robots_rules(text: str, path: str, allowed: bool) -> None:
    assert robots_allow(robots(text), f"https://www.voorbeeld.nl{path}") is allowed


# --- which pages are read ------------------------------------------------------------------------


def test_subpages_by_address_and_text_social_first_same_site_only() -> None:
    html = """<nav>
    <a href="/afval">Afval</a>
    <a href="/contact/">Contact</a>
    <a href="/bestuur/over-de-gemeente">Over de gemeente</a>
    <a href="/pers">Persberichten</a>
    <a href="/p/123">Volg ons</a>
    <a href="/nieuws/persoonlijk">Persoonlijk</a>
    <a href="/media/jaarverslag.pdf">Jaarverslag</a>
    <a href="https://www.rijksoverheid.nl/contact">Rijksoverheid</a>
    <a href="/">Home</a><a href="/contact">Contact</a>
    <a href="https://voorbeeld.nl/over-ons/">Over ons</a>
    </nav>"""
    pages = _subpages(
        page_links(html, "https://www.voorbeeld.nl/"),
        "https://www.voorbeeld.nl/",
        "voorbeeld.nl",
    )
    assert pages == [
        ("https://www.voorbeeld.nl/p/123", True),
        ("https://www.voorbeeld.nl/contact/", False),
        ("https://www.voorbeeld.nl/bestuur/over-de-gemeente", False),
        ("https://voorbeeld.nl/over-ons/", False),  # the same site without www.
        ("https://www.voorbeeld.nl/pers", False),
    ]
