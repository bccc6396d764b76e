"""``/v2/docs``: the OpenAPI document as one self-contained HTML page.

No script and nothing fetched from elsewhere, so the page works where the API is
reached and nothing else is; every text from the document is escaped.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
h2{border-bottom:1px solid #ddd;margin-top:2.5rem}
.op{border:1px solid #ddd;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}
.m{display:inline-block;min-width:4.5rem;font-weight:bold;font-family:monospace}
code,pre{background:#f5f5f5;border-radius:4px}pre{padding:.5rem;overflow:auto}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}
"""


def render(doc: dict[str, Any]) -> str:
    info = doc["info"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{escape(info['title'])} API</title><style>{_STYLE}</style></head><body>",
        f"<h1>{escape(info['title'])} API</h1><p>{escape(info['description'])}</p>",
        "<p>Machine-readable: <a href='/v2/openapi.json'>/v2/openapi.json</a> (OpenAPI 3).</p>",
    ]
    by_tag: dict[str, list[str]] = {}
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            by_tag.setdefault(op["tags"][0], []).append(_operation(path, method, op))
    for tag, ops in by_tag.items():
        parts.append(f"<h2>{escape(tag)}</h2>")
        parts.extend(ops)
    parts.append("</body></html>")
    return "".join(parts)


def _operation(path: str, method: str, op: dict[str, Any]) -> str:
    out = [
        "<div class='op'>",
        f"<p><span class='m'>{method.upper()}</span><code>{escape(path)}</code>",
        f" — {escape(op['summary'])}</p>",
    ]
    if op.get("description"):
        out.append(f"<p>{escape(op['description'])}</p>")
    if op.get("security"):
        out.append("<p>Needs the admin token.</p>")
    if op.get("parameters"):
        out.append("<table><tr><th>parameter</th><th>in</th><th>meaning</th></tr>")
        for p in op["parameters"]:
            out.append(
                f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}</td>"
                f"<td>{escape(p.get('description', ''))}</td></tr>"
            )
        out.append("</table>")
    example = op.get("requestBody", {}).get("content", {}).get("application/json", {})
    if "example" in example:
        out.append(f"<pre>{escape(json.dumps(example['example'], indent=2))}</pre>")
    answers = ", ".join(f"{code} {r['description']}" for code, r in op["responses"].items())
    out.append(f"<p>Answers: {escape(answers)}</p></div>")
    return "".join(out)
