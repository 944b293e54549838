"""What the graph evidence of task sets can tell a student: coverage and simple-rule accuracy.

Usage::

    .venv/bin/python bench/bundle_signal.py TRAJECTORIES.jsonl [...]

Reads the rendered evidence bundles of trajectory records (a ``kedrec teacher collect
--rationalize --choice-only`` file costs only the graph queries) and reports, per file: how
many sets' diseases have associated genes in the graph, how often the mechanism section
(shared drug→gene←disease genes) tells the candidates apart, and the accuracy of two rules a
student could learn from the bundle alone — "more shared genes" and "more known indications"
(other diseases the drug treats or palliates; the set's own pairs are hidden). It explains a
selection F1 near 0.5: evidence that is the same for both candidates cannot be learnt from.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import machine_info

from agent.collect import latest_records

PATTERNS = {
    "disease_genes": re.compile(r"associated genes \((\d+) in graph\)"),
    "shared_genes": re.compile(r"shared genes \(drug→gene←disease\): (\d+)"),
    "indications": re.compile(r"known indications \(label pairs hidden\): (\d+)"),
}


def rule_outcome(values: list[int], label: int) -> str:
    """'right', 'wrong' or 'tie' for "pick the candidate with the larger value"."""
    if len(values) != 2:
        raise ValueError(f"expected one value per candidate, got {values}")
    if values[0] == values[1]:
        return "tie"
    return "right" if (values[1] > values[0]) == (label == 1) else "wrong"


def summarise(path: Path) -> dict[str, object]:
    """Coverage and rule accuracy over the last record of every set in one file."""
    latest = latest_records(path, ("evidence_text", "task_set"))
    coverage: Counter[str] = Counter()
    rules: dict[str, Counter[str]] = {"shared_genes": Counter(), "indications": Counter()}
    for record in latest.values():
        text = record.get("evidence_text") or ""
        found = {name: [int(x) for x in p.findall(text)] for name, p in PATTERNS.items()}
        if not found["disease_genes"]:
            raise ValueError(f"{path}: set {record['set_id']} has no rendered disease profile")
        coverage["disease_has_genes" if found["disease_genes"][0] > 0 else "no_genes"] += 1
        for rule, outcomes in rules.items():
            outcomes[rule_outcome(found[rule], record["task_set"]["label"])] += 1
    result: dict[str, object] = {"file": str(path), "sets": len(latest), **coverage}
    for rule, outcomes in rules.items():
        decided = outcomes["right"] + outcomes["wrong"]
        result[rule] = {
            **outcomes,
            "accuracy_when_decided": round(outcomes["right"] / decided, 3) if decided else None,
            "accuracy_ties_as_coin": round(
                (outcomes["right"] + outcomes["tie"] / 2) / len(latest), 3
            ),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trajectories", nargs="+", type=Path)
    args = parser.parse_args()
    print(json.dumps(machine_info(), indent=2))
    for path in args.trajectories:
        print(json.dumps(summarise(path), indent=2))


if __name__ == "__main__":
    main()
