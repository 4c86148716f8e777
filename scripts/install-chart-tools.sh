#!/usr/bin/env bash
# Installs the tools test/deploy checks the Helm chart with, at pinned versions, unless they are
# already there: helm (from the Go module proxy, into `go env GOPATH`/bin) and
# kubernetes-validate (from PyPI, into a virtualenv under ~/.cache/palisade). kubernetes-validate
# ships the Kubernetes JSON schemas of every release it supports, so validation works offline;
# kubeconform would download them at run time. Prints the PATH entries to add.
set -euo pipefail

HELM_VERSION=v3.21.4
KUBERNETES_VALIDATE_VERSION=1.37.0

gobin="$(go env GOPATH)/bin"
# A go-installed helm reports only its minor version; the module version is in the binary.
if ! go version -m "$gobin/helm" 2>/dev/null | grep -q "mod[[:space:]]*helm.sh/helm/v3[[:space:]]*$HELM_VERSION"; then
  echo "installing helm $HELM_VERSION into $gobin" >&2
  go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
fi

venv="${XDG_CACHE_HOME:-$HOME/.cache}/palisade/kubernetes-validate-$KUBERNETES_VALIDATE_VERSION"
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  echo "installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
fi

echo "$gobin:$venv/bin"
