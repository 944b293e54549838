"""The grid's report: Markdown tables shaped like the paper's Tables 1–2, and PNG plots.

Table 1 is selection (macro F1 with its 95% bootstrap interval, accuracy) per predictor and
literature source, one block per benchmark; Table 2 is rationale ROUGE-1/2/L against the
teacher's rationales; then citations, abstention and calibration, throughput and the paired
McNemar tests. Every number is read from the cells' ``summary.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPORT_FILE = "report.md"
F1_PLOT = "table1_selection_f1.png"
ROUGE_PLOT = "table2_rouge.png"


def _value(cell: dict[str, Any] | None, metric: str) -> float | None:
    if cell is None:
        return None
    value = cell["summary"]["metrics"][metric]["value"]
    return None if value is None else float(value)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _with_ci(cell: dict[str, Any] | None, metric: str) -> str:
    if cell is None:
        return "—"
    entry = cell["summary"]["metrics"][metric]
    low, high = entry["ci95"]
    if entry["value"] is None:
        return "—"
    if low is None or high is None:
        return _fmt(entry["value"])
    return f"{entry['value']:.3f} [{low:.2f}, {high:.2f}]"


def _index(cells: Sequence[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(c["benchmark"], c["predictor"], c["source"]): c for c in cells}


def _order(cells: Sequence[dict[str, Any]], key: str) -> list[str]:
    return list(dict.fromkeys(c[key] for c in cells))


def _label(cell_predictor: str, cells: dict[tuple[str, str, str], dict[str, Any]]) -> str:
    uses = next(
        (
            c["summary"]["predictor"]["uses_literature"]
            for k, c in cells.items()
            if k[1] == cell_predictor
        ),
        True,
    )
    twin = next(
        (c.get("same_records_as") for k, c in cells.items() if k[1] == cell_predictor), None
    )
    label = cell_predictor if uses else f"{cell_predictor} †"
    return label if twin is None else f"{label} ‡"


def _twin_notes(cells: Sequence[dict[str, Any]]) -> list[str]:
    """‡ rows: the same model in the same mode as another row, scored from its records."""
    pairs = sorted(
        {(c["predictor"], c["same_records_as"]) for c in cells if c.get("same_records_as")}
    )
    return [
        f"‡ {spec}: the same plan-mode run as {twin} (the same model on the same prompts), "
        "scored from its records."
        for spec, twin in pairs
    ]


def markdown_report(grid: dict[str, Any]) -> str:
    """The report text (Markdown)."""
    cells = grid["cells"]
    index = _index(cells)
    benchmarks, predictors, sources = (
        _order(cells, k) for k in ("benchmark", "predictor", "source")
    )
    lines = ["# KEDRec evaluation report", ""]
    first = cells[0]["summary"]["provenance"] if cells else {}
    lines += [
        f"Commit `{first.get('git_commit')}`, {first.get('created_at')}, bundle "
        f"`{first.get('bundle_version')}`, prompt `{first.get('prompt_version')}`, graph "
        f"`{(first.get('graph_version') or {}).get('fingerprint', first.get('graph_version'))}`.",
        "",
        "† does not read literature: one run fills every source column. Intervals are 95% "
        "percentile bootstrap over sets. Abstentions count as wrong.",
        *_twin_notes(cells),
        *(
            [
                "Choice only (`--choice-only`): the model rows stopped after the choice, so "
                "Table 2 and the citation columns are empty for them."
            ]
            if grid.get("config", {}).get("choice_only")
            else []
        ),
        *(
            [
                f"Sampled: at most {grid['config']['sample']} sets of each benchmark, drawn "
                f"with seed {grid['config'].get('sample_seed', 0)} (`--sample`)."
            ]
            if grid.get("config", {}).get("sample")
            else []
        ),
        "",
        "## Table 1: drug selection (macro F1 [95% CI] / accuracy)",
        "",
    ]
    for benchmark in benchmarks:
        n = next(c["summary"]["n_sets"] for c in cells if c["benchmark"] == benchmark)
        lines += [f"### {benchmark} ({n} sets)", ""]
        lines.append("| predictor | " + " | ".join(f"source: {s}" for s in sources) + " |")
        lines.append("|---|" + "---|" * len(sources))
        for p in predictors:
            row = [
                f"{_with_ci(index.get((benchmark, p, s)), 'macro_f1')} / "
                f"{_fmt(_value(index.get((benchmark, p, s)), 'accuracy'))}"
                for s in sources
            ]
            lines.append(f"| {_label(p, index)} | " + " | ".join(row) + " |")
        lines.append("")
    lines += ["## Table 2: rationale ROUGE-1 / ROUGE-2 / ROUGE-L against the teacher", ""]
    for benchmark in benchmarks:
        rows = []
        for p in predictors:
            values = [
                "/".join(
                    _fmt(_value(index.get((benchmark, p, s)), m), 3)
                    for m in ("rouge1", "rouge2", "rougeL")
                )
                for s in sources
            ]
            if any(v != "—/—/—" for v in values):
                rows.append(f"| {p} | " + " | ".join(values) + " |")
        if rows:
            lines += [f"### {benchmark}", ""]
            lines.append("| predictor | " + " | ".join(f"source: {s}" for s in sources) + " |")
            lines.append("|---|" + "---|" * len(sources))
            lines += [*rows, ""]
    lines += [
        "## Citations, abstention, calibration, throughput",
        "",
        "| benchmark | predictor | source | citation precision | citation support | "
        "abstention | answered acc. | ECE | sets/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        if c["source"] != c["run_source"]:
            continue  # a source-free predictor: its one run is listed once
        m = c["summary"]
        lines.append(
            f"| {c['benchmark']} | {c['predictor']} | {c['run_source']} | "
            f"{_fmt(_value(c, 'citation_precision'))} | {_fmt(_value(c, 'citation_support'))} | "
            f"{_fmt(_value(c, 'abstention_rate'))} | {_fmt(_value(c, 'answered_accuracy'))} | "
            f"{_fmt(_value(c, 'ece'))} | {_fmt(m['throughput']['sets_per_second'], 2)} |"
        )
    if grid.get("comparisons"):
        lines += ["", "## Paired McNemar tests (b: only A right, c: only B right)", ""]
        lines += ["| benchmark | source | A | B | b | c | p |", "|---|---|---|---|---|---|---|"]
        for t in grid["comparisons"]:
            lines.append(
                f"| {t['benchmark']} | {t['source']} | {t['predictor_a']} | {t['predictor_b']} | "
                f"{t['b']} | {t['c']} | {t['p_value']:.3g} |"
            )
    return "\n".join(lines) + "\n"


def _bars(grid: dict[str, Any], metrics: Sequence[str], title: str, path: Path) -> None:
    """Grouped bars: one panel per benchmark (and metric), predictors × sources."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = grid["cells"]
    index = _index(cells)
    benchmarks, predictors, sources = (
        _order(cells, k) for k in ("benchmark", "predictor", "source")
    )
    panels = [(b, m) for b in benchmarks for m in metrics]
    figure, axes = plt.subplots(
        1, len(panels), figsize=(max(5.0, 1.2 * len(predictors) * len(panels)), 4), squeeze=False
    )
    width = 0.8 / max(len(sources), 1)
    for axis, (benchmark, metric) in zip(axes[0], panels, strict=True):
        for position, source in enumerate(sources):
            values = [_value(index.get((benchmark, p, source)), metric) for p in predictors]
            axis.bar(
                [i + position * width for i in range(len(predictors))],
                [v if v is not None else 0.0 for v in values],
                width,
                label=f"source: {source}",
            )
        axis.set_xticks([i + 0.4 - width / 2 for i in range(len(predictors))])
        axis.set_xticklabels([p.split(":")[0] for p in predictors], rotation=30, ha="right")
        axis.set_ylim(0, 1)
        axis.set_title(f"{benchmark}: {metric}")
    axes[0][0].legend(fontsize="small")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_report(grid: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write ``report.md`` and the two plots; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    report = out_dir / REPORT_FILE
    report.write_text(markdown_report(grid))
    f1_plot, rouge_plot = out_dir / F1_PLOT, out_dir / ROUGE_PLOT
    _bars(grid, ["macro_f1"], "Table 1: selection macro F1", f1_plot)
    _bars(grid, ["rouge1", "rougeL"], "Table 2: rationale ROUGE vs the teacher", rouge_plot)
    return [report, f1_plot, rouge_plot]
