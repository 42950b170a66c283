"""The README as HTML for ``/courier/ui/docs``: the empty states link to its sections, and inside Airflow's
iframe (no popups, no top navigation) a page of our own is the one link that works, offline too."""

from __future__ import annotations

import functools
import re
from email import message_from_string
from importlib import metadata
from pathlib import Path

SOURCE_README = Path(__file__).resolve().parents[3] / "README.md"


def slug(text: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def readme_markdown() -> str:
    """The README of the source tree when running from it, else the one in the installed distribution."""
    if SOURCE_README.is_file():
        return SOURCE_README.read_text(encoding="utf-8")
    try:
        raw = metadata.distribution("airflow-courier").read_text("METADATA") or ""
    except metadata.PackageNotFoundError:
        return "# Courier\n\nThe README is not available in this installation."
    message = message_from_string(raw)
    body = message.get_payload()
    return body if isinstance(body, str) and body.strip() else "# Courier\n"


@functools.lru_cache(maxsize=1)
def readme_html() -> str:
    """Render the README (headings get GitHub-style ids; images become links, as the iframe cannot show them)."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(readme_markdown())
    for index, token in enumerate(tokens):
        if token.type == "heading_open":
            inline = tokens[index + 1]
            token.attrSet("id", slug(inline.content))
        if token.type == "inline" and token.children:
            for child in token.children:
                if child.type == "image":  # relative image paths do not resolve here: show the alt text
                    child.type = "text"
                    child.tag = ""
                    child.content = f"[screenshot: {child.content or child.attrGet('src')}]"
                    child.children = None
    return str(md.renderer.render(tokens, md.options, {}))
