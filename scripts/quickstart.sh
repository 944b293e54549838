#!/usr/bin/env bash
# The main job on the embedded default, end to end: install; start a local Neo4j 5.26 (built
# from Maven Central, no docker); load the real DRKG slice from ../shared/data and check its
# counts; then `kedrec demo`: task sets, the literature for the demo's drugs, the plan-mode
# teacher (local SmolLM2), a LoRA student, and the eval grid whose report it prints.
# Resumable: run it again after an interruption and finished steps are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/kedrec neo4j start
.venv/bin/kedrec graph load
.venv/bin/kedrec graph stats
.venv/bin/kedrec demo --train-sets 6 --val-sets 0 --test-sets 3 --source none --source both \
  --resamples 200 "$@"
