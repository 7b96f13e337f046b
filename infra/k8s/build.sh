#!/usr/bin/env bash
# Builds the local Kubernetes control plane from the Go module proxy, once, into the Parley cache:
#   etcd v3.6.16                         infra/k8s/etcd (wrapper: etcd's own module has replace directives)
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl v1.36.3
#                                        infra/k8s/kube (wrapper: k8s.io/kubernetes + its 32 staging replaces)
#   kwok v0.8.0 + its stage configs      go install, stages copied from its module
#   build.sh skaffold: skaffold v2.19.0 (infra/k8s/skaffold wrapper) -> $PARLEY_CACHE/bin/skaffold-v2.19.0-<hash>/
# Output: $PARLEY_CACHE/bin/k8s-v1.36.3-<hash>/ (hash of the wrapper modules and versions); a second run
# finds it and exits at once. CPU-heavy (~15 min on 2 cores, cold): runs under `nice -n 10`.
# Only the binaries are kept; the Go build cache it fills (~4 GB) can be dropped afterwards
# (PARLEY_K8S_DROP_GOCACHE=1 does that).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${PARLEY_CACHE:-$HOME/.cache/parley}"
K8S_VERSION=v1.36.3
KWOK_VERSION="${PARLEY_KWOK_VERSION:-v0.8.0}"
log() { printf '[k8s-build] %s\n' "$*" >&2; }

if [[ "${1:-}" == skaffold || "${1:-}" == --print-skaffold ]]; then
  SK_VERSION=v2.19.0
  shash="$(cat "$HERE"/skaffold/go.mod "$HERE"/skaffold/go.sum "$HERE"/skaffold/main.go | sha256sum | cut -c1-12)"
  SOUT="$CACHE/bin/skaffold-$SK_VERSION-$shash"
  if [[ "$1" == --print-skaffold ]]; then echo "$SOUT/skaffold"; exit 0; fi
  mkdir -p "$CACHE/bin"
  exec 9>"$CACHE/.skaffold-build.lock"; flock 9
  if [[ -x "$SOUT/skaffold" ]]; then log "cached: $SOUT/skaffold"; echo "$SOUT/skaffold"; exit 0; fi
  s=$SECONDS
  log "skaffold $SK_VERSION: building (first run only; several minutes)"
  # The proxy serves skaffold v2.19.0 but the checksum database does not list it: its hash is pinned in
  # infra/k8s/skaffold/go.sum instead, and -mod=readonly verifies the download against that.
  (cd "$HERE/skaffold" && GOPATH="$CACHE/gopath" GOCACHE="${PARLEY_K8S_GOCACHE:-$CACHE/go-build-k8s}" \
    GONOSUMDB=github.com/GoogleContainerTools/skaffold GOFLAGS="-modcacherw -buildvcs=false -mod=readonly" CGO_ENABLED=0 \
    nice -n 10 go build -trimpath -ldflags "-s -w -X github.com/GoogleContainerTools/skaffold/v2/pkg/skaffold/version.version=$SK_VERSION" \
    -o "$SOUT.tmp/skaffold" .)
  rm -rf "$SOUT"; mv "$SOUT.tmp" "$SOUT"
  find "$CACHE/bin" -maxdepth 1 -name "skaffold-*" ! -name "skaffold-$SK_VERSION-$shash" -exec rm -rf {} +
  log "skaffold built in $((SECONDS - s))s"
  echo "$SOUT/skaffold"; exit 0
fi

hash="$( (cat "$HERE"/kube/go.mod "$HERE"/kube/go.sum "$HERE"/etcd/go.mod "$HERE"/etcd/go.sum "$HERE"/etcd/main.go \
  "$HERE"/kube/cmd/*/*.go; echo "$KWOK_VERSION") | sha256sum | cut -c1-12)"
OUT="$CACHE/bin/k8s-$K8S_VERSION-$hash"
if [[ "${1:-}" == "--print-dir" ]]; then echo "$OUT"; exit 0; fi

mkdir -p "$CACHE/bin"
exec 9>"$CACHE/.k8s-build.lock"
flock 9
if [[ -f "$OUT/.complete" ]]; then log "cached: $OUT"; echo "$OUT"; exit 0; fi
command -v go >/dev/null || { log "go is required"; exit 1; }

export GOPATH="$CACHE/gopath" GOFLAGS="-modcacherw -buildvcs=false -mod=readonly" CGO_ENABLED=0
export GOCACHE="${PARLEY_K8S_GOCACHE:-$CACHE/go-build-k8s}"
TMP="$OUT.tmp"
rm -rf "$TMP"; mkdir -p "$TMP"
t0=$SECONDS
step() { local s=$SECONDS; log "$1 ..."; shift; nice -n 10 "$@"; log "  done in $((SECONDS - s))s"; }

step "etcd" bash -c "cd '$HERE/etcd' && go build -trimpath -ldflags '-s -w' -o '$TMP/etcd' ."

ld="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=36 -X $pkg.gitTreeState=clean"
done
step "kube-apiserver, kube-controller-manager, kube-scheduler, kubectl $K8S_VERSION (the long one)" \
  bash -c "cd '$HERE/kube' && go build -trimpath -ldflags '$ld' -o '$TMP/' ./cmd/kube-apiserver ./cmd/kube-controller-manager ./cmd/kube-scheduler ./cmd/kubectl"

step "kwok $KWOK_VERSION" env GOBIN="$TMP" GOFLAGS="-modcacherw -buildvcs=false" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
kwokdir="$(GOFLAGS=-modcacherw go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')"
mkdir -p "$TMP/kwok-stages"
for f in node/fast/node-initialize.yaml node/heartbeat/node-heartbeat.yaml pod/fast/pod-ready.yaml \
         pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
  cp "$kwokdir/kustomize/stage/$f" "$TMP/kwok-stages/$(basename "$f")"
done
chmod -R u+w "$TMP"

rm -rf "$OUT"; mv "$TMP" "$OUT"
touch "$OUT/.complete"
find "$CACHE/bin" -maxdepth 1 -name "k8s-*" ! -name "k8s-$K8S_VERSION-$hash" -exec rm -rf {} +   # older builds
log "built $OUT in $((SECONDS - t0))s ($(du -sh "$OUT" | cut -f1))"
if [[ "${PARLEY_K8S_DROP_GOCACHE:-0}" == 1 ]]; then rm -rf "$GOCACHE"; log "dropped $GOCACHE"; fi
echo "$OUT"
