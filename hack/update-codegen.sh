#!/usr/bin/env bash
# Regenerates everything generated from pkg/apis: deepcopy functions, the typed clientset (with
# watch), listers and informers under pkg/generated, and the CRD manifest under manifests/crd.
# Generators come from the versions pinned in go.mod. No apply configurations: status is
# written as a JSON merge patch with a resourceVersion precondition (pkg/controller/apiauth/sync.go).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "${root}"
module=$(go list -m)

# kube_codegen.sh `go install`s the generators; keep them in the project, not in $GOPATH/bin.
export GOBIN="${CODEGEN_BIN:-${root}/bin/codegen}"
mkdir -p "${GOBIN}"

# `go list -m -f '{{.Dir}}'` prints nothing for a module that is not in the module cache yet, and on
# a fresh machine nothing else downloads the generator (the controller build does not need it):
# download it first.
go mod download k8s.io/code-generator
codegen_root=$(go list -m -f '{{.Dir}}' k8s.io/code-generator)
if [[ ! -f "${codegen_root}/kube_codegen.sh" ]]; then
  echo "update-codegen: kube_codegen.sh not found in k8s.io/code-generator ('${codegen_root}')" >&2
  exit 1
fi
# shellcheck source=/dev/null
source "${codegen_root}/kube_codegen.sh"

boilerplate="${root}/hack/boilerplate.go.txt"

kube::codegen::gen_helpers \
  --boilerplate "${boilerplate}" \
  "${root}/pkg/apis"

kube::codegen::gen_client \
  --with-watch \
  --output-dir "${root}/pkg/generated" \
  --output-pkg "${module}/pkg/generated" \
  --boilerplate "${boilerplate}" \
  "${root}/pkg/apis"

# The CRD comes from the kubebuilder markers on the types.
go tool controller-gen crd \
  paths=./pkg/apis/... \
  output:crd:artifacts:config="${root}/manifests/crd"

# The Helm chart installs the same CRDs, from its crds/ folder: copies, never edited by hand.
chart_crds="${root}/charts/konnect-auth-controller/crds"
mkdir -p "${chart_crds}"
rm -f "${chart_crds}"/*.yaml
cp "${root}"/manifests/crd/*.yaml "${chart_crds}/"
