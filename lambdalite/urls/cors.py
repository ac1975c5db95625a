"""CORS for function URLs, from the URL's Cors settings ("Creating and managing Lambda
function URLs", Cross-origin resource sharing).

A preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered here,
without running the function or asking for a signature (a browser cannot sign one). On
every other response of a request with an allowed Origin the configured headers are set,
replacing any the function set: "the configured CORS headers on the function URL take
precedence". An origin that is not allowed gets no CORS headers, so the browser refuses.
"""

from __future__ import annotations

from lambdalite.urls.model import Cors


class CorsRules:
    def __init__(self, cors: Cors) -> None:
        self._cors = cors
        self._origins = {o.rstrip("/").lower() for o in cors.allow_origins or ()}

    def allows(self, origin: str) -> bool:
        return "*" in self._origins or origin.rstrip("/").lower() in self._origins

    def preflight(self, origin: str) -> list[tuple[str, str]]:
        """The headers of the answer to a preflight from `origin` (none if refused)."""
        if not self.allows(origin):
            return []
        cors = self._cors
        headers = self._origin_headers(origin)
        if cors.allow_methods:
            headers.append(("access-control-allow-methods", ",".join(cors.allow_methods)))
        if cors.allow_headers:
            headers.append(("access-control-allow-headers", ",".join(cors.allow_headers)))
        if cors.max_age is not None:
            headers.append(("access-control-max-age", str(cors.max_age)))
        return headers

    def response_headers(self, origin: str) -> list[tuple[str, str]]:
        """The headers added to the function's response for a request from `origin`."""
        if not self.allows(origin):
            return []
        headers = self._origin_headers(origin)
        if self._cors.expose_headers:
            headers.append(("access-control-expose-headers", ",".join(self._cors.expose_headers)))
        return headers

    def _origin_headers(self, origin: str) -> list[tuple[str, str]]:
        credentials = bool(self._cors.allow_credentials)
        # "*" cannot go with credentials (browsers refuse it): name the origin instead.
        if "*" in self._origins and not credentials:
            headers = [("access-control-allow-origin", "*")]
        else:
            headers = [("access-control-allow-origin", origin), ("vary", "Origin")]
        if credentials:
            headers.append(("access-control-allow-credentials", "true"))
        return headers

    def apply(self, headers: list[tuple[str, str]], origin: str) -> list[tuple[str, str]]:
        """A function's response headers with the configured CORS headers in place of its
        own (for an allowed origin; others are left as the function set them). A Vary
        the function set is kept, with Origin added to it."""
        extra = self.response_headers(origin)
        if not extra:
            return headers
        kept = [(k, v) for k, v in headers if not k.lower().startswith("access-control-")]
        vary = [v for k, v in extra if k == "vary"]
        extra = [(k, v) for k, v in extra if k != "vary"]
        if vary:
            own = [v for k, v in kept if k.lower() == "vary"]
            kept = [(k, v) for k, v in kept if k.lower() != "vary"]
            extra.append(("vary", ", ".join([*own, *vary])))
        return kept + extra
