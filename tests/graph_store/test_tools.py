"""The graph tools on known real cases from the DRKG slice, with and without masking."""

from __future__ import annotations

import pytest

from graph_store.masking import COMPOUND_DISEASE_TYPES, HiddenPairs
from graph_store.tools import GraphTools, lucene_query
from kedrec.errors import EntityNotFoundError, GraphToolError

pytestmark = pytest.mark.neo4j

METFORMIN = "Compound::DB00331"
T2D = "Disease::DOID:9352"
CARVEDILOL = "Compound::DB01136"
HYPERTENSION = "Disease::DOID:10763"


@pytest.fixture(scope="module")
def tools(driver, settings, loaded_graph) -> GraphTools:  # type: ignore[no-untyped-def]
    return GraphTools.from_settings(driver, settings.neo4j)


def test_resolve_by_name_synonym_typo_and_id(tools: GraphTools) -> None:
    assert tools.resolve_entity("Metformin", kinds=["Compound"])[0].id == METFORMIN
    assert tools.resolve_entity("metformn", kinds=["Compound"])[0].id == METFORMIN  # fuzzy
    aspirin = tools.resolve_entity("aspirin", kinds=["Compound"])[0]
    assert aspirin.id == "Compound::DB00945" and aspirin.matched_on == "synonym"
    assert tools.resolve_entity("DB00331")[0].matched_on == "id"
    t2d = tools.resolve_entity("type 2 diabetes mellitus", kinds=["Disease"])
    assert t2d[0].id == T2D and t2d[0].matched_on == "name"
    assert all(match.kind == "Disease" for match in t2d)


def test_resolve_escapes_lucene_syntax(tools: GraphTools) -> None:
    assert "\\(" in lucene_query("insulin (human)")
    tools.resolve_entity('insulin (human) AND "x" OR ~*')  # must not raise a Lucene error


def test_unknown_names_are_clear_errors(tools: GraphTools) -> None:
    with pytest.raises(EntityNotFoundError, match="no Compound matches 'zzqxvw'"):
        tools.drug_profile("zzqxvw")
    with pytest.raises(GraphToolError, match="empty name"):
        tools.resolve_entity("   ")


def test_drug_profile_lists_drugbank_targets_with_provenance(tools: GraphTools) -> None:
    profile = tools.drug_profile("metformin")
    assert profile.id == METFORMIN
    targets = {(g.gene, g.role, g.source) for g in profile.genes}
    assert ("PRKAB1", "TARGETS", "DRUGBANK") in targets
    prkab1 = next(g for g in profile.genes if g.gene == "PRKAB1")
    assert prkab1.actions == ["inducer", "activator"] and prkab1.pmids
    assert profile.genes[0].role == "TARGETS"  # curated targets first
    assert any(i.id == T2D and i.type == "TREATS" for i in profile.indications)


def test_disease_profile_has_genes_symptoms_and_related(tools: GraphTools) -> None:
    profile = tools.disease_profile(HYPERTENSION, limit=500)
    assert profile.name == "hypertension"
    assert profile.gene_count > 500 and len(profile.genes) == 500  # capped at the limit
    sizes = [len(gene.edges) for gene in profile.genes]
    assert sizes == sorted(sizes, reverse=True)
    assert all(edge.source == "Hetionet" for gene in profile.genes for edge in gene.edges)
    assert profile.symptoms or profile.related_diseases


def test_direct_edges_hetionet_ctd_pair(tools: GraphTools) -> None:
    edges = tools.direct_edges("metformin", "type 2 diabetes mellitus")
    assert [(e.type, e.relation, e.source) for e in edges] == [
        ("TREATS", "Hetionet::CtD::Compound:Disease", "Hetionet")
    ]
    assert edges[0].drug_is_head


def test_mechanism_paths_find_shared_genes(tools: GraphTools) -> None:
    paths = tools.mechanism_paths(CARVEDILOL, HYPERTENSION, limit=50)
    genes = {gene.gene for gene in paths.shared_genes}
    assert {"ADRB2", "ADRA1A"} <= genes
    top = paths.shared_genes[0]
    assert top.drug_edges and top.disease_edges
    assert [g.support for g in paths.shared_genes] == sorted(
        (g.support for g in paths.shared_genes), reverse=True
    )


def test_candidate_drugs_ranked_by_curated_relevance(tools: GraphTools) -> None:
    candidates = tools.candidate_drugs(T2D, limit=100)
    assert METFORMIN in {c.id for c in candidates}
    scores = [c.relevance for c in candidates]
    assert scores == sorted(scores, reverse=True)
    assert all(edge.type in {"TREATS", "PALLIATES"} for c in candidates for edge in c.edges)


def test_similar_drugs_share_targets(tools: GraphTools) -> None:
    similar = tools.similar_drugs(CARVEDILOL, limit=10)
    assert similar and all(s.n_shared >= 1 and 0 < s.jaccard <= 1 for s in similar)
    assert CARVEDILOL not in {s.id for s in similar}
    assert [s.jaccard for s in similar] == sorted((s.jaccard for s in similar), reverse=True)


def test_masking_hides_exactly_the_hidden_pair(tools: GraphTools) -> None:
    hidden = tools.with_hidden(HiddenPairs.of([(METFORMIN, T2D)]))
    assert hidden.direct_edges(METFORMIN, T2D) == []
    assert METFORMIN not in {c.id for c in hidden.candidate_drugs(T2D, limit=500)}
    assert T2D not in {i.id for i in hidden.drug_profile(METFORMIN, limit=500).indications}
    # everything else stays visible
    assert tools.direct_edges(METFORMIN, T2D)
    visible = {c.id for c in tools.candidate_drugs(T2D, limit=500)} - {METFORMIN}
    assert visible == {c.id for c in hidden.candidate_drugs(T2D, limit=500)}
    assert hidden.direct_edges(CARVEDILOL, HYPERTENSION)
    # free-form Cypher cannot reach Compound–Disease edges while pairs are hidden
    for query in (
        "MATCH (c:Compound {id: $c})-[r]-(d:Disease {id: $d}) RETURN r",
        "MATCH (c:Compound {id: $c})-[r:TREATS]->(d) RETURN d.id",
        "MATCH p = (c:Compound {id: $c})-[*1..3]-(d:Disease {id: $d}) RETURN p LIMIT 1",
        "MATCH (c:Compound {id: $c}) RETURN COUNT { (c)-[:TREATS|PALLIATES]->() } AS n",
        "MATCH (c:Compound {id: $c}) RETURN EXISTS { (c)-->(:Disease {id: $d}) } AS e",
        "MATCH ()-[r:PALLIATES]->() RETURN count(r)",
        "MATCH ()-[r]->() RETURN count(r)",
    ):
        result = hidden.run_cypher(query, {"c": METFORMIN, "d": T2D})
        assert result.error and "masking" in result.error, query
    ok = hidden.run_cypher(
        "MATCH (c:Compound {id: $c})-[:TARGETS]->(g) RETURN g.name", {"c": METFORMIN}
    )
    assert ok.ok and {"PRKAB1"} <= {row["g.name"] for row in ok.rows}
    assert "TREATS" in COMPOUND_DISEASE_TYPES and "TARGETS" not in COMPOUND_DISEASE_TYPES


def test_hidden_pairs_validate_ids() -> None:
    with pytest.raises(ValueError, match="Compound::"):
        HiddenPairs.of([("Disease::DOID:1", "Compound::DB1")])


def test_schema_text_lists_labels_and_relationship_patterns(settings, loaded_graph) -> None:  # type: ignore[no-untyped-def]
    from graph_store.schema_text import graph_schema_text

    text = graph_schema_text(settings.neo4j)
    assert "Compound" in text and "Disease" in text
    assert "(:Compound)-[:TREATS]->(:Disease)" in text
    assert "(:Compound)-[:TARGETS]->(:Gene)" in text
