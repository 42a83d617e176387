#!/usr/bin/env bash
# Usage: hack/build-tools.sh [TOOL...]
#
# Builds the named tools into bin/, skipping any that are already there. TOOL is one of
#   etcd kube-apiserver kubectl   the control plane the tests, the demo and the bench run
#   kube-controller-manager       for the tests that delete namespaces and need garbage collection
#   helm                          for the chart tests and make chart (hack/build-helm.sh)
#   promtool                      for the alerts' rule tests (hack/build-promtool.sh)
# With no TOOL it builds all six (make tools). Each make target names only the tools it runs
# (see the *_TOOLS lists in the Makefile), so that, say, make demo does not build helm.
# Release downloads are not assumed: everything comes from the Go module proxy, at the versions
# pinned in hack/tools/{etcd,kube,helm,promtool}.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin="${root}/bin"

all_tools=(etcd kube-apiserver kubectl kube-controller-manager helm promtool)
if [[ $# -eq 0 ]]; then
  set -- "${all_tools[@]}"
fi
# Check every name before building anything: a typo fails now, not after a long build.
for tool in "$@"; do
  case "${tool}" in
    etcd | kube-apiserver | kubectl | kube-controller-manager | helm | promtool) ;;
    *)
      echo "build-tools: unknown tool '${tool}' (known: ${all_tools[*]})" >&2
      exit 2
      ;;
  esac
done
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

for tool in "$@"; do
  case "${tool}" in
    etcd) build etcd etcd go.etcd.io/etcd/server/v3 "-s -w" ;;
    kube-apiserver) build kube-apiserver kube k8s.io/kubernetes/cmd/kube-apiserver "${kube_ldflags}" ;;
    kubectl) build kubectl kube k8s.io/kubernetes/cmd/kubectl "${kube_ldflags}" ;;
    kube-controller-manager) build kube-controller-manager kube k8s.io/kubernetes/cmd/kube-controller-manager "${kube_ldflags}" ;;
    helm) "${root}/hack/build-helm.sh" ;;
    promtool) "${root}/hack/build-promtool.sh" ;;
  esac
done
