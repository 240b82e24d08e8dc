#!/bin/sh
# Builds the gatehouse binary the container image ships, into $1: static
# (the cgo SQLite driver and glibc linked in, so the image needs no libc),
# without local paths (-trimpath) or debug symbols. The Dockerfile runs
# this script; so does TestDockerImageBuildSteps (deploy_test.go), so the
# image's build is tested on a machine without Docker.
#
#   netgo, osusergo             Go's own DNS resolver and user lookup: a
#                               static glibc cannot load NSS modules
#   sqlite_omit_load_extension  no dlopen in a static binary (SQLite
#                               extensions are not used)
set -eu
out="${1:?usage: deploy/build.sh OUTPUT}"
cd "$(dirname "$0")/.."
CGO_ENABLED=1 exec go build -trimpath \
	-tags 'netgo osusergo sqlite_omit_load_extension' \
	-ldflags '-s -w -linkmode external -extldflags "-static"' \
	-o "$out" .
