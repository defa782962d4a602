"""HTTP: the routes (``app``), their protection (``auth``), and the pages people read
(``pages``, with ``templates/`` and ``static/``)."""

from monitor.web.app import build_app

__all__ = ["build_app"]
