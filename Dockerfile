# syntax=docker/dockerfile:1
#
# Pictor image: the pictor binary (serve, worker, migrate, process, batch) and
# the stand-in WebUI sdstub, on Debian bookworm with the libvips runtime only.
#
#   docker build -t pictor:local --build-arg VERSION=$(git describe --always) .
#   docker run --rm -p 8080:8080 -v pictor-data:/data pictor:local
#
# The Go version follows go.mod (deploy/deploy_test.go checks that they agree).

ARG GO_VERSION=1.26
ARG DEBIAN_RELEASE=bookworm

# ---- build: CGO against libvips-dev ------------------------------------------
FROM golang:${GO_VERSION}-${DEBIAN_RELEASE} AS build
# The golang image already has gcc and pkg-config; govips needs the headers.
RUN apt-get update \
	&& apt-get install -y --no-install-recommends libvips-dev \
	&& rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Modules first, so a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
# Every command under cmd/ (pictor, sdstub) lands in /out.
RUN --mount=type=cache,target=/go/pkg/mod \
	--mount=type=cache,target=/root/.cache/go-build \
	CGO_ENABLED=1 go build -trimpath -buildvcs=false \
	-ldflags "-s -w -X main.version=${VERSION}" \
	-o /out/ ./cmd/... \
	&& /out/pictor version

# ---- runtime: libvips42 and its loaders, nothing to compile with ------------
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# libvips42 is the runtime library of the libvips-dev the build linked against
# (8.14 on bookworm); ca-certificates for HTTPS sources and S3 over TLS.
RUN apt-get update \
	&& apt-get install -y --no-install-recommends libvips42 ca-certificates \
	&& rm -rf /var/lib/apt/lists/* \
	&& groupadd --system --gid 10001 pictor \
	&& useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
		--shell /usr/sbin/nologin pictor \
	&& mkdir -p /data \
	&& chown 10001:10001 /data
COPY --from=build /out/ /usr/local/bin/
COPY --chmod=0755 deploy/docker/healthcheck.sh /usr/local/bin/pictor-healthcheck

# No MALLOC_ARENA_MAX or other MALLOC_* variable: pictor tunes glibc's malloc
# itself (one arena, decoder buffers kept for reuse; imaging.MallocConfig), and a
# variable set here would override that setting.
ENV PICTOR_ADDR=:8080 \
	PICTOR_DATA_DIR=/data

# Numeric, so Kubernetes' runAsNonRoot can verify it without a passwd lookup.
USER 10001:10001
WORKDIR /data
EXPOSE 8080
VOLUME /data
# bash's /dev/tcp against GET /healthz on PICTOR_ADDR: no curl in the image.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
	CMD ["pictor-healthcheck"]
ENTRYPOINT ["pictor"]
CMD ["serve"]
