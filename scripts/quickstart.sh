#!/usr/bin/env bash
# The main job on the embedded default: install, start a local Neo4j 5.26 (built from Maven
# Central, no docker), load the real DRKG slice from ../shared/data, print graph statistics
# checked against the input files, and show what the graph tools answer for one pair.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/kedrec neo4j start
.venv/bin/kedrec graph load
.venv/bin/kedrec graph stats
.venv/bin/kedrec graph demo --drug metformin --disease "type 2 diabetes mellitus"
.venv/bin/kedrec neo4j status
