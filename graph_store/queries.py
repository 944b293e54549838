"""Parameterised Cypher behind the graph tools (constants; values only ever via ``$params``).

Every query that can return a direct Compound–Disease edge filters it with
``NOT [c.id, d.id] IN $hidden`` so evaluation masking happens inside the database.
"""

RESOLVE_BY_ID = """
MATCH (n:Entity) WHERE n.id IN $ids AND ($kinds IS NULL OR n.kind IN $kinds)
RETURN n.id AS id, n.name AS name, n.kind AS kind, coalesce(n.synonyms, []) AS synonyms,
       100.0 AS score
LIMIT $limit
"""

RESOLVE_FULLTEXT = """
CALL db.index.fulltext.queryNodes('entity_names', $lucene, {limit: $candidates})
YIELD node, score
WHERE $kinds IS NULL OR node.kind IN $kinds
RETURN node.id AS id, node.name AS name, node.kind AS kind,
       coalesce(node.synonyms, []) AS synonyms, score
LIMIT $candidates
"""

DRUG_PROFILE = """
MATCH (c:Entity {id: $drug})
CALL (c) {
  MATCH (c)-[r:TARGETS|METABOLIZED_BY|CARRIED_BY|TRANSPORTED_BY|BINDS|AGONIZES|ANTAGONIZES
             |INHIBITS|UPREGULATES|DOWNREGULATES]->(g:Gene)
  WITH r, g
  ORDER BY CASE r.source WHEN 'GNBR' THEN 1 ELSE 0 END,
           CASE type(r) WHEN 'TARGETS' THEN 0 ELSE 1 END, g.name
  RETURN collect({role: type(r), gene_id: g.id, gene: g.name, relation: r.relation,
                  source: r.source, known_action: r.known_action, actions: r.actions,
                  pmids: r.pmids})[..$limit] AS genes
}
CALL (c) {
  OPTIONAL MATCH (pc:PharmacologicClass)-[r:INCLUDES]->(c)
  RETURN [x IN collect(DISTINCT {id: pc.id, name: pc.name, source: r.source})
          WHERE x.id IS NOT NULL] AS pharmacologic_classes
}
CALL (c) {
  OPTIONAL MATCH (c)-[r:IN_ATC_CLASS]->(atc:Atc)
  RETURN [x IN collect(DISTINCT {id: atc.id, name: atc.name, source: r.source})
          WHERE x.id IS NOT NULL] AS atc_classes
}
CALL (c) {
  OPTIONAL MATCH (c)-[r:CAUSES]->(se:SideEffect)
  RETURN [x IN collect({id: se.id, name: se.name, source: r.source})[..$limit]
          WHERE x.id IS NOT NULL] AS side_effects
}
CALL (c) {
  OPTIONAL MATCH (c)-[r:TREATS|PALLIATES]->(d:Disease)
  WHERE NOT [c.id, d.id] IN $hidden
  RETURN [x IN collect({id: d.id, name: d.name, type: type(r), relation: r.relation,
                        source: r.source})[..$limit] WHERE x.id IS NOT NULL] AS indications
}
RETURN c.id AS id, c.name AS name, coalesce(c.synonyms, []) AS synonyms, genes,
       pharmacologic_classes + atc_classes AS classes, side_effects,
       indications
"""

DISEASE_PROFILE = """
MATCH (d:Entity {id: $disease})
CALL (d) {
  OPTIONAL MATCH (d)-[r:ASSOCIATES|UPREGULATES|DOWNREGULATES|CAUSAL_MUTATION
                     |ROLE_IN_PATHOGENESIS|PROMOTES_PROGRESSION|BIOMARKER|OVEREXPRESSED_IN
                     |POLYMORPHISM_ALTERS_RISK|DRUG_TARGET_FOR|IMPROPER_REGULATION_LINKED
                     |MUTATION_AFFECTS_COURSE|POSSIBLE_THERAPEUTIC_EFFECT]-(g:Gene)
  WITH g, collect({type: type(r), relation: r.relation, source: r.source}) AS edges
  WHERE g IS NOT NULL
  WITH g, edges ORDER BY size(edges) DESC, g.name
  RETURN collect({gene_id: g.id, gene: g.name, edges: edges})[..$limit] AS genes,
         count(g) AS gene_count
}
CALL (d) {
  OPTIONAL MATCH (d)-[r:PRESENTS]->(s:Symptom)
  RETURN [x IN collect({id: s.id, name: s.name, source: r.source})[..$limit]
          WHERE x.id IS NOT NULL] AS symptoms
}
CALL (d) {
  OPTIONAL MATCH (d)-[r:RESEMBLES]-(o:Disease)
  RETURN [x IN collect(DISTINCT {id: o.id, name: o.name, source: r.source})[..$limit]
          WHERE x.id IS NOT NULL] AS related_diseases
}
CALL (d) {
  OPTIONAL MATCH (d)-[r:LOCALIZES]->(a:Anatomy)
  RETURN [x IN collect({id: a.id, name: a.name})[..$limit] WHERE x.id IS NOT NULL] AS anatomy
}
RETURN d.id AS id, d.name AS name, coalesce(d.synonyms, []) AS synonyms, genes, gene_count,
       symptoms,
       related_diseases, anatomy
"""

DIRECT_EDGES = """
MATCH (c:Entity {id: $drug})-[r]-(d:Entity {id: $disease})
WHERE NOT [c.id, d.id] IN $hidden
RETURN type(r) AS type, r.relation AS relation, r.source AS source,
       startNode(r) = c AS drug_is_head
ORDER BY source, relation
"""

SHARED_GENES = """
MATCH (c:Entity {id: $drug})-[rc]->(g:Gene)
MATCH (d:Entity {id: $disease})-[rd]-(g)
WITH g, collect(DISTINCT {type: type(rc), relation: rc.relation, source: rc.source})
        AS drug_edges,
     collect(DISTINCT {type: type(rd), relation: rd.relation, source: rd.source})
        AS disease_edges
WITH g, drug_edges, disease_edges,
     reduce(s = 0.0, e IN drug_edges + disease_edges |
            s + CASE e.source WHEN 'GNBR' THEN 0.5 ELSE 1.0 END) AS support
RETURN g.id AS gene_id, g.name AS gene, drug_edges, disease_edges, support
ORDER BY support DESC, gene
LIMIT $limit
"""

GENE_GENE_PATHS = """
MATCH (c:Entity {id: $drug})-[rc]->(g1:Gene)
WITH c, g1, collect(rc)[0] AS rc
ORDER BY CASE rc.source WHEN 'GNBR' THEN 1 ELSE 0 END, g1.id
LIMIT $max_drug_genes
MATCH (d:Entity {id: $disease})-[rd]-(g2:Gene)
WITH c, g1, rc, collect(DISTINCT g2) AS disease_genes,
     collect(DISTINCT rd) AS disease_edges
MATCH (g1)-[rg]-(g2:Gene)
WHERE g2 IN disease_genes AND g1 <> g2
WITH g1, rc, g2, rg,
     [e IN disease_edges WHERE endNode(e) = g2 OR startNode(e) = g2][0] AS rd
WITH g1, rc, g2, rg, rd,
     (CASE rc.source WHEN 'GNBR' THEN 0.5 ELSE 1.0 END) +
     (CASE rg.source WHEN 'GNBR' THEN 0.5 ELSE 1.0 END) +
     (CASE rd.source WHEN 'GNBR' THEN 0.5 ELSE 1.0 END) AS support
RETURN g1.id AS drug_gene_id, g1.name AS drug_gene,
       {type: type(rc), relation: rc.relation, source: rc.source} AS drug_edge,
       {type: type(rg), relation: rg.relation, source: rg.source} AS gene_edge,
       g2.id AS disease_gene_id, g2.name AS disease_gene,
       {type: type(rd), relation: rd.relation, source: rd.source} AS disease_edge,
       support
ORDER BY support DESC, drug_gene, disease_gene
LIMIT $limit
"""

CANDIDATE_DRUGS = """
MATCH (c:Compound)-[r]-(d:Entity {id: $disease})
WHERE type(r) IN $treatment_types AND NOT [c.id, d.id] IN $hidden
WITH c, collect({type: type(r), relation: r.relation, source: r.source}) AS edges
WITH c, edges,
     reduce(s = 0.0, e IN edges | s + coalesce($weights[e.relation], $default_weight))
        AS relevance
RETURN c.id AS id, c.name AS name, edges, relevance
ORDER BY relevance DESC, name
LIMIT $limit
"""

SIMILAR_DRUGS = """
MATCH (c:Entity {id: $drug})-[:TARGETS|METABOLIZED_BY|CARRIED_BY|BINDS]->(g:Gene)
WITH c, collect(DISTINCT g) AS genes
WITH c, genes, size(genes) AS n
UNWIND genes AS g
MATCH (g)<-[:TARGETS|METABOLIZED_BY|CARRIED_BY|BINDS]-(o:Compound)
WHERE o <> c
WITH c, n, o, collect(DISTINCT g.name) AS shared
MATCH (o)-[:TARGETS|METABOLIZED_BY|CARRIED_BY|BINDS]->(og:Gene)
WITH o, shared, n, count(DISTINCT og) AS m
WITH o, shared, toFloat(size(shared)) / (n + m - size(shared)) AS jaccard
RETURN o.id AS id, o.name AS name, shared[..10] AS shared_genes, size(shared) AS n_shared,
       jaccard
ORDER BY jaccard DESC, n_shared DESC, name
LIMIT $limit
"""
