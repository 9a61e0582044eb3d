"""The pages of `genmodels compare`: report.md, the self-contained report.html and results.json, written from
the summary dict alone (its "metrics" list gives the rows, so this module needs nothing from the apps)."""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

from ..io import write_json, write_text
from .html import collapsed, definition_list, image_tag, write_report


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


def _html_panels(summary: dict[str, Any], panels: dict[str, tuple[str, str] | None]) -> str:
    """The figure the page leads with: real test images, then every family's samples, all at one scale."""
    parts = []
    for key in ("real", *summary["families"]):
        got = panels.get(key)
        if got is not None and Path(got[0]).exists():
            parts.append(image_tag(got[0], got[1], "real" if key == "real" else ""))
        elif key != "real":
            why = summary["reasons"][key].get("fid") or "no image samples"
            parts.append(f'<figure><div class="missing">{html.escape(key.upper())}: '
                         f"{html.escape(why.removeprefix('n/a: '))}</div></figure>")
    return f'<div class="panels" id="side-by-side">{"".join(parts)}</div>' if len(parts) > 1 else ""


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
    table = (f'<div class="scroll"><table id="summary"><thead><tr>{head}</tr></thead>'
             f'<tbody>{"".join(body)}</tbody></table></div>')
    notes = _reason_lines(summary)
    note_html = collapsed(f"n/a and notes ({len(notes)})", "<ul>" + "".join(
        f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>") if notes else ""
    how = collapsed("how each number was measured", "".join(f"<p>{html.escape(p)}</p>" for p in _intro(summary)))
    return (table + "<p>Best value per row in bold (hover a cell for why a number is n/a); rows without a "
            "direction have no winner.</p>" + note_html + how)


def _html_charts(summary: dict[str, Any]) -> str:
    """One small bar chart per measure (CSS bars, no script): a bar per family, the winner in green."""
    charts = []
    for m in summary["metrics"]:
        values = {f: summary["results"][f].get(m["key"]) for f in summary["families"]}
        numbers = [abs(v) for v in values.values() if isinstance(v, int | float) and math.isfinite(v)]
        if not numbers:
            continue
        top = max(numbers) or 1.0
        win = summary["winners"].get(m["key"], [])
        rows = []
        for f, v in values.items():
            number = isinstance(v, int | float) and math.isfinite(v)
            width = 100 * abs(v) / top if number else 0
            neg = " neg" if number and v < 0 else ""
            mark = " ★" if f in win else ""
            rows.append(f'<div class="bar-row{" win" if f in win else ""}"><span>{f.upper()}</span>'
                        f'<div class="track"><div class="bar{neg}" style="width:{width:.1f}%"></div></div>'
                        f"<span>{html.escape(_fmt(v))}{mark}</span></div>")
        hint = f"{m['better']} is better" if m["better"] else "no winner"
        charts.append(f'<div class="chart" data-chart="{m["key"]}"><h3>{html.escape(m["label"])} '
                      f'<span class="hint">({hint})</span></h3>{"".join(rows)}</div>')
    return f'<div class="charts">{"".join(charts)}</div>'


def _html_family(family: str, summary: dict[str, Any], figures: list[tuple[str, str]]) -> str:
    tags = "".join(image_tag(p, cap) for p, cap in figures if Path(p).exists())
    details = summary["details"][family]
    setup = f"<p>{html.escape(details.get('setup', 'training failed'))}.</p>"
    raw = {"results": summary["results"][family], **{k: v for k, v in details.items() if k != "tracebacks"}}
    return setup + tags + collapsed("parameters and raw results", definition_list(raw))


def write_compare_report(out: Path, summary: dict[str, Any], figures: dict[str, list[tuple[str, str]]],
                         panels: dict[str, tuple[str, str] | None] | None = None) -> None:
    """out/results.json (the summary), out/report.md and out/report.html (figures embedded). `panels`: the
    side-by-side figure's images ("real" and one per family, None where a family has none)."""
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "results.json", summary)
    md = ["# genmodels compare", "", *[p + "\n" for p in _intro(summary)], markdown_table(summary), ""]
    notes = _reason_lines(summary)
    if notes:
        md += ["n/a and notes:", "", *[f"- {n}" for n in notes], ""]
    md += ["Pictures (in each family's run folder): "
           + ", ".join(f"{f}/" + Path(p).name for f in summary["families"] for p, _ in figures[f]), ""]
    write_text(out / "report.md", "\n".join(md))
    sections = []
    side = _html_panels(summary, panels or {})
    if side:
        sections.append(("Samples side by side", side + "<p>Every panel is drawn at the same scale (nearest-"
                         "neighbour upscaling); the framed one holds real test images.</p>"))
    sections += [("Summary", _html_summary(summary)), ("Each measure", _html_charts(summary))]
    sections += [(f.upper(), _html_family(f, summary, figures[f])) for f in summary["families"]]
    config = {k: summary[k] for k in ("data", "budget_seconds_per_family", "seed", "families", "settings")}
    lead = (f"{', '.join(f.upper() for f in summary['families'])} trained for "
            f"{summary['budget_seconds_per_family']:g} s each on {summary['data']} ({summary['n_train']} training, "
            f"{summary['n_test']} test rows); {summary['total_seconds']:.0f} s in all.")
    write_report(out / "report.html", f"genmodels compare: {summary['data']}", sections, config, lead=lead)


__all__ = ["markdown_table", "summary_rows", "write_compare_report"]
