"""The drug-selection task set: a disease, two candidate drugs, which one is relevant.

Stored one JSON object per line. Every set carries the (drug, disease) pairs that define its
label (``hidden_pairs``): tools must hide them whenever the set is answered, and embeddings for
val/test/benchmark sets are trained without them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from kedrec.errors import DataFormatError

Split = Literal["train", "val", "test", "benchmark"]


class NamedEntity(BaseModel):
    """A graph entity with its display name."""

    id: str
    name: str


class TaskSet(BaseModel):
    """One question: which of two drugs fits the disease?"""

    set_id: str
    split: Split
    disease: NamedEntity
    candidates: list[NamedEntity] = Field(min_length=2, max_length=2)
    label: int = Field(ge=0, le=1, description="Index of the relevant candidate.")
    relevance: float | None = Field(None, description="rel(d, c_rel) from DRKG edges.")
    similarity: float | None = Field(None, description="cos(h_c_irr, h_c_rel) (paper Eq. 1).")
    seed: int
    source: str = Field(description="How the set was made: drkg-sampled, pharmacotherapydb, …")
    hidden_pairs: list[tuple[str, str]] = Field(
        default_factory=list, description="(drug, disease) pairs to mask while answering."
    )
    embedding_version: str | None = None

    @model_validator(mode="after")
    def _candidates_differ(self) -> TaskSet:
        if self.candidates[0].id == self.candidates[1].id:
            raise ValueError(f"set {self.set_id}: both candidates are {self.candidates[0].id}")
        return self

    @property
    def answer(self) -> NamedEntity:
        """The relevant candidate."""
        return self.candidates[self.label]

    @property
    def distractor(self) -> NamedEntity:
        """The similar but irrelevant candidate."""
        return self.candidates[1 - self.label]


def write_task_sets(sets: Iterable[TaskSet], path: Path) -> int:
    """Write sets as JSONL (atomically: a crash never leaves half a file); return the count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    count = 0
    with tmp.open("w", encoding="utf-8") as handle:
        for task_set in sets:
            handle.write(task_set.model_dump_json() + "\n")
            count += 1
    tmp.replace(path)
    return count


def read_task_sets(path: Path) -> Iterator[TaskSet]:
    """Read JSONL task sets; a bad line is an error naming the file and line."""
    if not path.is_file():
        raise DataFormatError(
            f"task-set file {path} does not exist: build it with `kedrec sets build`"
        )
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield TaskSet.model_validate(json.loads(line))
            except (json.JSONDecodeError, ValidationError) as error:
                first = str(error).splitlines()[0]
                raise DataFormatError(f"{path}:{line_number}: not a task set ({first})") from error
