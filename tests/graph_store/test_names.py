"""Entity names from the real vocabularies."""

from __future__ import annotations

import pytest

from graph_store.names import NameIndex, split_entity_id
from kedrec.errors import DataFormatError


@pytest.mark.parametrize(
    ("entity_id", "name", "source"),
    [
        ("Compound::DB00945", "Acetylsalicylic acid", "DrugBank"),
        ("Compound::DB00331", "Metformin", "DrugBank"),
        ("Gene::1017", "CDK2", "Hetionet"),
        ("Disease::DOID:9352", "type 2 diabetes mellitus", "Disease Ontology"),
        ("Disease::MESH:D008175", "Lung Neoplasms", "MeSH"),
        ("Disease::MESH:C538339", "Nasopharyngeal carcinoma", "MeSH SCR"),
        ("Disease::OMIM:202110", "17,20-lyase deficiency, isolated", "OMIM"),
        ("Side Effect::C0235896", "Lung infiltration", "Hetionet"),
    ],
)
def test_real_ids_get_real_names(names: NameIndex, entity_id: str, name: str, source: str) -> None:
    found = names.get(entity_id)
    assert found is not None
    assert (found.name, found.source) == (name, source)


def test_synonyms_and_do_mesh_cross_links(names: NameIndex) -> None:
    aspirin = names.get("Compound::DB00945")
    assert aspirin is not None and "Aspirin" in aspirin.synonyms
    lung_cancer = names.get("Disease::DOID:1324")
    assert lung_cancer is not None and "Lung Neoplasms" in lung_cancer.synonyms
    neoplasms = names.get("Disease::MESH:D008175")
    assert neoplasms is not None and "lung cancer" in neoplasms.synonyms


def test_unnamed_entities_keep_their_id(names: NameIndex) -> None:
    assert names.get("Atc::H05AA") is None
    assert names.name_of("Atc::H05AA") == "H05AA"
    assert names.name_of("Gene::") == "Gene::"


def test_bad_entity_id_is_a_clear_error() -> None:
    with pytest.raises(DataFormatError, match="Type::id"):
        split_entity_id("DB00945")
