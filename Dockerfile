# syntax=docker/dockerfile:1
# Gatehouse's container image: a static binary on distroless, run as a
# non-root user, the SQLite database (and its generated SECRET_KEY) on the
# /data volume. Build and run:
#
#   docker build -t gatehouse .
#   docker run -p 8080:8080 -v gatehouse-data:/data gatehouse
#
# compose.yaml runs it with PostgreSQL behind Caddy. TestDockerfile
# (deploy_test.go) runs deploy/build.sh and starts the result as this file
# describes, so the steps stay true without a Docker engine.

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first: this layer is reused while go.mod and go.sum do not change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN deploy/build.sh /out/gatehouse && mkdir -p /out/data

# distroless/static: CA certificates and time zones, no shell, no libc; its
# :nonroot tag runs as uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gatehouse /usr/local/bin/gatehouse
COPY --from=build --chown=65532:65532 /out/data /data
ENV ADDR=:8080 DATABASE_URL=/data/gatehouse.db
VOLUME /data
EXPOSE 8080
USER 65532:65532
# No curl or wget in the image: the binary asks its own /readyz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
	CMD ["/usr/local/bin/gatehouse", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/gatehouse"]
CMD ["serve"]
