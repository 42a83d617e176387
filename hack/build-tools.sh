#!/usr/bin/env bash
# Usage: hack/build-tools.sh [TOOL...]
#
# Builds the named tools into bin/, skipping any that are already there. TOOL is one of
#   etcd kube-apiserver kubectl   the control plane the tests, the demo and the bench run
#   kube-controller-manager       for the tests that delete namespaces and need garbage collection
#   helm                          for the chart tests and make chart
#   promtool                      for the alerts' rule tests
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

# -trimpath and no VCS stamping keep the builds reproducible; the version ldflags make each tool
# report what it is (`kubectl version` and the apiserver's /version, `helm version`,
# `promtool --version`). Each *_ldflags function prints the flags; it runs only for a build.
plain_ldflags() { echo "-s -w"; }

kube_ldflags() {
  local v=v1.37.2
  echo "-s -w -X k8s.io/component-base/version.gitVersion=${v} -X k8s.io/component-base/version.gitMajor=1" \
    "-X k8s.io/component-base/version.gitMinor=37 -X k8s.io/client-go/pkg/version.gitVersion=${v}" \
    "-X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=37"
}

# Helm and promtool are pinned in modules of their own (hack/tools/helm, hack/tools/promtool), so
# that the project's go.mod does not carry their dependencies; the version each reports is the
# one pinned there.
helm_ldflags() {
  local v
  v=$(cd "${root}/hack/tools/helm" && go list -m -f '{{.Version}}' helm.sh/helm/v3)
  echo "-s -w -X helm.sh/helm/v3/internal/version.version=${v}"
}

# The Prometheus module v0.316.0 is the Prometheus release 3.16.0.
promtool_ldflags() {
  local m minor
  m=$(cd "${root}/hack/tools/promtool" && go list -m -f '{{.Version}}' github.com/prometheus/prometheus)
  minor=$(sed -E 's/^v0\.([0-9]+)\..*/\1/' <<<"${m}")
  echo "-s -w -X github.com/prometheus/common/version.Version=$((minor / 100)).$((minor % 100)).$(sed -E 's/^v0\.[0-9]+\.([0-9]+).*/\1/' <<<"${m}")"
}

build() { # name, module dir under hack/tools, package, ldflags function
  local name=$1 dir=$2 pkg=$3 ldflags=$4
  if [[ -x "${bin}/${name}" ]]; then
    echo "tools: ${name} already built"
    return
  fi
  echo "tools: building ${name} (several minutes the first time)..."
  local start=${SECONDS} flags
  flags=$(${ldflags})
  (cd "${root}/hack/tools/${dir}" && CGO_ENABLED=0 go build -trimpath -ldflags "${flags}" -o "${bin}/${name}.tmp" "${pkg}")
  mv "${bin}/${name}.tmp" "${bin}/${name}"
  echo "tools: built ${name} in $((SECONDS - start))s"
}

for tool in "$@"; do
  case "${tool}" in
    etcd) build etcd etcd go.etcd.io/etcd/server/v3 plain_ldflags ;;
    kube-apiserver) build kube-apiserver kube k8s.io/kubernetes/cmd/kube-apiserver kube_ldflags ;;
    kubectl) build kubectl kube k8s.io/kubernetes/cmd/kubectl kube_ldflags ;;
    kube-controller-manager) build kube-controller-manager kube k8s.io/kubernetes/cmd/kube-controller-manager kube_ldflags ;;
    helm) build helm helm helm.sh/helm/v3/cmd/helm helm_ldflags ;;
    promtool) build promtool promtool github.com/prometheus/prometheus/cmd/promtool promtool_ldflags ;;
  esac
done
