#!/usr/bin/env bash
# Installs the tools the chart tests need into the Parley tool cache, once:
#   helm                 built with `go install` (Helm's Makefile ldflags, so .Capabilities.KubeVersion is right)
#   kubernetes-validate  a Python venv; bundles the Kubernetes JSON schemas, so validation is offline
#   dockerfile-check     charts/scripts/dockerfile-check: BuildKit's Dockerfile frontend (what `docker build
#                        --check` runs) as a small Go program, rebuilt when its sources change
# Idempotent: a second run only checks versions and exits. Prints where the tools are.
# Cache: ${PARLEY_CACHE:-$HOME/.cache/parley} (GOPATH=$CACHE/gopath, GOBIN=$CACHE/bin, venv in $CACHE/venv/...).
set -euo pipefail

HELM_VERSION="${PARLEY_HELM_VERSION:-v3.22.0}"
KUBERNETES_VALIDATE_VERSION="${PARLEY_KUBERNETES_VALIDATE_VERSION:-1.37.0}"
# The Kubernetes version every rendered object is validated against (must be bundled by kubernetes-validate).
K8S_SCHEMA_VERSION="${PARLEY_K8S_SCHEMA_VERSION:-1.36.0}"

CACHE="${PARLEY_CACHE:-$HOME/.cache/parley}"
BIN="$CACHE/bin"
GOPATH_DIR="$CACHE/gopath"
VENV="$CACHE/venv/kubernetes-validate-$KUBERNETES_VALIDATE_VERSION"
mkdir -p "$BIN" "$GOPATH_DIR" "$CACHE/venv"

log() { printf '[ensure-tools] %s\n' "$*" >&2; }
have_helm() {
  [[ -x "$BIN/helm" ]] && [[ "$("$BIN/helm" version --template '{{.Version}}' 2>/dev/null)" == "$HELM_VERSION" ]]
}

# ---- helm ------------------------------------------------------------------
# Serialise concurrent runs (e.g. two test runs starting at once) per tool.
exec 8>"$CACHE/.helm.lock"
flock 8
if have_helm; then
  log "helm $HELM_VERSION: cached ($BIN/helm)"
else
  command -v go >/dev/null || { log "go is required to build helm"; exit 1; }
  log "helm $HELM_VERSION: building with go install (first run only; a few minutes)"
  start=$SECONDS
  export GOPATH="$GOPATH_DIR" GOBIN="$BIN" GOFLAGS="-modcacherw -buildvcs=false" CGO_ENABLED=0
  # Helm's Makefile derives the default Kubernetes version from its k8s.io/client-go dependency
  # (major+1, same minor: client-go v0.37 -> Kubernetes 1.37). Without these ldflags Helm assumes 1.20.
  gomod="$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')"
  [[ -f "$gomod" ]] || { log "could not download helm.sh/helm/v3@$HELM_VERSION"; exit 1; }
  clientgo="$(awk '$1=="k8s.io/client-go"{print $2; exit}' "$gomod")"   # e.g. v0.37.0
  IFS=. read -r k8s_maj k8s_min _ <<<"${clientgo#v}"
  k8s_maj=$((k8s_maj + 1))
  ldflags="-w -s -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ldflags+=" -X $pkg.k8sVersionMajor=$k8s_maj -X $pkg.k8sVersionMinor=$k8s_min"
  done
  go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  have_helm || { log "helm build finished but $BIN/helm does not report $HELM_VERSION"; exit 1; }
  log "helm $HELM_VERSION: built in $((SECONDS - start))s (default Kubernetes $k8s_maj.$k8s_min)"
fi
exec 8>&-

# ---- kubernetes-validate -----------------------------------------------------
exec 9>"$CACHE/.kubernetes-validate.lock"
flock 9
if [[ -x "$VENV/bin/kubernetes-validate" ]] && [[ -f "$VENV/.complete" ]]; then
  log "kubernetes-validate $KUBERNETES_VALIDATE_VERSION: cached ($VENV)"
else
  log "kubernetes-validate $KUBERNETES_VALIDATE_VERSION: creating venv $VENV"
  start=$SECONDS
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
  touch "$VENV/.complete"
  log "kubernetes-validate: installed in $((SECONDS - start))s"
fi
# The schema version must be bundled: fail loudly rather than silently validating against another version.
schema_dir="$("$VENV/bin/python" -c 'import kubernetes_validate, os; print(os.path.join(os.path.dirname(kubernetes_validate.__file__), "kubernetes-json-schema"))')"
if [[ ! -d "$schema_dir/v$K8S_SCHEMA_VERSION-local-strict" ]]; then
  log "kubernetes-validate $KUBERNETES_VALIDATE_VERSION does not bundle v$K8S_SCHEMA_VERSION strict schemas; bundled:"
  ls "$schema_dir" >&2
  exit 1
fi
exec 9>&-
ln -sfn "$VENV/bin/kubernetes-validate" "$BIN/kubernetes-validate"

# ---- dockerfile-check ----------------------------------------------------------
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/dockerfile-check"
exec 7>"$CACHE/.dockerfile-check.lock"
flock 7
hash="$(cat "$SRC/go.mod" "$SRC/go.sum" "$SRC/main.go" | sha256sum | cut -c1-16)"
DFC="$BIN/dockerfile-check-$hash"
if [[ -x "$DFC" ]]; then
  log "dockerfile-check: cached ($DFC)"
else
  command -v go >/dev/null || { log "go is required to build dockerfile-check"; exit 1; }
  log "dockerfile-check: building BuildKit's Dockerfile linter (first run only; one to two minutes)"
  start=$SECONDS
  (cd "$SRC" && GOPATH="$GOPATH_DIR" GOFLAGS="-modcacherw -buildvcs=false -mod=readonly" CGO_ENABLED=0 \
    go build -trimpath -ldflags "-s -w" -o "$DFC.tmp" .)
  mv "$DFC.tmp" "$DFC"
  log "dockerfile-check: built in $((SECONDS - start))s"
fi
ln -sfn "$DFC" "$BIN/dockerfile-check"
find "$BIN" -maxdepth 1 -name 'dockerfile-check-*' ! -name "dockerfile-check-$hash" -delete   # older builds of it
exec 7>&-

log "ready: helm=$BIN/helm kubernetes-validate=$BIN/kubernetes-validate dockerfile-check=$BIN/dockerfile-check (Kubernetes schemas v$K8S_SCHEMA_VERSION, strict)"
