"""The report as one self-contained HTML page: Markdown rendered by markdown-it-py, plots inlined."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from markdown_it import MarkdownIt

__all__ = ["markdown_to_html"]

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222;"
    "line-height:1.45}table{border-collapse:collapse;margin:1em 0;font-size:13px}"
    "th,td{border:1px solid #ccc;padding:3px 6px}th{background:#f3f3f3}"
    "td[style*=right]{font-variant-numeric:tabular-nums}img{max-width:100%}"
    "code{background:#f5f5f5;padding:1px 3px}"
)
_IMG = re.compile(r'<img src="([^"]+)" alt="([^"]*)"')


def markdown_to_html(text: str, base: Path, title: str) -> str:
    r"""One HTML page of the report's Markdown; images under ``base`` inlined as data URIs.

    Example:
        >>> page = markdown_to_html("# T\n\n| a | b |\n|---|---:|\n| 1 | 2 |\n", Path("."), "T")
        >>> "<table>" in page and "<h1>T</h1>" in page
        True
    """
    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(text)

    def inline(m: re.Match[str]) -> str:
        src, alt = m.group(1), m.group(2)
        try:
            data = base64.b64encode((base / src).read_bytes()).decode()
        except OSError:
            return f'<img alt="{alt} (missing: {src})"'
        return f'<img src="data:image/png;base64,{data}" alt="{alt}"'

    body = _IMG.sub(inline, body)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>\n{body}</body></html>\n"
    )
