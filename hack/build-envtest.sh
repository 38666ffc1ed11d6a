#!/usr/bin/env bash
# Builds the envtest control plane (kube-apiserver, etcd) and kubectl from Go
# modules into bin/k8s, because setup-envtest cannot download binaries here.
# Each binary is built only when missing. Cold: about 10 minutes on 2 cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/bin/k8s"
mkdir -p "$out"
cd "$root/hack/envtest"

# Stamp the Kubernetes version, as release builds do (clients and the API
# server's compatibility version read it).
pkg=k8s.io/component-base/version
version_flags="-X $pkg.gitVersion=v1.37.2 -X $pkg.gitMajor=1 -X $pkg.gitMinor=37 -X $pkg.gitTreeState=clean"

build() { # build <binary name> <package>
  if [ -x "$out/$1" ]; then return; fi
  echo "building $1 from $2 (first time only)..."
  local tmp
  tmp=$(mktemp -d)
  go build -trimpath -ldflags "$version_flags" -o "$tmp/$1" "$2"
  mv "$tmp/$1" "$out/$1"
  rmdir "$tmp"
}
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build etcd go.etcd.io/etcd/server/v3
build kubectl k8s.io/kubernetes/cmd/kubectl
