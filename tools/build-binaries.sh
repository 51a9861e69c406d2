#!/usr/bin/env bash
# Builds the test bed's upstream binaries from Go modules, once per pinned version.
#
# Why from source: no kube-apiserver/etcd/kwok/helm package exists in the registries this project
# may use, and no Docker engine is available, so the Go module proxy is the one pinned, reproducible
# source. Each binary lands in $CACHE/<name>-<version>/<name>; an existing binary is never rebuilt,
# so a warm run costs milliseconds and a cold one ~tens of minutes on 2 cores (figure in docs/benchmarks.md).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"
CACHE=${DIFFUSION_BIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/diffusion-operator/bin}
mkdir -p "$CACHE"
export GOFLAGS="-buildvcs=false -trimpath" CGO_ENABLED=0

# Kubernetes binaries report their version from these variables (as hack/lib/version.sh sets them);
# without them they say v0.0.0-master and Helm's kubeVersion checks fail.
kube_version_ldflags() {
  local v=${KUBERNETES_VERSION#v} flags="" pkg
  local major=${v%%.*} rest=${v#*.}
  local minor=${rest%%.*}
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit=module-proxy -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$flags"
}

# What testbed/paths.py source_hash computes: each of go.mod, go.sum and the non-test .go files as
# its name, a newline and its bytes, in byte order of the names; 12 hex digits of their SHA-256.
source_hash() {
  local dir=$1 f
  (cd "$dir" && for f in $(ls go.mod go.sum *.go | grep -v '_test\.go$' | LC_ALL=C sort); do
     printf '%s\n' "$f"; cat "$f"; done) | sha256sum | cut -c1-12
}

build() {  # build NAME VERSION DIR-OR-PACKAGE [go install]
  local name=$1 version=$2 target=$3 mode=${4:-build}
  local out="$CACHE/$name-$version-r$BUILD_RECIPE/$name"
  if [[ -x "$out" ]]; then return 0; fi
  local started=$SECONDS tmp
  tmp=$(mktemp -d "$CACHE/.build-$name.XXXX")
  echo "building $name $version (first time only) ..." >&2
  if [[ $mode == install ]]; then
    GOBIN="$tmp" go install -ldflags="-s -w" "$target@$version"
    mv "$tmp/$(basename "$target")" "$tmp/$name.bin"
  else
    local ldflags="-s -w"
    [[ ${target%%:*} == kubernetes ]] && ldflags+=$(kube_version_ldflags)
    (cd "$here/gobin/${target%%:*}" && go build -ldflags="$ldflags" -o "$tmp/$name.bin" "${target#*:}")
  fi
  mkdir -p "$(dirname "$out")"
  mv "$tmp/$name.bin" "$out"   # rename is atomic: a killed build never leaves a half binary
  rm -rf "$tmp"
  echo "built $name $version in $((SECONDS - started)) s" >&2
}

want=${*:-etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy kwok helm metrics-adapter registry}
for name in $want; do
  case $name in
    etcd) build etcd "$ETCD_VERSION" "etcd:go.etcd.io/etcd/server/v3" ;;
    kube-apiserver|kube-controller-manager|kube-scheduler|kubectl|kubelet|kube-proxy)
      build "$name" "$KUBERNETES_VERSION" "kubernetes:k8s.io/kubernetes/cmd/$name" ;;
    registry) build registry "$DISTRIBUTION_VERSION" github.com/distribution/distribution/v3/cmd/registry install ;;
    kwok) build kwok "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok install ;;
    helm) build helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm install ;;
    # Our custom.metrics.k8s.io adapter (prometheus-adapter cannot be fetched here; see its main.go).
    metrics-adapter)
      build metrics-adapter "$CUSTOM_METRICS_APISERVER_VERSION+$(source_hash "$here/gobin/metrics-adapter")" "metrics-adapter:." ;;
    *) echo "unknown binary: $name" >&2; exit 2 ;;
  esac
done
