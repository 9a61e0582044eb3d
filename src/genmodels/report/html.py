"""One self-contained HTML page (images embedded as base64) gathering a run's results."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..io import write_text

_STYLE = """*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;max-width:1180px;margin:1.2em auto;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.5em;margin:.2em 0 .4em}h2{font-size:1.2em;margin-top:1.4em;border-bottom:1px solid #ddd}
h3{font-size:1em;margin:1em 0 .3em}p{margin:.4em 0}.lead{color:#444;margin-bottom:.8em}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
th{background:#f4f4f4}.scroll{max-width:100%;overflow-x:auto}
figure{display:inline-block;margin:.4em 1em .4em 0;vertical-align:top;max-width:100%}
figcaption{font-size:.85em;color:#555;max-width:520px}img{max-width:100%;image-rendering:pixelated}
figure.wide img{max-width:520px;width:100%}
.panels{display:flex;flex-wrap:wrap;gap:.8em;align-items:flex-start;margin:.4em 0}
.panels figure{margin:0;text-align:center}.panels figcaption{max-width:190px;margin:auto}
.panels .real img{outline:3px solid #888}.panels .missing{width:180px;height:150px;border:1px dashed #aaa;
 color:#777;font-size:.85em;padding:.5em;display:flex;align-items:center}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:.8em 1.4em}
.chart h3{font-size:.92em;margin:.2em 0}.chart .hint{color:#777;font-weight:normal}
.bar-row{display:grid;grid-template-columns:3.2em 1fr 5.6em;gap:.4em;align-items:center;font-size:.85em}
.track{background:#f2f2f2;height:.9em}.bar{background:#7aa6d6;height:100%}.bar.neg{background:#d69a7a}
.bar-row.win{font-weight:bold}.bar-row.win .bar{background:#3c8d3c}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.1em 1em;margin:.4em 0;font-size:.88em}
dt{color:#555}dd{margin:0;overflow-wrap:anywhere}dd dl{margin:0}
details{margin:.6em 0}summary{cursor:pointer;color:#345}
pre{background:#f7f7f7;padding:.8em;overflow:auto;font-size:.85em;max-width:100%}"""


def image_tag(path: str | Path, caption: str = "", css_class: str = "wide") -> str:
    """A figure with the PNG embedded as a data URI (the page stays one self-contained file)."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    cls = f' class="{css_class}"' if css_class else ""
    return f'<figure{cls}><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">{cap}</figure>'


def definition_list(values: Mapping, skip: Sequence[str] = ()) -> str:
    """A mapping as a <dl> (nested mappings as nested lists, lists of scalars comma-joined): readable
    parameters and raw results instead of a JSON dump."""
    items = []
    for key, value in values.items():
        if key in skip:
            continue
        if isinstance(value, Mapping):
            shown = definition_list(value) if value else "-"
        elif isinstance(value, list | tuple) and all(not isinstance(v, Mapping | list | tuple) for v in value):
            shown = html.escape(", ".join(_fmt(v) for v in value)) or "-"
        elif isinstance(value, list | tuple):
            shown = "".join(definition_list(v) if isinstance(v, Mapping) else html.escape(_fmt(v)) for v in value)
        else:
            shown = html.escape(_fmt(value))
        items.append(f"<dt>{html.escape(str(key))}</dt><dd>{shown}</dd>")
    return "<dl>" + "".join(items) + "</dl>"


def collapsed(summary: str, body: str) -> str:
    return f"<details><summary>{html.escape(summary)}</summary>{body}</details>"


def table(rows: Sequence[Mapping[str, object]], css_id: str = "") -> str:
    if not rows:
        return ""
    cols = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c, '')))}</td>" for c in cols) + "</tr>"
                   for r in rows)
    ident = f' id="{css_id}"' if css_id else ""
    return f'<div class="scroll"><table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "n/a" if v is None else str(v)


def write_report(path: str | Path, title: str, sections: Sequence[tuple[str, str]],
                 config: Mapping | None = None, lead: str = "") -> Path:
    """`sections` are (heading, inner HTML) pairs; `lead` is a line of text under the title; `config` is shown
    at the end as a collapsed definition list."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<meta name='viewport' content='width=device-width, initial-scale=1'>",
             f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    if lead:
        parts.append(f'<p class="lead">{html.escape(lead)}</p>')
    for heading, body in sections:
        parts.append(f"<section><h2>{html.escape(heading)}</h2>{body}</section>")
    if config is not None:
        parts.append("<section><h2>Configuration</h2>"
                     f"{collapsed('settings and parameters', definition_list(config))}</section>")
    parts.append("</body></html>")
    return write_text(path, "\n".join(parts))
