"""The citation check on fixed inputs: only IDs the evidence shows verify."""

from __future__ import annotations

from evidence.citations import ShownEvidence, verify_citations

SHOWN = ShownEvidence.of(
    [
        (
            "- TARGETS PRKAB1 (Gene::5564) [DRUGBANK] PMID:12890675\n- 3 passages of 12 hits",
            [("Compound::DB00331", "TARGETS", "Gene::5564")],
        ),
        ("- [NCT:NCT00000172 | CT | 2001] a trial", []),
    ]
)


def test_ids_and_edges_shown_verify() -> None:
    assert SHOWN.verifies("Gene::5564")
    assert SHOWN.verifies("PMID:12890675")
    assert SHOWN.verifies("NCT:NCT00000172")
    assert SHOWN.verifies("Compound::DB00331 -TARGETS-> Gene::5564")
    assert SHOWN.verifies("Gene::5564 — Compound::DB00331"), "an edge cited either way round"


def test_what_is_not_an_id_shown_never_verifies() -> None:
    assert not SHOWN.verifies("PMID:99999999")
    assert not SHOWN.verifies("Compound::DB00331 -TREATS-> Gene::5564"), "wrong edge type"
    assert not SHOWN.verifies("12"), "a number that occurs in the text is not a citation"
    assert not SHOWN.verifies("a trial"), "nor is a phrase"
    assert not SHOWN.verifies("")


def test_verify_citations_counts_and_strips() -> None:
    verified, texts, check = verify_citations(
        ["gene::5564", "Gene::5564", "pmid 12890675", "1, 2, 3", "PMID 1"],
        ["AMPK (Gene::5564; PMID:1) helps.", "See NCT00000172."],
        SHOWN,
    )
    assert verified == ["Gene::5564", "PMID:12890675"]  # normalised, no repeats
    assert check.verified == verified
    assert check.removed == ["gene::5564", "1, 2, 3", "PMID:1"], "IDs are case-sensitive"
    assert texts[0] == "AMPK (Gene::5564) helps." and texts[1] == "See NCT00000172."
    assert check.precision == len(check.verified) / (len(check.verified) + len(check.removed))


def test_nothing_cited_has_no_precision() -> None:
    _, _, check = verify_citations([], ["no ids"], SHOWN)
    assert check.verified == [] and check.removed == [] and check.precision is None
