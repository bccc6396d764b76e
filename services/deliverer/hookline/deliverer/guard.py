"""The target check made before every attempt, whatever the subscription was created under.

A subscription created while private targets or ``http://`` were allowed keeps its
URL when the policy is tightened, so the API's check at creation is not enough.
aiohttp calls the resolver (``resolver.PublicOnlyResolver``, which checks every
resolved address) only for host names, never for an IP literal, so IP literals,
``localhost`` and the scheme are judged here, and a URL aiohttp could never send to
(a host with a soft hyphen, U+00AD) is refused instead of retried for 30 hours.
"""

from __future__ import annotations

import functools

from hookline.core.ssrf import check_target_url


@functools.lru_cache(maxsize=4096)  # pure, and asked once per attempt
def refusal(url: str, *, allow_http: bool, allow_private: bool) -> str | None:
    """Why no request may be made to ``url`` now (a reason for the attempt log), or None."""
    reason = check_target_url(url, allow_http=allow_http, allow_private=allow_private)
    return None if reason is None else f"target not allowed: {reason}"
