"""Literature evidence: PubMed, PubMed Central and ClinicalTrials.gov, indexed in LanceDB."""
