"""PDFs: one helper, WeasyPrint, tagged for accessibility, fetching nothing from anywhere.

Templates live in ``templates/pdf/`` and carry their styles inline, so the URL fetcher can refuse
every URL: no ``file:`` read from the server's disk, no outside request (Indico's receipts do the
same). A refused resource is left out of the document, never fetched.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import render_template
from weasyprint import HTML
from weasyprint.urls import URLFetcher

log = logging.getLogger(__name__)


class RefusedFetch(ValueError):
    pass


class NoFetching(URLFetcher):
    """A URL fetcher that fetches nothing: only ``data:`` URLs (the charts, carried inside the
    document itself) are read."""

    def fetch(self, url: str, headers: Any = None) -> Any:
        if url.startswith("data:"):
            return super().fetch(url, headers)
        log.warning("a PDF asked for %s; refused", url[:200])
        raise RefusedFetch(f"PDFs fetch nothing; refused {url[:80]!r}")


def render_pdf(template: str, **context: Any) -> bytes:
    """Render a template of ``templates/pdf/`` to a tagged PDF: structure (headings, tables, reading
    order), language and title, for screen readers. (Tagging, not the full PDF/UA-1 variant, whose
    extra work made a 30-case pack miss its three seconds.)"""
    html = render_template(template, **context)
    return HTML(string=html, url_fetcher=NoFetching()).write_pdf(pdf_tags=True)
