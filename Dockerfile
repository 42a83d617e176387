# syntax=docker/dockerfile:1
#
# The konnect-auth-controller image: a static Go binary on distroless/static, run as the
# unprivileged user 65532. Build with `make image` (VERSION is stamped into the binary):
#
#   docker build -t konnect-auth-controller:v1.2.3 --build-arg VERSION=v1.2.3 .
#
# `make image-check` proves, without a Docker engine, that the binary built the same way is
# static and runs in an empty environment (hack/check-static.sh).

ARG GO_VERSION=1.26

# The build stage runs on the builder's own platform and cross-compiles (no emulation needed
# for multi-arch images with `docker buildx build --platform linux/amd64,linux/arm64`).
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src

# Modules first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

# Only what the controller is built from (see .dockerignore).
COPY cmd/ cmd/
COPY pkg/ pkg/

# CGO_ENABLED=0: a static binary that needs no libc, so it runs on distroless/static (or
# scratch). -trimpath: no build-machine paths in the binary. -s -w: no symbol table or DWARF.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath \
      -ldflags "-s -w -X github.com/konnect-auth-controller/konnect-auth-controller/pkg/version.Version=${VERSION}" \
      -o /out/konnect-auth-controller ./cmd/controller

# distroless/static: CA certificates (the controller verifies Konnect's TLS certificate with the
# system trust store), tzdata and /etc/passwd with the nonroot user; no shell, no package manager.
FROM gcr.io/distroless/static:nonroot
ARG VERSION=dev
LABEL org.opencontainers.image.title="konnect-auth-controller" \
      org.opencontainers.image.description="Validates KonnectAPIAuthConfigurations against Kong Konnect" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/konnect-auth-controller /konnect-auth-controller
# nonroot:nonroot; numeric so that runAsNonRoot can verify it without reading /etc/passwd.
USER 65532:65532
ENTRYPOINT ["/konnect-auth-controller"]
