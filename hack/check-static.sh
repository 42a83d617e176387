#!/usr/bin/env bash
# Usage: hack/check-static.sh BINARY
#
# Proves, without a Docker engine, what the image (Dockerfile) relies on:
#   1. BINARY is a statically linked ELF executable: no program interpreter (PT_INTERP) and no
#      dynamic section (PT_DYNAMIC), so it runs on distroless/static or scratch, with no libc;
#   2. it was built with CGO_ENABLED=0 (when `go` is available to read its build information);
#   3. it runs in an empty environment (env -i): --version prints a version, --help prints
#      the usage, and a start without any cluster fails with a message rather than a crash;
#   4. as root (or where unprivileged user namespaces allow it), it also runs chrooted into an
#      empty directory as uid/gid 65532: no file at all is needed, as in the image.
#
# The ELF headers are read with od (coreutils), so the check needs no binutils; readelf, file
# and ldd, when present, are consulted as a cross-check.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 BINARY" >&2
  exit 2
fi
bin=$1
failures=0
pass() { echo "check-static: ok: $*"; }
fail() { echo "check-static: FAIL: $*" >&2; failures=$((failures + 1)); }

if [[ ! -f "${bin}" || ! -x "${bin}" ]]; then
  echo "check-static: ${bin} is not an executable file" >&2
  exit 1
fi
bin=$(cd "$(dirname "${bin}")" && pwd)/$(basename "${bin}")

# --- 1. ELF program headers -------------------------------------------------------------
# readu OFFSET SIZE: an unsigned integer of SIZE bytes at OFFSET, in the file's byte order.
readu() {
  od -An -v --endian="${endian}" -t "u$2" -j "$1" -N "$2" "${bin}" | tr -d ' \n'
}
magic=$(od -An -v -t x1 -N 4 "${bin}" | tr -d ' \n')
if [[ "${magic}" != "7f454c46" ]]; then
  echo "check-static: ${bin} is not an ELF file (magic ${magic})" >&2
  exit 1
fi
class=$(od -An -v -t u1 -j 4 -N 1 "${bin}" | tr -d ' \n') # 1: 32-bit, 2: 64-bit
data=$(od -An -v -t u1 -j 5 -N 1 "${bin}" | tr -d ' \n')  # 1: little-endian, 2: big-endian
case "${data}" in
  1) endian=little ;;
  2) endian=big ;;
  *) echo "check-static: unknown ELF byte order ${data}" >&2; exit 1 ;;
esac
case "${class}" in
  2) phoff=$(readu 32 8); phentsize=$(readu 54 2); phnum=$(readu 56 2) ;;
  1) phoff=$(readu 28 4); phentsize=$(readu 42 2); phnum=$(readu 44 2) ;;
  *) echo "check-static: unknown ELF class ${class}" >&2; exit 1 ;;
esac
etype=$(readu 16 2) # 2: ET_EXEC (static), 3: ET_DYN (PIE or shared object)
interp=0
dynamic=0
for ((i = 0; i < phnum; i++)); do
  case "$(readu $((phoff + i * phentsize)) 4)" in
    2) dynamic=$((dynamic + 1)) ;; # PT_DYNAMIC
    3) interp=$((interp + 1)) ;;   # PT_INTERP
  esac
done
if [[ ${phnum} -gt 0 && ${interp} -eq 0 && ${dynamic} -eq 0 ]]; then
  pass "ELF (class ${class}, type ${etype}, ${phnum} program headers): no PT_INTERP, no PT_DYNAMIC: statically linked"
else
  fail "ELF has ${interp} PT_INTERP and ${dynamic} PT_DYNAMIC program headers (of ${phnum}): dynamically linked"
fi

# Cross-checks with the usual tools, where the machine has them.
if command -v readelf >/dev/null 2>&1; then
  if readelf -lW "${bin}" | grep -Eq '^\s+(INTERP|DYNAMIC)\s'; then
    fail "readelf -l lists an INTERP or DYNAMIC segment"
  else
    pass "readelf -l: no INTERP or DYNAMIC segment"
  fi
fi
if command -v file >/dev/null 2>&1; then
  desc=$(file -b "${bin}")
  if [[ "${desc}" == *"statically linked"* ]]; then
    pass "file: ${desc%%,*}, statically linked"
  else
    fail "file says: ${desc}"
  fi
fi
if command -v ldd >/dev/null 2>&1; then
  # ldd exits non-zero for a static binary; its words differ between libc implementations.
  lddout=$(ldd "${bin}" 2>&1 || true)
  if [[ "${lddout}" == *"not a dynamic executable"* || "${lddout}" == *"statically linked"* ]]; then
    pass "ldd: ${lddout//$'\n'/ }"
  else
    fail "ldd lists libraries: ${lddout}"
  fi
fi

# --- 2. Build information ---------------------------------------------------------------
if command -v go >/dev/null 2>&1; then
  if buildinfo=$(go version -m "${bin}" 2>/dev/null); then
    if grep -Eq '^\s+build\s+CGO_ENABLED=0$' <<<"${buildinfo}"; then
      pass "go version -m: built with CGO_ENABLED=0 ($(head -n1 <<<"${buildinfo}" | awk '{print $2}'))"
    else
      fail "go version -m does not show CGO_ENABLED=0"
    fi
  fi
fi

# --- 3. It runs in an empty environment -------------------------------------------------
scratch=$(mktemp -d)
trap 'rm -rf "${scratch}"' EXIT

set +e
version=$(cd "${scratch}" && env -i "${bin}" --version 2>"${scratch}/stderr")
code=$?
set -e
if [[ ${code} -eq 0 && -n "${version}" && "${version}" != *$'\n'* ]]; then
  pass "env -i BINARY --version: ${version}"
else
  fail "env -i BINARY --version exited ${code} and printed '${version}' $(cat "${scratch}/stderr")"
fi
if [[ -n "${EXPECT_VERSION:-}" && "${version}" != "${EXPECT_VERSION}" ]]; then
  fail "--version printed '${version}', want EXPECT_VERSION='${EXPECT_VERSION}'"
fi

set +e
(cd "${scratch}" && env -i "${bin}" --help >"${scratch}/help" 2>&1)
code=$?
set -e
if [[ (${code} -eq 0 || ${code} -eq 2) ]] && grep -q -- '-kubeconfig' "${scratch}/help"; then
  pass "env -i BINARY --help exited ${code} with the usage ($(grep -c -- '^ *-' "${scratch}/help") flags)"
else
  fail "env -i BINARY --help exited ${code}: $(head -c 2000 "${scratch}/help")"
fi

# Without a kubeconfig and outside a Pod there is no cluster: it must say so and exit non-zero,
# not crash (a panic or a missing-library error would show a broken static build).
set +e
(cd "${scratch}" && timeout 20 env -i "${bin}" --kubeconfig= >"${scratch}/nocluster" 2>&1)
code=$?
set -e
if [[ ${code} -ne 0 && ${code} -ne 124 ]] && ! grep -Eq 'panic:|goroutine [0-9]+|SIGSEGV|error while loading shared libraries' "${scratch}/nocluster"; then
  pass "env -i BINARY without a cluster exits ${code}: $(grep -v '^\s*$' "${scratch}/nocluster" | tail -n1 | cut -c1-160)"
else
  fail "env -i BINARY without a cluster exited ${code}: $(tail -c 2000 "${scratch}/nocluster")"
fi

# --- 4. It runs alone in an empty root, as the image's user -----------------------------
root_dir="${scratch}/root"
mkdir -p "${root_dir}"
cp "${bin}" "${root_dir}/konnect-auth-controller"
chroot_cmd=()
if [[ $(id -u) -eq 0 ]] && command -v chroot >/dev/null 2>&1; then
  chroot_cmd=("$(command -v chroot)" --userspec=65532:65532 "${root_dir}")
elif command -v unshare >/dev/null 2>&1 && command -v chroot >/dev/null 2>&1 && unshare -r true 2>/dev/null; then
  # Unprivileged: root only inside a user namespace, so the user cannot be switched too.
  chroot_cmd=("$(command -v unshare)" -r "$(command -v chroot)" "${root_dir}")
fi
if [[ ${#chroot_cmd[@]} -gt 0 ]]; then
  chmod 0755 "${scratch}" "${root_dir}" "${root_dir}/konnect-auth-controller"
  set +e
  inroot=$(env -i "${chroot_cmd[@]}" /konnect-auth-controller --version 2>&1)
  code=$?
  set -e
  if [[ ${code} -eq 0 && "${inroot}" == "${version}" ]]; then
    pass "chroot into a directory holding nothing but the binary$([[ $(id -u) -eq 0 ]] && echo ', as 65532:65532'): --version: ${inroot}"
  else
    fail "in an empty root: exit ${code}: ${inroot}"
  fi
else
  echo "check-static: skipped: running in an empty root needs root or unprivileged user namespaces"
fi

if [[ ${failures} -gt 0 ]]; then
  echo "check-static: ${failures} check(s) failed for ${bin}" >&2
  exit 1
fi
echo "check-static: ${bin} is static and runs"
