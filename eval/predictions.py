"""From what a predictor wrote to what the metrics read: :class:`~eval.metrics.SetPrediction`.

Language-model predictors (student, base, teacher) write trajectory records
(:class:`agent.trajectory.TrajectoryRecord` lines, the collector's format); the others write
predictions directly. Both end as one ``SetPrediction`` per set, the unit of every metric, and
as one JSON line per set in ``predictions.jsonl``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from eval.metrics import SetPrediction
from kedrec.errors import DataFormatError
from tasks.task_sets import TaskSet


def bundle_passages(bundle: Mapping[str, Any] | None) -> dict[str, str]:
    """Each retrieved document's text in an evidence bundle (its title and passages)."""
    passages: dict[str, str] = {}
    for step in (bundle or {}).get("steps") or ():
        if step.get("tool") != "search_literature" or not isinstance(step.get("result"), dict):
            continue
        for passage in step["result"].get("passages") or ():
            doc = str(passage.get("doc_id") or "")
            if doc:
                text = f"{passage.get('title') or ''}\n{passage.get('passage') or ''}"
                passages[doc] = f"{passages[doc]}\n{text}" if doc in passages else text
    return passages


def literature_ids(ids: Iterable[str]) -> tuple[str, ...]:
    """The document IDs (PMID, PMC, NCT) among cited IDs: what citation support judges."""
    prefixes = ("PMID:", "PMC:", "NCT:")
    return tuple(i for i in ids if i.upper().startswith(prefixes))


def record_prediction(
    record: Mapping[str, Any], task_set: TaskSet, reference: str | None = None
) -> SetPrediction:
    """One trajectory record as a prediction (a failed or abstained run predicts nothing).

    Args:
        record: A trajectory record (a JSON line of the collector).
        task_set: The set it answered (its label and names).
        reference: The reference rationale (the teacher's) for ROUGE, if any.
    """
    ids = [c.id for c in task_set.candidates]
    choice = record.get("choice_id")
    answer = record.get("answer") or {}
    check = record.get("citation_check") or {}
    cited = [str(i) for i in (*check.get("verified", ()), *check.get("removed", ()))]
    confidence = answer.get("confidence")
    chosen = task_set.candidates[ids.index(choice)] if choice in ids else None
    return SetPrediction(
        set_id=task_set.set_id,
        label=task_set.label,
        predicted=ids.index(choice) if record.get("status") == "ok" and choice in ids else None,
        confidence=float(confidence) if chosen is not None and confidence is not None else None,
        rationale=str(answer.get("rationale") or ""),
        reference_rationale=reference,
        cited_ids=tuple(cited),
        verified_ids=tuple(str(i) for i in check.get("verified", ())),
        cited_passages=bundle_passages(record.get("evidence")) if record.get("evidence") else None,
        drug_names=(chosen.name,) if chosen is not None else (),
        disease_names=(task_set.disease.name,),
    )


def reference_rationales(path: Path | None) -> dict[str, str]:
    """The latest ok, non-abstained rationale per set of a teacher trajectory file."""
    if path is None:
        return {}
    from agent.collect import latest_records

    if not path.is_file():
        raise DataFormatError(
            f"reference file {path} does not exist: collect one with `kedrec teacher collect`"
        )
    return {
        set_id: str(record["answer"]["rationale"])
        for set_id, record in latest_records(path).items()
        if record.get("status") == "ok" and (record.get("answer") or {}).get("rationale")
    }


def write_predictions(predictions: Iterable[SetPrediction], path: Path) -> int:
    """Write predictions as JSONL (atomically); return the count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    count = 0
    with tmp.open("w", encoding="utf-8") as handle:
        for prediction in predictions:
            handle.write(prediction.model_dump_json() + "\n")
            count += 1
    tmp.replace(path)
    return count


def read_predictions(path: Path) -> Iterator[SetPrediction]:
    """Read a ``predictions.jsonl``; a bad line is an error naming the file and line."""
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield SetPrediction.model_validate(json.loads(line))
                except ValueError as error:
                    first = str(error).splitlines()[0]
                    raise DataFormatError(
                        f"{path}:{line_number}: not a prediction ({first}); delete the file "
                        "to score again"
                    ) from error
