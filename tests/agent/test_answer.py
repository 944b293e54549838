"""Final-answer parsing and repair, the citation check and the prompt templates (pure logic)."""

from __future__ import annotations

import json

import pytest

from agent.answer import AnswerFormatError, extract_json, parse_final_answer
from agent.citations import check_citations
from agent.prompts import (
    DOMAIN_QUESTIONS,
    FINAL_ANSWER_PROMPT,
    QUESTION_IDS,
    SYSTEM_PROMPT,
    Prompt,
    PromptInputError,
    render_final_answer,
    render_system,
)
from agent.records import INSUFFICIENT, DomainAnswer, FinalAnswer, ToolCallRecord
from agent.state import AgentTask
from evidence.ids import find_ids, normalise
from tasks.task_sets import NamedEntity

METFORMIN = NamedEntity(id="Compound::DB00331", name="Metformin")
CARVEDILOL = NamedEntity(id="Compound::DB01136", name="Carvedilol")
CANDIDATES = [METFORMIN, CARVEDILOL]
TASK = AgentTask(
    disease=NamedEntity(id="Disease::DOID:9352", name="type 2 diabetes mellitus"),
    candidates=CANDIDATES,
)

VALID = {
    "choice": "Compound::DB00331",
    "confidence": 0.8,
    "answers": {"mechanism": "AMPK activation via Gene::5564", "comparison": "metformin"},
    "rationale": "Metformin targets PRKAB1 (Gene::5564).",
    "citations": ["Gene::5564", "PMID:12890675"],
}


def test_parse_valid_json() -> None:
    answer = parse_final_answer(json.dumps(VALID), CANDIDATES)
    assert answer.choice == METFORMIN.id
    assert answer.confidence == 0.8
    assert [a.question_id for a in answer.answers] == ["mechanism", "comparison"]
    assert answer.citations == ["Gene::5564", "PMID:12890675"]


def test_parse_repairs_prose_fences_trailing_commas_and_names() -> None:
    body = json.dumps({**VALID, "choice": "metformin", "confidence": "75%"})[:-1] + ",}"
    text = f"Sure! Here is my answer:\n```json\n{body}\n```\nHope that helps."
    answer = parse_final_answer(text, CANDIDATES)
    assert answer.choice == METFORMIN.id
    assert answer.confidence == 0.75


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("DB01136", CARVEDILOL.id),
        ("B", CARVEDILOL.id),
        ("Carvedilol (Compound::DB01136)", CARVEDILOL.id),
        ("Insufficient evidence", INSUFFICIENT),
    ],
)
def test_parse_coerces_choice(choice: str, expected: str) -> None:
    answer = parse_final_answer(json.dumps({**VALID, "choice": choice}), CANDIDATES)
    assert answer.choice == expected


def test_parse_accepts_python_literals_and_answer_lists() -> None:
    text = (
        "{'choice': 'Metformin', 'confidence': 90, 'rationale': 'ok', "
        "'answers': [{'id': 'safety', 'answer': 'lactic acidosis'}], "
        "'citations': 'PMID:1, NCT01234567'}"
    )
    answer = parse_final_answer(text, CANDIDATES)
    assert answer.confidence == 0.9
    assert answer.answers == [DomainAnswer(question_id="safety", answer="lactic acidosis")]
    assert answer.citations == ["PMID:1", "NCT01234567"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("I think metformin is better.", "no JSON object"),
        (json.dumps({**VALID, "choice": "aspirin"}), "is not a candidate"),
        (json.dumps({**VALID, "confidence": 3000}), "not a number from 0 to 1"),
        (json.dumps({k: v for k, v in VALID.items() if k != "rationale"}), "rationale"),
        (json.dumps({k: v for k, v in VALID.items() if k != "confidence"}), "confidence"),
    ],
)
def test_parse_rejects_unusable_answers(text: str, reason: str) -> None:
    with pytest.raises(AnswerFormatError, match=reason):
        parse_final_answer(text, CANDIDATES)


def test_extract_json_prefers_the_answer_object() -> None:
    text = 'Args were {"drug": "x"}; answer: {"choice": "A", "nested": {"a": "}"}}'
    assert extract_json(text)["choice"] == "A"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("PMID 123456", "PMID:123456"),
        ("pmid:123456", "PMID:123456"),
        ("PMC1569640", "PMC:PMC1569640"),
        ("PMCID: PMC1569640", "PMC:PMC1569640"),
        ("NCT01234567", "NCT:NCT01234567"),
        ("nct:NCT01234567", "NCT:NCT01234567"),
        ("Compound::DB00331.", "Compound::DB00331"),
        ("Side Effect::C0000737", "Side Effect::C0000737"),
    ],
)
def test_citation_forms_are_normalised(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


def _record(result: str, edges: list[tuple[str, str, str]] | None = None) -> ToolCallRecord:
    return ToolCallRecord(
        step=1, tool="t", arguments={}, result=result, latency_ms=1.0, edges=edges or []
    )


def test_check_citations_keeps_returned_ids_and_removes_invented_ones() -> None:
    records = [
        _record(
            '{"gene_id":"Gene::5564","pmids":["PMID:12890675"]}',
            [("Compound::DB00331", "TARGETS", "Gene::5564")],
        ),
        _record("[NCT:NCT00000172 | CT | 2001 | score 0.5] a trial"),
        _record("Error: PMID:11111111 unknown", None).model_copy(update={"error": "x"}),
    ]
    answer = FinalAnswer(
        choice=METFORMIN.id,
        confidence=0.7,
        answers=[
            DomainAnswer(question_id="literature", answer="See PMID:99999999 and NCT00000172.")
        ],
        rationale="Metformin activates AMPK (Gene::5564; PMID 99999999).",
        citations=[
            "Gene::5564",
            "pmid 12890675",
            "NCT00000172",
            "Compound::DB00331 -TARGETS-> Gene::5564",
            "Compound::DB00331 -TREATS-> Disease::DOID:9352",
            "PMID:99999999",
            "PMID:11111111",
        ],
    )
    cleaned, check = check_citations(answer, records)
    assert check.verified == [
        "Gene::5564",
        "PMID:12890675",
        "NCT:NCT00000172",
        "Compound::DB00331 -TARGETS-> Gene::5564",
    ]
    assert check.removed == [
        "Compound::DB00331 -TREATS-> Disease::DOID:9352",
        "PMID:99999999",
        "PMID:11111111",
    ]
    assert cleaned.citations == check.verified
    assert "99999999" not in cleaned.rationale and "Gene::5564" in cleaned.rationale
    assert cleaned.rationale == "Metformin activates AMPK (Gene::5564)."
    assert "99999999" not in cleaned.answers[0].answer


def test_find_ids_does_not_double_count_nested_forms() -> None:
    assert [found for *_, found in find_ids("PMC:PMC123 and NCT:NCT00000172")] == [
        "PMC:PMC123",
        "NCT:NCT00000172",
    ]


def test_prompt_placeholders_are_validated() -> None:
    with pytest.raises(PromptInputError, match="placeholders"):
        Prompt("bad", "Hello {name} {other}", frozenset({"name"}))
    with pytest.raises(PromptInputError, match="missing inputs \\['max_steps'\\]"):
        SYSTEM_PROMPT.format(task="t", questions="q")
    with pytest.raises(PromptInputError, match="unknown inputs \\['extra'\\]"):
        FINAL_ANSWER_PROMPT.format(note="", choices="", answer_keys="", question_ids="", extra=1)


def test_rendered_prompts_name_the_task_and_every_question() -> None:
    system = render_system(TASK, max_steps=5)
    assert "type 2 diabetes mellitus (Disease::DOID:9352)" in system
    assert "A. Metformin (Compound::DB00331)" in system
    assert all(f"- {q.id}:" in system for q in DOMAIN_QUESTIONS)
    final = render_final_answer(TASK, step_limit_reached=True)
    assert '"Compound::DB00331", "Compound::DB01136"' in final
    assert "could not finish" in final
    assert QUESTION_IDS == ("mechanism", "clinical", "literature", "safety", "comparison")
