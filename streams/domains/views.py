"""/domains/{name}: a domain's state, answered by the worker that owns it (others forward the request)."""

from __future__ import annotations

from faust.exceptions import SameNode
from faust.web import Request, Response, View

from streams import topics
from streams.app import app, settings
from streams.core import batches
from streams.core.addresses import InvalidAddress, ascii_host, registrable_domain
from streams.domains.summary import domain_summary
from streams.domains.table import load


@app.page("/domains/{name}")
class DomainView(View):
    async def get(self, request: Request, name: str) -> Response:
        try:
            domain = registrable_domain(ascii_host(name))
        except InvalidAddress as exc:
            return self.json({"error": "invalid_domain", "detail": str(exc)}, status=400)
        # Our partitioning (murmur2 of the raw name, streams/core/batches.py), not Faust's JSON-keyed one.
        changelog = topics.domains.changelog_topic.get_topic_name()
        try:
            owner = app.assignor.key_store(changelog, domain.encode())
        except KeyError:
            return self.json({"error": "not_ready", "detail": "partitions are being assigned; try again"}, status=503)
        try:
            # Faust's own forwarding, private: RouterT does not declare it (faust_fixes pins the release).
            return await app.router._route_req(owner, self.web, request)  # type: ignore[attr-defined]
        except SameNode:
            pass
        except Exception as exc:  # the owner is down or restarting: say so rather than a bare 500
            return self.json(
                {"error": "owner_unreachable", "owner": str(owner), "detail": f"{type(exc).__name__}: {exc}"},
                status=502,
            )
        _, value = load(domain)
        if value is None:
            return self.json(
                {
                    "error": "unknown_domain",
                    "domain": domain,
                    "detail": "no account of the platform uses this domain (or it is a public mailbox)",
                },
                status=404,
            )
        summary = domain_summary(
            value, partition=batches.partition_for(domain, settings.partitions), worker=str(app.conf.canonical_url)
        )
        return self.json(summary)
