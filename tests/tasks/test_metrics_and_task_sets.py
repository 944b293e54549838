"""Selection metrics and the task-set file format."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval.metrics import selection_scores
from kedrec.errors import DataFormatError
from tasks.task_sets import NamedEntity, TaskSet, read_task_sets, write_task_sets


def test_selection_scores() -> None:
    perfect = selection_scores([0, 1, 1, 0], [0, 1, 1, 0])
    assert perfect.accuracy == perfect.macro_f1 == 1.0
    half = selection_scores([0, 1, 1, 0], [0, 0, 1, 1])
    assert half.accuracy == 0.5 and half.macro_f1 == pytest.approx(0.5)
    abstain = selection_scores([0, 1], [None, 1])
    assert abstain.accuracy == 0.5 and abstain.abstained == 1
    with pytest.raises(ValueError, match="2 labels but 1"):
        selection_scores([0, 1], [0])


def _set(set_id: str, label: int = 0) -> TaskSet:
    return TaskSet(
        set_id=set_id,
        split="test",
        disease=NamedEntity(id="Disease::DOID:9352", name="type 2 diabetes mellitus"),
        candidates=[
            NamedEntity(id="Compound::DB00331", name="Metformin"),
            NamedEntity(id="Compound::DB00945", name="Acetylsalicylic acid"),
        ],
        label=label,
        seed=0,
        source="test",
        hidden_pairs=[("Compound::DB00331", "Disease::DOID:9352")],
    )


def test_round_trip_and_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "sets.jsonl"
    assert write_task_sets([_set("a"), _set("b", 1)], path) == 2
    loaded = list(read_task_sets(path))
    assert [s.set_id for s in loaded] == ["a", "b"] and loaded[
        1
    ].answer.name == "Acetylsalicylic acid"
    with path.open("a") as handle:
        handle.write('{"set_id": "broken"}\n')
    with pytest.raises(DataFormatError, match=r"sets.jsonl:3: not a task set"):
        list(read_task_sets(path))


def test_candidates_must_differ() -> None:
    with pytest.raises(ValueError, match="both candidates"):
        TaskSet.model_validate(
            _set("x").model_dump()
            | {"candidates": [{"id": "a", "name": "a"}, {"id": "a", "name": "a"}]}
        )
