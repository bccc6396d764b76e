"""The other source APIs, served as their documents write them (issue 13).

Each dialect is a mapping layer over the one subscription model: its own paths,
bodies, ids, status codes, errors and lists (``orderspace``, ``shareactor``,
``booqable``), the native rules and store underneath (``common``), and its errors
rendered by ``errors.dialect_errors``. Its deliveries' envelope and signature are
``hookline.core.envelopes``.
"""

from __future__ import annotations

from aiohttp import web

from hookline.api.dialects import booqable, orderspace, shareactor
from hookline.api.dialects.errors import dialect_errors

__all__ = ["add_routes", "dialect_errors"]


def add_routes(app: web.Application) -> None:
    for module in (orderspace, shareactor, booqable):
        app.router.add_routes(module.routes)
