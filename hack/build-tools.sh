#!/usr/bin/env bash
# Builds the control-plane binaries the tests and the demo run (kube-apiserver, kubectl, etcd,
# and kube-controller-manager for the tests that need namespace deletion and garbage collection)
# from the Go module proxy into bin/, skipping any that are already there.
# Release downloads are not assumed: everything comes from hack/tools/{kube,etcd}.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin="${root}/bin"
mkdir -p "${bin}"

# -trimpath and no VCS stamping keep the builds reproducible; the version ldflags make
# `kubectl version` and the apiserver's /version report what they are.
kube_version=v1.37.2
kube_ldflags="-s -w \
 -X k8s.io/component-base/version.gitVersion=${kube_version} \
 -X k8s.io/component-base/version.gitMajor=1 \
 -X k8s.io/component-base/version.gitMinor=37 \
 -X k8s.io/client-go/pkg/version.gitVersion=${kube_version} \
 -X k8s.io/client-go/pkg/version.gitMajor=1 \
 -X k8s.io/client-go/pkg/version.gitMinor=37"

build() { # name, module dir, package, ldflags
  local name=$1 dir=$2 pkg=$3 ldflags=$4
  if [[ -x "${bin}/${name}" ]]; then
    echo "tools: ${name} already built"
    return
  fi
  echo "tools: building ${name} (several minutes the first time)..."
  local start=${SECONDS}
  (cd "${root}/hack/tools/${dir}" && CGO_ENABLED=0 go build -trimpath -ldflags "${ldflags}" -o "${bin}/${name}.tmp" "${pkg}")
  mv "${bin}/${name}.tmp" "${bin}/${name}"
  echo "tools: built ${name} in $((SECONDS - start))s"
}

build etcd etcd go.etcd.io/etcd/server/v3 "-s -w"
build kube-apiserver kube k8s.io/kubernetes/cmd/kube-apiserver "${kube_ldflags}"
build kubectl kube k8s.io/kubernetes/cmd/kubectl "${kube_ldflags}"
build kube-controller-manager kube k8s.io/kubernetes/cmd/kube-controller-manager "${kube_ldflags}"
