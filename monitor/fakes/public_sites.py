# ruff: noqa: E501  (pages as CMSs write them, one element a line)
"""Sample websites of public bodies for ``monitor.fakes.websites``: what discovery must find on
each, and the decoys beside it. The pages follow what such sites publish (WordPress and
page-builder markup, Yoast-style JSON-LD ``@graph``, share bars of AddToAny and the platforms'
own share endpoints); names and ids are made up.
"""

from __future__ import annotations

import json

from monitor.fakes.websites import PageSpec

# YouTube channel ids (UC + 22 characters) and the pages that name them
GEMEENTE_YOUTUBE = "UCgemeenteVoorbeeld00000"
GEMEENTE_OLD_YOUTUBE = "UCoudKanaalVoorbeeld0001"  # monitored, no longer linked from the site
FORBIDDEN_YOUTUBE = "UCverbodenPagina00000000"  # only on the page robots.txt forbids
PROVINCIE_YOUTUBE = "UCprovincieVoorbeeld0002"
MINISTERIE_YOUTUBE = "UCministerieVoorbeeld001"
YOUTUBE_CHANNELS = {
    "@GemeenteVoorbeeld": (GEMEENTE_YOUTUBE, "Gemeente Voorbeeld"),
    "user/MinVoorbeeld": (MINISTERIE_YOUTUBE, "Ministerie van Voorbeeld"),
}
# LinkedIn organizations: (id, vanity name)
GEMEENTE_LINKEDIN = ("1234567", "gemeente-voorbeeld")
PROVINCIE_LINKEDIN = "7654321"

ROBOTS_GEMEENTE = """User-agent: *
Disallow: /wp-admin/
Allow: /wp-admin/admin-ajax.php
Disallow: /contact

Sitemap: /wp-sitemap.xml
"""
ROBOTS_WATERSCHAP = """User-agent: channel-monitor
Disallow: /

User-agent: *
Allow: /
"""


def _page(title: str, head: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="nl-NL">\n<head>\n<meta charset="UTF-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<title>{title}</title>\n{head}\n</head>\n<body class="home page-template-default">\n'
        f"{body}\n</body>\n</html>\n"
    )


_GEMEENTE_HEAD = """<link rel="alternate" type="application/rss+xml" title="Gemeente Voorbeeld &raquo; Nieuws" href="/nieuws/feed/">
<link rel="alternate" type="application/rss+xml" title="Gemeente Voorbeeld &raquo; Reacties-feed" href="/comments/feed/">
<link rel="stylesheet" id="wp-block-library-css" href="/wp-includes/css/dist/block-library/style.min.css" media="all">"""

_GEMEENTE_HEADER = """<header id="masthead" class="site-header" role="banner">
  <a class="skip-link screen-reader-text" href="#content">Naar de inhoud</a>
  <div class="site-branding"><a href="/" rel="home"><img src="/logo.svg" alt="Gemeente Voorbeeld"></a></div>
  <nav id="site-navigation" class="main-navigation" aria-label="Hoofdmenu">
    <ul id="primary-menu" class="menu">
      <li><a href="/afval/">Afval</a></li>
      <li><a href="/nieuws/">Nieuws</a></li>
      <li><a href="/over-ons/">Over ons</a></li>
      <li><a href="/contact/">Contact</a></li>
    </ul>
  </nav>
</header>"""

_GEMEENTE_FOOTER = """<footer id="colophon" class="site-footer">
  <div class="footer-widgets">
    <section class="widget"><h2 class="widget-title">Volg ons</h2>
      <ul class="wp-block-social-links">
        <li class="wp-social-link wp-social-link-facebook"><a href="https://www.facebook.com/gemeentevoorbeeld" class="wp-block-social-link-anchor"><svg width="24" height="24" viewBox="0 0 24 24" aria-hidden="true"><path d="M12 2C6.5 2 2 6.5 2 12"></path></svg><span class="wp-block-social-link-label screen-reader-text">Facebook</span></a></li>
        <li class="wp-social-link wp-social-link-instagram"><a href="https://www.instagram.com/gemeentevoorbeeld/" class="wp-block-social-link-anchor"><span class="screen-reader-text">Instagram</span></a></li>
        <li class="wp-social-link wp-social-link-linkedin"><a href="https://nl.linkedin.com/company/gemeente-voorbeeld" class="wp-block-social-link-anchor"><span class="screen-reader-text">LinkedIn</span></a></li>
        <li class="wp-social-link wp-social-link-youtube"><a href="https://www.youtube.com/@GemeenteVoorbeeld?sub_confirmation=1" class="wp-block-social-link-anchor"><span class="screen-reader-text">YouTube</span></a></li>
        <li class="wp-social-link wp-social-link-x"><a href="https://x.com/gemvoorbeeld" class="wp-block-social-link-anchor"><span class="screen-reader-text">X</span></a></li>
      </ul>
    </section>
    <section class="widget"><a href="/volg-ons/">Alle kanalen van de gemeente</a> &middot; <a href="/privacy/">Privacy</a></section>
  </div>
  <div class="site-info">&copy; Gemeente Voorbeeld</div>
</footer>"""

_GEMEENTE_ARTICLE = """<main id="primary" class="site-main">
  <article class="post type-post">
    <header class="entry-header"><h1 class="entry-title">Samen veilig de jaarwisseling in</h1>
      <p>Gepubliceerd door <a href="https://www.facebook.com/veiligheidsregio.voorbeeld">Veiligheidsregio Voorbeeld</a></p>
    </header>
    <div class="entry-content">
      <p>De gemeente werkt samen met de veiligheidsregio. Volg de
        <a href="https://www.facebook.com/veiligheidsregio.voorbeeld">veiligheidsregio op Facebook</a>
        en bekijk de <a href="https://www.instagram.com/p/C0ffee123/">foto's van vorig jaar</a>.</p>
      <p><a href="https://www.facebook.com/groups/buurtpreventie.voorbeeld">Doe mee met de buurtpreventie-groep</a>.</p>
      <p class="fb-badge"><a href="https://www.facebook.com/facebook">Vind ons leuk op Facebook</a></p>
    </div>
    <footer class="entry-footer">
      <div class="addtoany_share_save_container addtoany_content">
        <div class="a2a_kit a2a_kit_size_32 addtoany_list">
          <a class="a2a_button_facebook" href="https://www.facebook.com/sharer/sharer.php?u=https%3A%2F%2Fwww.voorbeeld.nl%2Fnieuws%2Fjaarwisseling%2F" title="Facebook" rel="nofollow noopener" target="_blank"></a>
          <a class="a2a_button_x" href="https://twitter.com/intent/tweet?url=https%3A%2F%2Fwww.voorbeeld.nl%2Fnieuws%2Fjaarwisseling%2F&amp;text=Samen%20veilig" title="X" rel="nofollow noopener" target="_blank"></a>
          <a class="a2a_button_linkedin" href="https://www.linkedin.com/shareArticle?mini=true&amp;url=https%3A%2F%2Fwww.voorbeeld.nl%2Fnieuws%2Fjaarwisseling%2F" title="LinkedIn" rel="nofollow noopener" target="_blank"></a>
          <a class="a2a_button_whatsapp" href="https://wa.me/?text=Samen%20veilig%20https%3A%2F%2Fwww.voorbeeld.nl%2F" title="WhatsApp" rel="nofollow noopener" target="_blank"></a>
          <a class="a2a_button_email" href="mailto:?subject=Samen%20veilig" title="E-mail" rel="nofollow noopener" target="_blank"></a>
        </div>
      </div>
    </footer>
  </article>
</main>"""

_VOLG_ONS = """<main id="primary" class="site-main">
  <article class="page type-page">
    <h1 class="entry-title">Volg ons op sociale media</h1>
    <div class="entry-content">
      <p>Behalve op Facebook en Instagram vindt u ons ook hier:</p>
      <ul>
        <li><a href="https://bsky.app/profile/voorbeeld.bsky.social">Bluesky: @voorbeeld.bsky.social</a></li>
        <li><a href="https://social.overheid.nl/@voorbeeld">Mastodon</a></li>
        <li>Voor jongeren: <a href="https://www.instagram.com/jeugdvoorbeeld/">Instagram van het jongerenwerk</a></li>
      </ul>
      <p>Bekijk ook <a href="https://www.instagram.com/reel/Cq1a2b3c4d/">onze nieuwste video</a>.</p>
    </div>
  </article>
</main>"""

_CONTACT = """<main id="primary" class="site-main">
  <h1>Contact</h1>
  <p>Bel 14 0123 of bekijk onze uitleg op <a href="https://www.youtube.com/channel/UCverbodenPagina00000000">YouTube</a>.</p>
</main>"""


def municipality() -> dict[str, PageSpec]:
    """Gemeente Voorbeeld: footer icons, a "volg ons" page, its news feed; robots.txt forbids
    /contact (serve with ``ROBOTS_GEMEENTE``)."""
    home = _page(
        "Gemeente Voorbeeld - Welkom",
        _GEMEENTE_HEAD,
        f"{_GEMEENTE_HEADER}\n{_GEMEENTE_ARTICLE}\n{_GEMEENTE_FOOTER}",
    )
    about = _page(
        "Over ons - Gemeente Voorbeeld",
        _GEMEENTE_HEAD,
        f"{_GEMEENTE_HEADER}\n<main><h1>Over ons</h1><p>De gemeente.</p></main>\n{_GEMEENTE_FOOTER}",
    )
    follow = _page(
        "Volg ons - Gemeente Voorbeeld", _GEMEENTE_HEAD, f"{_GEMEENTE_HEADER}\n{_VOLG_ONS}"
    )
    contact = _page("Contact - Gemeente Voorbeeld", "", f"{_GEMEENTE_HEADER}\n{_CONTACT}")
    return {
        "/": PageSpec(home),
        "/over-ons": PageSpec(about),
        "/volg-ons": PageSpec(follow),
        "/contact": PageSpec(contact),
        "/nieuws": PageSpec(about),
    }


def _province_graph() -> str:
    graph = {
        "@context": "https://schema.org",
        "@graph": [
            {
                "@type": "WebSite",
                "@id": "https://www.provincie-voorbeeld.nl/#website",
                "name": "Provincie Voorbeeld",
                "publisher": {"@id": "https://www.provincie-voorbeeld.nl/#organization"},
            },
            {
                "@type": ["Organization", "GovernmentOrganization"],
                "@id": "https://www.provincie-voorbeeld.nl/#organization",
                "name": "Provincie Voorbeeld",
                "logo": {"@type": "ImageObject", "url": "/logo.png"},
                "sameAs": [
                    "https://www.facebook.com/provincievoorbeeld",
                    "https://www.linkedin.com/company/7654321/",
                    "https://www.youtube.com/channel/UCprovincieVoorbeeld0002",
                    "https://www.instagram.com/provincie.voorbeeld",
                ],
            },
        ],
    }
    event = {
        "@context": "https://schema.org",
        "@type": "Event",
        "name": "Festival aan het water",
        "organizer": {
            "@type": "Organization",
            "name": "Stichting Festival Voorbeeld",
            "sameAs": "https://www.facebook.com/festivalvoorbeeld",
        },
    }
    return (
        f'<script type="application/ld+json" class="yoast-schema-graph">{json.dumps(graph)}'
        f'</script>\n<script type="application/ld+json">{json.dumps(event)}</script>'
    )


def province() -> dict[str, PageSpec]:
    """Provincie Voorbeeld: JSON-LD ``sameAs`` and ``<link rel="me">``; no footer icons."""
    head = (
        '<link rel="me" href="https://mastodon.example/@provincie">\n'
        '<link rel="alternate" type="application/atom+xml" title="Nieuws" href="/nieuws.atom">\n'
        + _province_graph()
    )
    body = (
        '<div class="page"><nav class="nav" aria-label="Menu"><a href="/">Home</a> '
        '<a href="/organisatie">Organisatie</a></nav>\n<main><h1>Provincie Voorbeeld</h1>'
        '<p>Lees ook het <a href="https://blog.voorbeeldmedia.nl/@provincie">interview '
        "met de gedeputeerde</a>.</p></main>\n"
        '<footer class="footer"><p>Provincie Voorbeeld, Provinciehuis</p></footer></div>'
    )
    return {"/": PageSpec(_page("Provincie Voorbeeld", head, body))}


def old_domain(new_home: str) -> dict[str, PageSpec]:
    """The province's old address: every page moved permanently to the new one."""
    return {"/": PageSpec(status=301, location=new_home)}


def ministry(press_site: str) -> dict[str, PageSpec]:
    """Ministerie van Voorbeeld: a 5 MB home page; its press page is on another site."""
    header = (
        '<header class="header"><nav><a href="/pers">Pers</a> <a href="/contact">Contact</a>'
        "</nav>"
        '<ul class="socials">'
        '<li><a rel="me" href="https://mastodon.example/@minvoorbeeld">Mastodon</a></li>'
        '<li><a href="https://www.youtube.com/user/MinVoorbeeld">YouTube</a></li>'
        '<li><a href="https://www.youtube.com/@ministerieoud">Ons oude kanaal</a></li>'
        '<li><a href="https://www.linkedin.com/company/ministerie-van-voorbeeld/">LinkedIn</a>'
        "</li></ul></header>"
    )
    content = (
        '<main><h1>Nieuws</h1><p>De minister sprak met <a href="https://www.linkedin.com/in/'
        'jan-jansen-12345/">Jan Jansen</a>. Zie ook <a href="https://www.facebook.com/groups/'
        'ambtenaren.voorbeeld/">de groep voor ambtenaren</a>.</p></main>'
    )
    footer = (
        '<footer class="footer"><a href="https://www.instagram.com/ministerievoorbeeld/">'
        "Instagram</a></footer>"
    )
    home = _page("Ministerie van Voorbeeld", "", f"{header}{content}<!--pad-->{footer}")
    contact = _page("Contact", "", header + "<main><p>Schrijf ons.</p></main>")
    return {
        "/": PageSpec(home, pad_to=5 * 1024 * 1024),
        "/pers": PageSpec(status=302, location=f"{press_site}/ministerie-van-voorbeeld"),
        "/contact": PageSpec(contact),
    }


def press_site() -> dict[str, PageSpec]:
    """A press-release service the ministry's press page redirects to: never read."""
    body = '<footer><a href="https://www.facebook.com/persbureau">Facebook</a></footer>'
    return {"/ministerie-van-voorbeeld": PageSpec(_page("Persberichten", "", body))}


def water_board() -> dict[str, PageSpec]:
    """Waterschap Voorbeeld: serve with ``ROBOTS_WATERSCHAP``, which refuses channel-monitor."""
    body = '<footer><a href="https://www.facebook.com/waterschapvoorbeeld">Facebook</a></footer>'
    return {"/": PageSpec(_page("Waterschap Voorbeeld", "", body))}
