#!/usr/bin/env bash
# Regenerates everything generated from pkg/apis: deepcopy functions, the typed clientset (with
# watch and apply configurations), listers and informers under pkg/generated, and the CRD
# manifest under manifests/crd. Generators come from the versions pinned in go.mod.
#
# OUTPUT_ROOT (default: the repository) lets hack/verify-codegen.sh generate into a scratch copy.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${OUTPUT_ROOT:-${root}}
module=$(cd "${root}" && go list -m)

# kube_codegen.sh `go install`s the generators; keep them in the project, not in $GOPATH/bin.
export GOBIN="${root}/bin/codegen"
mkdir -p "${GOBIN}"

codegen_root=$(cd "${root}" && go list -m -f '{{.Dir}}' k8s.io/code-generator)
# shellcheck source=/dev/null
source "${codegen_root}/kube_codegen.sh"

boilerplate="${root}/hack/boilerplate.go.txt"

# Helpers are generated in place next to the types; when generating into a scratch copy the
# types are copied there first so the helpers land in the copy too.
if [[ "${out}" != "${root}" ]]; then
  mkdir -p "${out}/pkg/apis"
  cp -R "${root}/pkg/apis/." "${out}/pkg/apis/"
fi

kube::codegen::gen_helpers \
  --boilerplate "${boilerplate}" \
  "${out}/pkg/apis"

kube::codegen::gen_client \
  --with-watch \
  --with-applyconfig \
  --output-dir "${out}/pkg/generated" \
  --output-pkg "${module}/pkg/generated" \
  --boilerplate "${boilerplate}" \
  "${out}/pkg/apis"

# The CRD comes from the kubebuilder markers on the types.
(cd "${root}" && go tool controller-gen crd \
  paths=./pkg/apis/... \
  output:crd:artifacts:config="${out}/manifests/crd")
