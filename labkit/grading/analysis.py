"""Item analysis of a graded lab: one HTML page with matplotlib charts (PNG, inline) (grading, teaching).

The page shows the score distribution, each exercise's pass rate and mean points, its most frequent
failure messages with counts, its discrimination index (the upper 27% of the class by total score against
the lower 27%: an exercise that strong students fail as often as weak ones, or fail at all, is flagged),
and the time each submission took, by phase. Every text on it is escaped (student strings included).
"""
from __future__ import annotations

import base64
import html
import io
import re
from collections import Counter
from dataclasses import dataclass, field

GROUP = 0.27          # share of the class in the upper and lower groups (Kelley)
WEAK_D = 0.2          # below this discrimination index an exercise does not separate strong from weak


@dataclass
class ItemStats:
    """One exercise across the class."""

    function: str
    max_points: float
    pass_rate: float
    mean_points: float
    discrimination: float
    upper_pass_rate: float
    failures: list[tuple[str, int]] = field(default_factory=list)

    @property
    def flagged(self) -> bool:
        return self.discrimination < WEAK_D or self.upper_pass_rate < 0.5


def failure_message(exercise: dict) -> str:
    """An exercise's failure in a form that groups alike ones (cases and numbers taken out)."""
    text = str(exercise.get("detail") or exercise.get("status") or "")
    text = re.sub(r"\s*\(case: [^)]*\)", "", text)
    text = re.sub(r"\d+(\.\d+)?", "#", text)
    return f"{exercise.get('status')}: {text}"[:160]


def item_stats(records: list[dict], functions: list[str]) -> list[ItemStats]:
    """Per-exercise statistics over the records that count (superseded ones do not)."""
    rows = [r for r in records if r.get("status") != "superseded"]
    ranked = sorted(rows, key=lambda r: r.get("score", 0.0))
    size = max(1, round(GROUP * len(ranked)))
    lower, upper = ranked[:size], ranked[-size:]
    out = []
    for function in functions:
        def of(record):
            return next((e for e in record.get("exercises", []) if e["function"] == function), None)
        found = [e for e in (of(r) for r in rows) if e is not None]
        top = max([e["max_points"] for e in found] + [1e-9])
        share = lambda group: sum((of(r) or {}).get("points", 0.0) for r in group) / (top * max(1, len(group)))  # noqa: E731
        passed = lambda group: sum((of(r) or {}).get("status") == "passed" for r in group) / max(1, len(group))  # noqa: E731
        failures = Counter(failure_message(e) for e in found if e["status"] != "passed")
        out.append(ItemStats(function, top, passed(rows), sum(e["points"] for e in found) / max(1, len(rows)),
                             share(upper) - share(lower), passed(upper), failures.most_common(5)))
    return out


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _charts(records: list[dict], stats: list[ItemStats], max_score: float) -> dict[str, str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [r for r in records if r.get("status") != "superseded"]
    charts = {}
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist([r.get("final", r.get("score", 0.0)) for r in rows], bins=min(20, max(5, int(max_score) + 1)),
            range=(0, max(max_score, 1)), color="#3b75af")
    ax.set(xlabel="final score", ylabel="submissions", title="Score distribution")
    charts["scores"] = _png(fig)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3))
    names = [s.function for s in stats]
    left.barh(names, [s.pass_rate * 100 for s in stats], color="#4c9a2a")
    left.set(xlim=(0, 100), xlabel="% passed", title="Pass rate")
    right.barh(names, [s.mean_points for s in stats], color="#e08a1e")
    right.barh(names, [s.max_points for s in stats], fill=False, edgecolor="#999")
    right.set(xlabel="points", title="Mean points (of the maximum)")
    right.set_yticklabels([])
    charts["exercises"] = _png(fig)
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.barh(names, [s.discrimination for s in stats], color=["#c0392b" if s.flagged else "#3b75af" for s in stats])
    ax.axvline(WEAK_D, color="#999", linestyle="--")
    ax.set(xlim=(-1, 1), xlabel="discrimination index (upper 27% - lower 27%)", title="Discrimination")
    charts["discrimination"] = _png(fig)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3))
    left.hist([r.get("runtime_s", 0.0) for r in rows], bins=20, color="#7d5ba6")
    left.set(xlabel="seconds", ylabel="submissions", title="Time per submission")
    phases = sorted({p for r in rows for p in (r.get("phases") or {})})
    right.bar(phases, [sum((r.get("phases") or {}).get(p, 0.0) for r in rows) / max(1, len(rows)) for p in phases],
              color="#7d5ba6")
    right.set(ylabel="mean seconds", title="Time by phase")
    right.tick_params(axis="x", labelrotation=30)
    charts["time"] = _png(fig)
    return charts


def report_html(records: list[dict], functions: list[str], lab: str, max_score: float) -> str:
    """The item-analysis page."""
    e = html.escape
    stats = item_stats(records, functions)
    rows = [r for r in records if r.get("status") != "superseded"]
    charts = _charts(records, stats, max_score) if rows else {}
    finals = sorted(r.get("final", r.get("score", 0.0)) for r in rows)
    median = finals[len(finals) // 2] if finals else 0.0
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Item analysis: {e(lab)}</title><style>"
             "body{font-family:sans-serif;margin:2em;max-width:70em} table{border-collapse:collapse} "
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left} .flag{background:#fde2e0}</style></head>"
             f"<body><h1>Item analysis of {e(lab)}</h1><p>{len(rows)} submission(s); median final score "
             f"{median:g} / {max_score:g}.</p>"]
    for key, title in (("scores", "Score distribution"), ("exercises", "Pass rate and mean points per exercise"),
                       ("discrimination", "Discrimination index"), ("time", "Time per submission")):
        if key in charts:
            parts.append(f"<h2>{e(title)}</h2><img class='chart' id='chart-{key}' alt='{e(title)}' src='{charts[key]}'>")
    parts.append("<h2>Exercises</h2><table><tr><th>exercise</th><th>pass rate</th><th>mean points</th>"
                 "<th>discrimination</th><th>upper group passed</th><th>most frequent failures (count)</th></tr>")
    for s in stats:
        failures = "<br>".join(f"{e(text)} ({count})" for text, count in s.failures) or "none"
        parts.append(f"<tr class='{'flag' if s.flagged else ''}'><td>{e(s.function)}</td><td>{s.pass_rate:.0%}</td>"
                     f"<td>{s.mean_points:.2f} / {s.max_points:g}</td><td>{s.discrimination:+.2f}</td>"
                     f"<td>{s.upper_pass_rate:.0%}</td><td>{failures}</td></tr>")
    parts.append(f"</table><p>Highlighted: exercises the strongest {GROUP:.0%} fail half the time or more, or that do "
                 f"not separate strong from weak submissions (index below {WEAK_D}).</p></body></html>")
    return "\n".join(parts) + "\n"
