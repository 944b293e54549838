r"""Trajectory records → student training examples, with every drop counted by reason.

An example is one plan-mode prompt (:func:`distill.prompting.student_prompt` over the record's
``evidence_text``: byte for byte what the student reads at inference) and one completion: the
teacher's answer in the layout of :mod:`agent.sections` with ``Choice:`` set to the set's
label (paper Eq. 7), then the end-of-turn token. Its tokens carry per-token loss weights that
make the example's loss paper Eq. 8, ``L_select + λ·L_rationale``: prompt tokens are masked
(label -100, weight 0); each token of the chosen name and its newline weighs 1, so
``L_select = −log p(name)``, the selection's cross-entropy over the very log-likelihood the
choice is scored by at inference (rule ``sum``); each of the ``n_r`` other answer tokens weighs
``λ / n_r``, so ``L_rationale`` is their mean cross-entropy. A token-mean over the whole answer
would give the choice ~2% of the loss (a few name tokens among ~200 answer tokens), and a mean
over the name's tokens would divide the decision (mostly its first token) by the name's length.

A **selection-only** example comes from a choice-only record (``kedrec teacher collect
--rationalize --choice-only``: the evidence bundle and the label, no model call): its
completion is ``Choice: <label>\n`` alone, without an end-of-turn token (the student writes
the rationale after that line at inference), and only ``L_select`` is learnt from it — the
label-only task of the multi-task form of "Distilling step-by-step".
Selection is supervised by the ground truth whatever the teacher chose, so the teacher's
choice and citations do not filter these.

Kept are records that are usable teacher demonstrations (Agent Distillation / FireAct
filtering), checked in this order; the first failed check is the record's drop reason
(:data:`DROP_REASONS`):

1. the last record of its set in its file (a resumed collection appends; the last one counts);
2. ``status == "ok"`` with an answer, not an abstention, a labelled set;
3. ``split`` is ``train`` (training examples) or ``val`` (validation examples);
4. a rendered evidence bundle (``evidence_text``);
5. every citation verified against the bundle (``citation_check`` and
   ``bundle_citation_check`` removed nothing); with ``keep_cleaned`` a record whose invalid
   citations were removed is kept with its cleaned answer (the report counts both ways);
6. not rationalized: the teacher's choice is the label (rationalized records were told the
   label and only explain it: always kept);
7. prompt + completion fit ``max_length`` tokens (never truncated: a cut prompt is not what
   the student reads).

A choice-only record skips checks 5 and 6 (it has no citations, and its label is the target
whatever the teacher chose) and becomes a selection-only example.

Every train or val record is held to the task-set build (:class:`HeldOutDiseases`): a disease
of the test or benchmark split, under any of its IDs (disease groups), stops the run with a
:class:`~kedrec.errors.LeakageError`.
"""

from __future__ import annotations

import hashlib
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from agent.citations import check_answer
from agent.records import FinalAnswer
from agent.sections import CITATIONS_LABEL
from agent.trajectory import TrajectoryRecord
from distill.prompting import (
    choice_span,
    selection_completion,
    student_completion,
    student_prompt,
)
from evidence.bundle import bundle_evidence
from kedrec.errors import DataFormatError, LeakageError
from tasks.disease_groups import DiseaseGroups
from tasks.task_sets import TaskSet, read_task_sets

if TYPE_CHECKING:
    from rich.table import Table
    from transformers import PreTrainedTokenizerBase

    from graph_store.names import NameIndex

IGNORE_INDEX = -100
"""Label of a token the loss ignores (the prompt, the padding): PyTorch's cross-entropy
default and the Hugging Face convention."""

TRAIN_SPLITS = ("train", "val")
HELD_OUT_SPLITS = ("test", "benchmark")

DROP_REASONS: dict[str, str] = {
    "superseded": "an earlier record of the same set in the same file (the last one counts)",
    "failed": "the run failed or has no answer",
    "abstained": "the teacher answered 'insufficient evidence'",
    "label_unknown": "an ad-hoc set without a known label",
    "held_out_split": "a test or benchmark set: never trained or validated on",
    "no_evidence": "no rendered evidence bundle to read (collected with --no-evidence?)",
    "invalid_citations": "cited IDs the bundle does not show (kept with --keep-cleaned)",
    "wrong_choice": "the teacher chose the distractor (not rationalized)",
    "too_long": "prompt + answer longer than max_length tokens (raise --max-length)",
}
"""Why a record makes no example, in the order the checks run."""


@dataclass
class EncodedExample:
    """One tokenised example: ids, labels (-100 on the prompt) and per-token loss weights."""

    set_id: str
    split: str
    task_set: TaskSet
    prompt: str
    """The student's prompt text (:func:`~distill.prompting.student_prompt`)."""
    completion: str
    """The answer in the layout, choice := label, then the end-of-turn token."""
    input_ids: list[int]
    labels: list[int]
    weights: list[float]
    n_prompt: int
    n_choice: int
    """Tokens of the chosen name and its newline (weight 1)."""
    rationalized: bool
    cleaned: bool = False
    """Kept with ``keep_cleaned``: some invalid citations had been removed from its answer."""
    selection_only: bool = False
    """From a choice-only record: ``Choice: <label>\n`` is the whole completion (L_select)."""
    target_embedding: list[float] | None = None
    """The teacher rationale's sentence embedding for the optional Eq. 6 term
    (:mod:`distill.rationale_embedding`); None without one."""

    @property
    def n_tokens(self) -> int:
        """Prompt + completion tokens."""
        return len(self.input_ids)


@dataclass
class DataReport:
    """What became of every trajectory record (JSON in ``data_report.json``, and a table)."""

    files: list[dict[str, Any]] = field(default_factory=list)
    records: int = 0
    kept: Counter[str] = field(default_factory=Counter)
    """Examples by split (train, val)."""
    dropped: Counter[str] = field(default_factory=Counter)
    """Records by their first failed check (:data:`DROP_REASONS`)."""
    keep_cleaned: bool = False
    kept_cleaned: int = 0
    """Examples kept with ``keep_cleaned`` whose answer had invalid citations removed."""
    kept_strict: Counter[str] = field(default_factory=Counter)
    """Examples by split if only records with fully verified citations were kept."""
    kept_with_cleaned: Counter[str] = field(default_factory=Counter)
    """Examples by split if records with removed citations were kept too."""
    rationalized: int = 0
    selection_only: Counter[str] = field(default_factory=Counter)
    """Kept selection-only examples (from choice-only records) by split."""
    without_citations: int = 0
    """Kept answer examples that cite nothing (all citations verify, vacuously)."""
    max_length: int = 0
    prompt_tokens: list[int] = field(default_factory=list)
    completion_tokens: list[int] = field(default_factory=list)
    prompt_versions: Counter[str] = field(default_factory=Counter)
    bundle_versions: Counter[str] = field(default_factory=Counter)
    teacher_models: Counter[str] = field(default_factory=Counter)
    modes: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready counts (token lengths summarised, not listed)."""
        return {
            "files": self.files,
            "records": self.records,
            "kept": dict(self.kept),
            "dropped": {reason: self.dropped[reason] for reason in DROP_REASONS},
            "keep_cleaned": self.keep_cleaned,
            "kept_cleaned": self.kept_cleaned,
            "kept_strict": dict(self.kept_strict),
            "kept_with_cleaned": dict(self.kept_with_cleaned),
            "rationalized": self.rationalized,
            "selection_only": dict(self.selection_only),
            "without_citations": self.without_citations,
            "max_length": self.max_length,
            "prompt_tokens": _summary(self.prompt_tokens),
            "completion_tokens": _summary(self.completion_tokens),
            "prompt_versions": dict(self.prompt_versions),
            "bundle_versions": dict(self.bundle_versions),
            "teacher_models": dict(self.teacher_models),
            "modes": dict(self.modes),
        }

    def table(self) -> Table:
        """A rich table: kept by split, then every drop reason with its count."""
        from rich.table import Table

        table = Table(title=f"{self.records} trajectory records → examples")
        table.add_column("outcome")
        table.add_column("records", justify="right")
        table.add_column("meaning")
        for split in TRAIN_SPLITS:
            table.add_row(
                f"kept: {split}",
                str(self.kept[split]),
                f"{split} examples ({self.selection_only[split]} selection-only)",
            )
        for reason, meaning in DROP_REASONS.items():
            table.add_row(f"dropped: {reason}", str(self.dropped[reason]), meaning)
        other = "with" if not self.keep_cleaned else "without"
        counts = self.kept_with_cleaned if not self.keep_cleaned else self.kept_strict
        table.add_row(
            f"{other} --keep-cleaned",
            f"{counts['train']} / {counts['val']}",
            "train / val examples the other citation rule would give",
        )
        lengths = _summary(self.prompt_tokens)
        if lengths:
            table.add_row(
                "prompt tokens",
                f"{lengths['median']:.0f}",
                f"median (min {lengths['min']}, max {lengths['max']}; max_length "
                f"{self.max_length})",
            )
        return table


@dataclass
class StudentData:
    """Training and validation examples with the report of how they were chosen."""

    train: list[EncodedExample]
    val: list[EncodedExample]
    report: DataReport


# -- reading ----------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_trajectories(path: Path) -> list[TrajectoryRecord]:
    """Every record of a trajectory file (JSONL from ``kedrec teacher collect``), in order.

    Raises:
        DataFormatError: The file is missing or a line is not a record (file and line named).
    """
    if not path.is_file():
        raise DataFormatError(
            f"trajectory file {path} does not exist: collect one with `kedrec teacher collect`"
        )
    records = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                records.append(TrajectoryRecord.model_validate_json(line))
            except ValidationError as error:
                first = str(error).splitlines()[0]
                raise DataFormatError(
                    f"{path}:{number}: not a trajectory record ({first}); a cut last line is "
                    "repaired by resuming `kedrec teacher collect`"
                ) from error
    return records


def latest_per_set(records: Sequence[TrajectoryRecord]) -> tuple[list[TrajectoryRecord], int]:
    """The last record of every set (collect appends retries), in first-seen order."""
    last: dict[str, TrajectoryRecord] = {}
    for record in records:
        last.pop(record.set_id, None)  # re-insert: order of the latest record
        last[record.set_id] = record
    return list(last.values()), len(records) - len(last)


# -- the held-out diseases --------------------------------------------------------------------


class HeldOutDiseases:
    """The test and benchmark diseases of a task-set build, every ID of each (disease groups).

    Built from the build's folder (``test.jsonl``, ``benchmark.jsonl``, every imported
    ``benchmark-<source>.jsonl``; the sets' diseases and the disease side of their hidden
    pairs); the groups join DOID and MeSH IDs of the same disease among every disease of the
    build and of the records checked.
    """

    def __init__(self, held: dict[str, tuple[str, str]], sets_dir: Path) -> None:
        self._held = held
        self.sets_dir = sets_dir

    @classmethod
    def load(
        cls,
        sets_dir: Path,
        *,
        also: Iterable[str] = (),
        names: NameIndex | None = None,
    ) -> HeldOutDiseases:
        """Read a build's held-out diseases.

        Args:
            sets_dir: The build's folder (``kedrec sets build``; default the settings').
            also: Further disease IDs to group (those of the records to check).
            names: The name index (its DO → MeSH cross-references); default the settings'.

        Raises:
            DataFormatError: The folder has neither ``test.jsonl`` nor ``benchmark.jsonl``.
        """
        from tasks.build import split_files

        held_sets: list[TaskSet] = []
        every: set[str] = set(also)
        held_paths = split_files(sets_dir, HELD_OUT_SPLITS)
        for path in split_files(sets_dir, TRAIN_SPLITS) + held_paths:
            for task_set in read_task_sets(path):
                every |= _diseases_of(task_set)
                if path in held_paths:
                    held_sets.append(task_set)
        if not held_paths:
            raise DataFormatError(
                f"no test.jsonl or benchmark.jsonl in {sets_dir}: pass --sets <the task-set "
                "build the trajectories were collected on> (`kedrec sets build` writes one)"
            )
        if names is None:
            from graph_store.names import load_name_index
            from kedrec.settings import get_settings

            names = load_name_index(get_settings().names_dir)
        groups = DiseaseGroups(every, names)
        held: dict[str, tuple[str, str]] = {}
        for task_set in held_sets:
            for disease in _diseases_of(task_set):
                for member in groups.group_of(disease):
                    held.setdefault(member, (task_set.split, task_set.set_id))
        return cls(held, sets_dir)

    def __contains__(self, disease: object) -> bool:
        return disease in self._held

    def __len__(self) -> int:
        return len(self._held)

    def check(self, task_set: TaskSet) -> None:
        """Refuse a train/val set about a held-out disease.

        Raises:
            LeakageError: One line naming the set, the disease, the held-out set and the fix.
        """
        for disease in sorted(_diseases_of(task_set)):
            if disease in self._held:
                split, held_set = self._held[disease]
                raise LeakageError(
                    f"{task_set.split} set {task_set.set_id} is about {disease}, a {split} "
                    f"disease (set {held_set} in {self.sets_dir}): these trajectories come "
                    "from another task-set build; collect them on this build or pass --sets "
                    "<the build they came from>"
                )


def _diseases_of(task_set: TaskSet) -> set[str]:
    """The set's disease and the disease side of its hidden pairs (its other IDs)."""
    return {task_set.disease.id, *(disease for _, disease in task_set.hidden_pairs)}


# -- selection and encoding -------------------------------------------------------------------


def citations_invalid(record: TrajectoryRecord) -> bool:
    """Whether the teacher cited anything the bundle (or, in agent mode, its tools) did not show.

    In plan mode ``citation_check`` is the check against the bundle; ``bundle_citation_check``
    holds the (already cleaned) answer to the bundle again, which matters in agent mode, where
    ``citation_check`` is against the run's tool calls.
    """
    bundle_check = record.bundle_citation_check
    if record.citation_check.removed or (bundle_check is not None and bundle_check.removed):
        return True
    return record.mode == "agent" and bundle_check is None


def cleaned_answer(record: TrajectoryRecord) -> FinalAnswer | None:
    """The record's answer with every citation the bundle does not show removed.

    The stored answer is already cleaned against what the teacher was checked on (the bundle
    in plan mode); an agent-mode answer whose bundle check removed citations is cleaned
    against the recorded bundle here. None when that cannot be done (no recorded bundle).
    """
    answer = record.answer
    bundle_check = record.bundle_citation_check
    if answer is None:
        return None
    if bundle_check is not None and not bundle_check.removed:
        return answer
    if record.evidence is None:
        return None
    cleaned, _ = check_answer(answer, bundle_evidence(record.evidence))
    return cleaned


def encode_example(
    tokenizer: PreTrainedTokenizerBase,
    prompt: str,
    completion: str,
    rationale_weight: float,
) -> tuple[list[int], list[int], list[float], int, int]:
    r"""Tokenise ``prompt + completion`` once, with labels and per-token loss weights.

    The whole text is tokenised as one string (the merges the model sees at inference), and a
    token belongs to the completion when its span ends after the prompt (as in
    :func:`llm.choice.encode_continuation`). The completion tokens that overlap the chosen
    name and its newline (the text after ``"Choice: "`` up to and including ``"\n"``) weigh 1
    each; the boundary token that carries the prefix's space into the name counts as the
    name's, as in the choice scoring. The ``n_r`` other completion tokens weigh
    ``rationale_weight / n_r`` (λ over their count), so the weighted sum of token
    cross-entropies is ``−log p(name) + λ·mean_rest`` (paper Eq. 8).

    Returns:
        ``(input_ids, labels, weights, n_prompt_tokens, n_choice_tokens)``; labels are the
        ids on the completion and -100 on the prompt (unshifted, Hugging Face style).
    """
    text = prompt + completion
    start, end = choice_span(completion)
    choice_start, choice_end = len(prompt) + start, len(prompt) + end
    if getattr(tokenizer, "is_fast", False):
        encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(encoded["input_ids"])
        spans = [(int(a), int(b)) for a, b in encoded["offset_mapping"]]
    else:  # no offsets: spans from the token counts of growing prefixes of the text
        ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
        spans = _spans_without_offsets(tokenizer, text, ids, (len(prompt), choice_end))
    labels: list[int] = []
    parts: list[str] = []
    for token, (begin, finish) in zip(ids, spans, strict=True):
        if finish <= len(prompt):
            labels.append(IGNORE_INDEX)
            parts.append("prompt")
        else:
            labels.append(token)
            parts.append("choice" if begin < choice_end and finish > choice_start else "rest")
    counts = Counter(parts)
    if counts["prompt"] == len(ids) or counts["choice"] == 0:
        raise ValueError("the completion vanished into the prompt's tokens")
    per_token = {
        "prompt": 0.0,
        "choice": 1.0,
        "rest": float(rationale_weight) / max(counts["rest"], 1),
    }
    weights = [per_token[part] for part in parts]
    return ids, labels, weights, counts["prompt"], counts["choice"]


def _spans_without_offsets(
    tokenizer: PreTrainedTokenizerBase, text: str, ids: list[int], cuts: tuple[int, int]
) -> list[tuple[int, int]]:
    """Coarse token spans for slow tokenizers: tokens up to each cut's common prefix end there."""
    bounds = []
    for cut in cuts:
        alone = list(tokenizer(text[:cut], add_special_tokens=False)["input_ids"])
        shared = 0
        while shared < min(len(alone), len(ids)) and alone[shared] == ids[shared]:
            shared += 1
        bounds.append((shared, cut))
    (prompt_tokens, prompt_end), (choice_tokens, choice_end) = bounds
    spans = []
    for index in range(len(ids)):
        if index < prompt_tokens:
            spans.append((0, prompt_end))
        elif index < choice_tokens:
            spans.append((prompt_end, choice_end))
        else:
            spans.append((choice_end + 1, len(text) + 1))
    return spans


def build_examples(
    trajectories: Sequence[Path],
    tokenizer: PreTrainedTokenizerBase,
    *,
    sets_dir: Path,
    max_length: int,
    rationale_weight: float,
    keep_cleaned: bool = False,
    names: NameIndex | None = None,
) -> StudentData:
    """Read trajectory files and turn their usable records into encoded examples.

    Args:
        trajectories: JSONL files from ``kedrec teacher collect`` (each deduplicated by set).
        tokenizer: The student's tokenizer.
        sets_dir: The task-set build the records come from (its test and benchmark diseases
            must not occur in any train or val record).
        max_length: Longest example in tokens; longer ones are dropped (``too_long``).
        rationale_weight: λ, the loss weight of the answer tokens after the chosen name.
        keep_cleaned: Keep records whose invalid citations were already removed.
        names: The name index for the disease groups (default: the settings').

    Returns:
        Train and val examples (file order) and the report of every record.

    Raises:
        DataFormatError: A file is missing or malformed.
        LeakageError: A train or val record is about a test or benchmark disease.
    """
    report = DataReport(keep_cleaned=keep_cleaned, max_length=max_length)
    files: list[tuple[Path, list[TrajectoryRecord]]] = []
    for path in trajectories:
        records = read_trajectories(path)
        latest, superseded = latest_per_set(records)
        report.files.append(
            {"path": str(path), "sha256": file_sha256(path), "records": len(records)}
        )
        report.records += len(records)
        report.dropped["superseded"] += superseded
        files.append((path, latest))
    task_sets = {
        id(record): TaskSet.model_validate(record.task_set)
        for _, records in files
        for record in records
    }
    diseases = {d for ts in task_sets.values() for d in _diseases_of(ts)}
    guard = HeldOutDiseases.load(sets_dir, also=diseases, names=names)
    data = StudentData(train=[], val=[], report=report)
    for _, records in files:
        for record in records:
            task_set = task_sets[id(record)]
            if task_set.split in TRAIN_SPLITS:
                guard.check(task_set)
            example, reasons = _example_of(
                record, task_set, tokenizer, max_length, rationale_weight
            )
            if _count(report, record, example, reasons):
                assert example is not None
                (data.train if example.split == "train" else data.val).append(example)
    return data


def _example_of(
    record: TrajectoryRecord,
    task_set: TaskSet,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    rationale_weight: float,
) -> tuple[EncodedExample | None, list[str]]:
    """The record's encoded example (None when it cannot be built) and every failed check.

    A record is encoded whenever it has an answer and evidence, even when a check fails, so
    the report can tell what the other citation rule would keep and how long prompts are.
    """
    if record.status != "ok" or record.answer is None:
        return None, ["failed"]
    if record.abstained:
        return None, ["abstained"]
    reasons = []
    if not record.label_known:
        reasons.append("label_unknown")
    if record.split not in TRAIN_SPLITS:
        reasons.append("held_out_split")
    if not record.evidence_text:
        return None, [*reasons, "no_evidence"]
    prompt = student_prompt(tokenizer, task_set, record.evidence_text)
    if record.context.get("choice_only"):
        return _encoded(record, task_set, tokenizer, prompt, max_length, reasons), reasons
    answer: FinalAnswer = record.answer
    invalid = citations_invalid(record)
    if invalid:
        reasons.append("invalid_citations")
        cleaned = cleaned_answer(record)
        if cleaned is None:  # cannot be cleaned: no recorded bundle
            return None, reasons
        answer = cleaned
    if not record.rationalized and record.choice_id != task_set.answer.id:
        reasons.append("wrong_choice")
    completion = student_completion(tokenizer, answer, task_set)
    example = _encoded(
        record, task_set, tokenizer, prompt, max_length, reasons, completion, rationale_weight
    )
    example.cleaned = invalid
    return example, reasons


def _encoded(
    record: TrajectoryRecord,
    task_set: TaskSet,
    tokenizer: PreTrainedTokenizerBase,
    prompt: str,
    max_length: int,
    reasons: list[str],
    completion: str | None = None,
    rationale_weight: float = 0.0,
) -> EncodedExample:
    """Encode ``prompt + completion`` (a selection-only one when ``completion`` is None)."""
    selection_only = completion is None
    completion = selection_completion(task_set) if completion is None else completion
    ids, labels, weights, n_prompt, n_choice = encode_example(
        tokenizer, prompt, completion, rationale_weight
    )
    if len(ids) > max_length:
        reasons.append("too_long")
    return EncodedExample(
        set_id=task_set.set_id,
        split=record.split,
        task_set=task_set,
        prompt=prompt,
        completion=completion,
        input_ids=ids,
        labels=labels,
        weights=weights,
        n_prompt=n_prompt,
        n_choice=n_choice,
        rationalized=record.rationalized,
        selection_only=selection_only,
    )


def _count(
    report: DataReport,
    record: TrajectoryRecord,
    example: EncodedExample | None,
    reasons: list[str],
) -> bool:
    """Add one record's outcome to the report; True when it is kept."""
    report.prompt_versions[record.prompt_version] += 1
    report.teacher_models[record.model] += 1
    report.modes[record.mode] += 1
    if record.evidence is not None:
        report.bundle_versions[record.evidence.version] += 1
    if example is not None:
        report.prompt_tokens.append(example.n_prompt)
        report.completion_tokens.append(example.n_tokens - example.n_prompt)
    waived = {"invalid_citations"} if report.keep_cleaned else set()
    failing = [reason for reason in reasons if reason not in waived]
    if example is not None and not reasons:
        report.kept_strict[example.split] += 1
    if example is not None and all(reason == "invalid_citations" for reason in reasons):
        report.kept_with_cleaned[example.split] += 1
    if failing or example is None:
        report.dropped[failing[0] if failing else reasons[0]] += 1
        return False
    report.kept[example.split] += 1
    report.rationalized += example.rationalized
    report.kept_cleaned += example.cleaned
    if example.selection_only:
        report.selection_only[example.split] += 1
    elif not _citations_of(example):
        report.without_citations += 1
    return True


def _citations_of(example: EncodedExample) -> str:
    """The text of the completion's ``Citations:`` line."""
    prefix = f"{CITATIONS_LABEL}:"
    for line in example.completion.splitlines():
        if line.startswith(prefix):
            return line.removeprefix(prefix).strip()
    return ""


def _summary(values: Sequence[int]) -> dict[str, Any]:
    """min, median, mean, max of token counts ({} for none)."""
    if not values:
        return {}
    return {
        "n": len(values),
        "min": min(values),
        "median": statistics.median(values),
        "mean": round(statistics.fmean(values), 1),
        "max": max(values),
    }
