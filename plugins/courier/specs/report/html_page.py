"""``report.html``: the self-contained matrix page (its style is the package resource ``report.css``)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from courier.specs.report.counts import RUN_STATES, cell_name, counts
from courier.specs.report.layout import artifact_prefix

_CSS = resources.files(__package__).joinpath("report.css").read_text()
"""The page's style, inlined into it (the page opens anywhere, alone)."""
STATUS_COLOURS = {
    "passed": "#1a7f37",
    "flaky": "#bf8700",
    "failed": "#cf222e",
    "skipped": "#6e7781",
    "queued": "#8250df",
    "running": "#8250df",
}


def report_html(
    run_id: str, cells: Sequence[dict[str, Any]], filtered: dict[str, int] | None = None, base_url: str = ""
) -> str:
    """Return the self-contained page: counts, the spec x browser/viewport matrix, flaky and failed cells."""
    total = counts(cells)
    esc = html.escape
    widths: dict[tuple[str, str], int] = {}
    for cell in cells:
        widths[(cell["browser"], cell["viewport"])] = cell["width"]
    columns = sorted(widths, key=lambda col: (col[0], -widths[col], col[1]))  # per browser: widest first
    specs: list[str] = []
    for cell in cells:
        if cell["spec_id"] not in specs:
            specs.append(cell["spec_id"])
    specs.sort()
    grid = {(c["spec_id"], c["browser"], c["viewport"]): c for c in cells}
    head = "".join(f"<th>{esc(b)}<br><small>{esc(v)}</small></th>" for b, v in columns)
    rows = []
    for spec_id in specs:
        tds = []
        for browser, viewport in columns:
            found = grid.get((spec_id, browser, viewport))
            if found is None:
                tds.append('<td class="none" title="not in the matrix (filtered)">—</td>')
                continue
            status = found["status"]
            seconds = (found["duration_ms"] or 0) / 1000
            prefix = artifact_prefix(spec_id, browser, viewport)
            shots = [a for a in found["artifacts"] if a.endswith(".png")]
            link = f'<br><a href="{esc(prefix)}/{esc(shots[0])}">screenshot</a>' if shots else ""
            title = esc(found["reason"] or status)
            tds.append(
                f'<td class="cell {esc(status)}" data-status="{esc(status)}" style="background:'
                f'{STATUS_COLOURS.get(status, "#57606a")}" title="{title}">{esc(status)}<br>'
                f"<small>{seconds:.1f}s</small>{link}</td>"
            )
        rows.append(f'<tr><th class="spec">{esc(spec_id)}</th>{"".join(tds)}</tr>')
    badges = "".join(
        f'<span style="background:{STATUS_COLOURS.get(k, "#57606a")}">{k} {total[k]}</span>'
        for k in ("passed", "flaky", "failed", "skipped", "not_run")
        if total[k] or k in ("passed", "failed")
    )
    details = []
    for cell in cells:
        if cell["status"] in ("failed", "flaky", "skipped", "queued", "running"):
            prefix = artifact_prefix(cell["spec_id"], cell["browser"], cell["viewport"])
            links = " ".join(f'<a href="{esc(prefix)}/{esc(a)}">{esc(a)}</a>' for a in cell["artifacts"])
            tries = "".join(
                f"<li>attempt {a['attempt']}: {esc(a['status'])} in {a['duration_ms'] / 1000:.1f}s"
                f"{' — ' + esc(a['reason']) if a['reason'] else ''}</li>"
                for a in cell["attempts"]
            )
            details.append(
                f"<details><summary><b>{esc(cell_name(cell))}</b>: {esc(cell['status'])}"
                f"{' — ' + esc(cell['reason']) if cell['reason'] else ''}</summary><ul>{tries}</ul>"
                f"<p>{links}</p><pre>{esc(cell['output_tail'] or '')}</pre></details>"
            )
    filtered_items = "".join(f"<li>{esc(reason)}: {n}</li>" for reason, n in sorted((filtered or {}).items()))
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>spec_matrix {esc(run_id)}</title><style>{_CSS}</style></head><body>"
        f"<h1>spec_matrix — {esc(run_id)}</h1>"
        f'<p class="state" data-state="{esc(total["state"])}"><b>{esc(total["state"].replace("_", " "))}</b>: '
        f"{esc(RUN_STATES[total['state']])}</p>"
        f'<p class="sub">{total["cells"]} cells · makespan {total["makespan_s"]:.1f}s · '
        f"{total['cell_seconds']:.1f}s of cell time · base URL {esc(base_url or '—')} · "
        f"generated {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC</p>"
        f'<div class="counts">{badges}</div>'
        f'<table class="matrix" id="matrix"><thead><tr><th class="spec">spec</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
        + (f"<h2>Flaky, failed and skipped cells</h2>{''.join(details)}" if details else "")
        + (f"<h2>Filtered cells</h2><ul>{filtered_items}</ul>" if filtered_items else "")
        + '<p class="sub">Also: <a href="junit.xml">junit.xml</a> · <a href="ctrf.json">ctrf.json</a></p>'
        "</body></html>\n"
    )
