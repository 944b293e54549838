"""Trajectory records → examples: the student's prompt, the loss weights, drops, leakage."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.plan_answer import plan_messages, plan_turns
from agent.trajectory import TrajectoryRecord
from distill.data import DROP_REASONS, IGNORE_INDEX, build_examples
from distill.prompting import end_of_turn, student_prompt, student_turns
from kedrec.errors import DataFormatError, LeakageError
from llm.choice import render_prompt
from tasks.task_sets import TaskSet
from tests.distill.conftest import RecordFactory, layout_reply, write_records

LAMBDA = 0.25


def build(paths: list[Path], tokenizer, sets_dir: Path, names, **kwargs):  # type: ignore[no-untyped-def]
    options = {"max_length": 8192, "rationale_weight": LAMBDA, **kwargs}
    return build_examples(paths, tokenizer, sets_dir=sets_dir, names=names, **options)


def test_the_prompt_of_an_example_is_the_student_prompt(
    trajectory_file: Path, smollm2_tokenizer, sets_dir: Path, names, good_records
) -> None:
    data = build([trajectory_file], smollm2_tokenizer, sets_dir, names)
    assert [e.set_id for e in data.train] == [r.set_id for r in good_records[:4]]
    assert [e.set_id for e in data.val] == [r.set_id for r in good_records[4:]]
    for example, record in zip(data.train + data.val, good_records, strict=True):
        task_set = TaskSet.model_validate(record.task_set)
        expected = student_prompt(smollm2_tokenizer, task_set, record.evidence_text)
        assert example.prompt == expected
        # what plan mode renders for a local model, byte for byte
        turns = plan_turns(plan_messages(task_set, record.evidence_text, False))
        assert student_turns(task_set, record.evidence_text) == turns
        assert expected == render_prompt(smollm2_tokenizer, turns, "")
        assert record.evidence_text in expected and "relevant drug for this disease" not in expected
        assert expected.endswith("<|im_start|>assistant\n")
        assert example.completion.startswith(f"Choice: {task_set.answer.name}\nMechanism: ")
        assert example.completion.endswith("<|im_end|>") and end_of_turn(smollm2_tokenizer) == (
            "<|im_end|>"
        )
        text = smollm2_tokenizer.decode(example.input_ids)
        assert text == example.prompt + example.completion


def test_per_token_weights_make_eq8_name_loglik_plus_lambda_rest_mean(
    trajectory_file: Path, smollm2_tokenizer, sets_dir: Path, names
) -> None:
    data = build([trajectory_file], smollm2_tokenizer, sets_dir, names)
    tokenizer = smollm2_tokenizer
    for example in data.train + data.val:
        prompt_ids = tokenizer(example.prompt, add_special_tokens=False)["input_ids"]
        n = len(prompt_ids)
        assert example.n_prompt == n and example.input_ids[:n] == prompt_ids
        assert example.labels[:n] == [IGNORE_INDEX] * n and example.weights[:n] == [0.0] * n
        completion = example.input_ids[n:]
        assert example.labels[n:] == completion, "labels are the completion's ids (unshifted)"
        weights = example.weights[n:]
        n_choice = example.n_choice
        n_rest = len(completion) - n_choice
        one_of_rest = LAMBDA / n_rest
        assert one_of_rest != 1.0, "the test needs the two weights to differ"
        ones = [i for i, w in enumerate(weights) if w == 1.0]
        choice = [completion[i] for i in ones]
        # the name with the prefix's space merged into its first token, then the newline
        assert tokenizer.decode(choice) == f" {example.task_set.answer.name}\n"
        assert ones == list(range(2, 2 + n_choice)), "'Choice' and ':', then one span"
        assert all(w == one_of_rest for i, w in enumerate(weights) if i not in ones)
        assert tokenizer.decode(completion[-1:]) == "<|im_end|>" and weights[-1] == one_of_rest
        # Eq. 8: −log p(name) (every name token once) + λ × the rationale's mean, any length
        assert sum(weights) == pytest.approx(n_choice + LAMBDA)
        assert not example.selection_only


def test_choice_only_records_make_selection_only_examples(
    graph_tools,
    bundles,
    real_sets: dict[str, list[TaskSet]],
    tiny_base: Path,
    smollm2_tokenizer,
    sets_dir: Path,
    names,
    tmp_path: Path,
) -> None:
    """A choice-only record (bundle + label, no rationale) teaches the choice alone: its
    completion is ``Choice: <label>\n`` with no end-of-turn, whatever the teacher chose."""
    from agent.plan import run_plan
    from agent.trajectory import build_record
    from evidence.bundle import render_bundle
    from llm.local_model import LocalChatModel
    from tests.distill.conftest import context

    model = LocalChatModel(model_path=str(tiny_base), model_name="tiny")
    records = []
    for task_set, rationalize in ((real_sets["train"][0], True), (real_sets["val"][0], False)):
        ctx = context(rationalize=rationalize, choice_only=True, max_answer_retries=0)
        bundle = bundles[task_set.set_id]
        run = run_plan(task_set, context=ctx, graph_tools=graph_tools, model=model, bundle=bundle)
        assert run.status == "ok" and run.answer is not None and run.answer.rationale == ""
        records.append(
            build_record(
                task_set, run, context=ctx, evidence=bundle, evidence_text=render_bundle(bundle)
            )
        )
    path = write_records(records, tmp_path / "choice-only.jsonl")
    data = build([path], smollm2_tokenizer, sets_dir, names)
    assert data.report.kept == {"train": 1, "val": 1}
    assert data.report.selection_only == {"train": 1, "val": 1}
    for example, record in zip(data.train + data.val, records, strict=True):
        task_set = TaskSet.model_validate(record.task_set)
        assert example.selection_only and example.prompt == student_prompt(
            smollm2_tokenizer, task_set, record.evidence_text
        )
        assert example.completion == f"Choice: {task_set.answer.name}\n"
        completion_weights = example.weights[example.n_prompt :]
        assert completion_weights[:2] == [0.0, 0.0], "'Choice' and ':' are not learnt"
        assert completion_weights[2:] == [1.0] * example.n_choice
        text = smollm2_tokenizer.decode(example.input_ids)
        assert text == example.prompt + example.completion and "<|im_end|>" not in (
            example.completion
        )


def test_every_drop_is_counted_by_reason(
    make_record: RecordFactory,
    real_sets: dict[str, list[TaskSet]],
    good_records: list[TrajectoryRecord],
    smollm2_tokenizer,
    sets_dir: Path,
    names,
    tmp_path: Path,
) -> None:
    train, val, test = real_sets["train"], real_sets["val"], real_sets["test"]
    first = train[0]
    adhoc = train[1].model_copy(update={"set_id": "adhoc-0123456789ab"})
    records = [
        make_record(first, first.distractor.name),  # superseded by the good record below
        good_records[0],
        make_record(train[1], reply=None),  # failed
        make_record(train[2], reply=layout_reply("insufficient evidence")),  # abstained
        make_record(train[3], train[3].distractor.name),  # wrong choice
        make_record(val[0], None, val[0].answer.id, "PMID:99999999"),  # invented citation
        make_record(val[1], evidence=False),  # no evidence
        make_record(test[0]),  # a test set
        make_record(adhoc, label_known=False),  # an ad-hoc set (recommend)
    ]
    path = write_records(records, tmp_path / "mixed.jsonl")
    other = write_records(
        [make_record(train[2], train[2].distractor.name, rationalize=True)],  # told the label
        tmp_path / "rationalized.jsonl",
    )
    data = build([path, other], smollm2_tokenizer, sets_dir, names)
    report = data.report
    assert report.records == 10
    assert dict(report.dropped) == {
        "superseded": 1,
        "failed": 1,
        "abstained": 1,
        "wrong_choice": 1,
        "invalid_citations": 1,
        "no_evidence": 1,
        "held_out_split": 1,
        "label_unknown": 1,
    }
    assert report.kept == {"train": 2}
    assert [e.set_id for e in data.train] == [first.set_id, train[2].set_id]
    assert data.train[1].rationalized and data.train[1].completion.startswith(
        f"Choice: {train[2].answer.name}\n"
    ), "a rationalized record is kept, its choice is the label"
    assert report.kept_strict == {"train": 2} and report.kept_with_cleaned == {"train": 2, "val": 1}
    assert set(report.as_dict()["dropped"]) == set(DROP_REASONS)
    table = report.table()
    assert table.row_count == 2 + len(DROP_REASONS) + 2

    cleaned = build([path, other], smollm2_tokenizer, sets_dir, names, keep_cleaned=True)
    assert cleaned.report.kept == {"train": 2, "val": 1} and cleaned.report.kept_cleaned == 1
    assert "invalid_citations" not in +cleaned.report.dropped
    (example,) = cleaned.val
    assert "99999999" not in example.completion and val[0].answer.id in example.completion

    short = build([path, other], smollm2_tokenizer, sets_dir, names, max_length=1024)
    assert short.report.dropped["too_long"] == 2 and not short.train, "never truncated"
    assert min(short.report.prompt_tokens) > 1024


def test_a_test_disease_in_training_data_is_refused(
    make_record: RecordFactory,
    real_sets: dict[str, list[TaskSet]],
    smollm2_tokenizer,
    sets_dir: Path,
    names,
    tmp_path: Path,
) -> None:
    (held,) = real_sets["test"]
    assert held.disease.id == "Disease::DOID:10534"  # stomach cancer
    leaked = held.model_copy(update={"split": "train", "set_id": "crafted-leak"})
    path = write_records([make_record(leaked)], tmp_path / "leak.jsonl")
    with pytest.raises(LeakageError) as caught:
        build([path], smollm2_tokenizer, sets_dir, names)
    message = str(caught.value)
    assert "\n" not in message
    assert "train set crafted-leak is about Disease::DOID:10534, a test disease" in message
    assert "set drkg-0389bde505d6" in message and "--sets" in message

    # the same disease under its MeSH ID, and a held-out set that never names that ID:
    # the disease groups (DO -> MeSH cross-references) still join them
    mesh = "Disease::MESH:D013274"
    only_doid = held.model_copy(
        update={"hidden_pairs": [p for p in held.hidden_pairs if p[1] != mesh]}
    )
    other_dir = tmp_path / "sets"
    other_dir.mkdir()
    (other_dir / "test.jsonl").write_text(only_doid.model_dump_json() + "\n")
    twin = real_sets["train"][0].model_copy(
        update={
            "disease": held.disease.model_copy(update={"id": mesh}),
            "hidden_pairs": [(c.id, mesh) for c in real_sets["train"][0].candidates],
        }
    )
    record = make_record(real_sets["train"][0]).model_copy(
        update={"task_set": twin.model_dump(mode="json")}
    )
    path = write_records([record], tmp_path / "twin.jsonl")
    with pytest.raises(LeakageError, match="about Disease::MESH:D013274, a test disease"):
        build([path], smollm2_tokenizer, other_dir, names)


def test_an_imported_benchmark_file_holds_its_diseases_out(
    make_record: RecordFactory,
    real_sets: dict[str, list[TaskSet]],
    smollm2_tokenizer,
    names,
    tmp_path: Path,
) -> None:
    # a build whose only held-out sets are a --benchmark-file's (benchmark-<source>.jsonl)
    (held,) = real_sets["test"]
    imported = held.model_copy(update={"split": "benchmark", "set_id": "mimic-0001"})
    folder = tmp_path / "sets"
    folder.mkdir()
    (folder / "benchmark-mimic-iii.jsonl").write_text(imported.model_dump_json() + "\n")
    leaked = held.model_copy(update={"split": "train", "set_id": "crafted-leak"})
    path = write_records([make_record(leaked)], tmp_path / "leak.jsonl")
    with pytest.raises(LeakageError, match=r"a benchmark disease .*set mimic-0001"):
        build([path], smollm2_tokenizer, folder, names)


def test_a_sets_folder_without_held_out_sets_is_refused(
    trajectory_file: Path, smollm2_tokenizer, names, tmp_path: Path
) -> None:
    with pytest.raises(DataFormatError, match=r"no test\.jsonl or benchmark\.jsonl"):
        build([trajectory_file], smollm2_tokenizer, tmp_path, names)


def test_a_malformed_trajectory_line_names_file_and_line(
    trajectory_file: Path, smollm2_tokenizer, sets_dir: Path, names, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text(trajectory_file.read_text() + '{"status": "ok", "cut')
    with pytest.raises(DataFormatError, match=r"broken.jsonl:7: not a trajectory record"):
        build([broken], smollm2_tokenizer, sets_dir, names)
