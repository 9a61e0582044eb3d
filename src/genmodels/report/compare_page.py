"""The pages of `genmodels compare`: report.md, the self-contained report.html and results.json, written from
the summary dict alone (its "metrics" list gives the rows, so this module needs nothing from the apps)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from ..io import write_json, write_text
from .html import image_tag, write_report


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.2e}"
    return str(v)


def summary_rows(summary: dict[str, Any]) -> list[dict[str, str]]:
    """The summary table as rows of strings: metric, better, one column per family, winner."""
    rows = []
    for m in summary["metrics"]:
        row = {"metric": m["label"], "better": m["better"] or "-"}
        for f in summary["families"]:
            row[f] = _fmt(summary["results"][f].get(m["key"]))
        row["winner"] = ", ".join(summary["winners"].get(m["key"], [])) or "-"
        rows.append(row)
    return rows


def markdown_table(summary: dict[str, Any]) -> str:
    rows = summary_rows(summary)
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(r[c] for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def _reason_lines(summary: dict[str, Any]) -> list[str]:
    """One line per reason: why a number is n/a, or why it is shown but not counted as a win."""
    labels = {m["key"]: m["label"] for m in summary["metrics"]}
    return [f"{f} / {labels[k]}: {why.removeprefix('n/a: ')}" for f in summary["families"]
            for k, why in summary["reasons"][f].items()]


def _intro(summary: dict[str, Any]) -> list[str]:
    seen = ("images binarized at 0.5 (every family sees the same binary images)"
            if summary["data_seen"] == "binarized" else "the data as loaded (values outside [0, 1])")
    net = summary["feature_net_accuracy"]
    setups = [f"{f.upper()} = {summary['details'][f].get('setup', 'training failed')}" for f in summary["families"]]
    return [
        f"Data: {summary['data']} ({summary['n_train']} training, {summary['n_test']} test rows), {seen}.",
        f"Each family trained for {summary['budget_seconds_per_family']:g} s (seed {summary['seed']}); "
        f"the whole comparison took {summary['total_seconds']:.0f} s.",
        "Families (each with its own recommended settings for this data, listed in its section): "
        + "; ".join(setups) + ".",
        "Sample quality (FID, precision, recall) uses the library's own feature network trained on the "
        "training split" + (f" (held-out accuracy {net:.3f})" if net is not None else "") + "; conditional "
        "models are asked for every class in turn. Test NLL: each model's own log-likelihood estimate.",
        "Anomaly: test images (normal) vs. the same images mirrored left-right (symmetric digits barely "
        "change, so no family reaches 1), scored by each model's own anomaly score (named in its section). "
        "Denoising: Gaussian noise sd 0.3, clipped, restored by one `reconstruct` pass. Probe: logistic "
        "regression on `transform` features. Augmentation: a classifier trained on a small real set, with and "
        "without as many synthetic labelled images (the generators saw the full training split).",
        "With a time budget the number of steps depends on the machine's speed, so numbers are not "
        "bit-reproducible across machines.",
    ]


def _html_summary(summary: dict[str, Any]) -> str:
    fams = summary["families"]
    head = "".join(f"<th>{h}</th>" for h in ("metric", "better")) + "".join(
        f'<th class="family" data-family="{f}">{f.upper()}</th>' for f in fams) + "<th>winner</th>"
    body = []
    for m in summary["metrics"]:
        win = summary["winners"].get(m["key"], [])
        cells = [f'<td title="{html.escape(m["about"])}">{html.escape(m["label"])}</td>',
                 f"<td>{m['better'] or '-'}</td>"]
        for f in fams:
            v = summary["results"][f].get(m["key"])
            why = summary["reasons"][f].get(m["key"], "")
            style = ' style="font-weight:bold;background:#e6f4e6"' if f in win else ""
            title = f' title="{html.escape(why)}"' if why else ""
            cells.append(f"<td{style}{title}>{html.escape(_fmt(v))}</td>")
        cells.append(f"<td>{html.escape(', '.join(win) or '-')}</td>")
        body.append(f'<tr data-metric="{m["key"]}">' + "".join(cells) + "</tr>")
    table = f'<table id="summary"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'
    intro = "".join(f"<p>{html.escape(p)}</p>" for p in _intro(summary))
    notes = _reason_lines(summary)
    note_html = ("<h3>n/a and notes</h3><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes)
                 + "</ul>") if notes else ""
    return intro + table + "<p>Best value per row in bold; rows without a direction have no winner.</p>" + note_html


def _html_family(family: str, summary: dict[str, Any], figures: list[tuple[str, str]]) -> str:
    tags = "".join(image_tag(p, cap) for p, cap in figures if Path(p).exists())
    shown = {k: v for k, v in summary["details"][family].items() if k != "tracebacks"}
    return tags + "<pre>" + html.escape(json.dumps(shown, indent=2, default=str)) + "</pre>"


def write_compare_report(out: Path, summary: dict[str, Any], figures: dict[str, list[tuple[str, str]]]) -> None:
    """out/results.json (the summary), out/report.md and out/report.html (figures embedded)."""
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "results.json", summary)
    md = ["# genmodels compare", "", *[p + "\n" for p in _intro(summary)], markdown_table(summary), ""]
    notes = _reason_lines(summary)
    if notes:
        md += ["n/a and notes:", "", *[f"- {n}" for n in notes], ""]
    md += ["Pictures (in each family's run folder): "
           + ", ".join(f"{f}/" + Path(p).name for f in summary["families"] for p, _ in figures[f]), ""]
    write_text(out / "report.md", "\n".join(md))
    sections = [("Summary", _html_summary(summary))]
    sections += [(f.upper(), _html_family(f, summary, figures[f])) for f in summary["families"]]
    config = {k: summary[k] for k in ("data", "budget_seconds_per_family", "seed", "families", "settings")}
    write_report(out / "report.html", f"genmodels compare: {summary['data']}", sections, config)


__all__ = ["markdown_table", "summary_rows", "write_compare_report"]
