#!/usr/bin/env bash
# Builds the grpc-go peer: bench/peers/go/bin/user-server.
#  1. protoc-gen-go / protoc-gen-go-grpc (pinned below) into a cache dir, once;
#  2. Go stubs from packages/api/proto/trellis/user/v1/user.proto into gen/
#     (gitignored) with `npx buf generate`, when the proto or this script changed;
#  3. go build (Go's own build cache makes a rebuild with no change ~instant).
# Idempotent; safe to run before every benchmark.
set -euo pipefail

PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
export GOFLAGS=-buildvcs=false
tools="${TRELLIS_BENCH_GOTOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/trellis-bench/go-tools}/go-${PROTOC_GEN_GO_VERSION}_grpc-${PROTOC_GEN_GO_GRPC_VERSION}"

if [[ ! -x "$tools/protoc-gen-go" || ! -x "$tools/protoc-gen-go-grpc" ]]; then
  mkdir -p "$tools"
  GOBIN="$tools" go install "google.golang.org/protobuf/cmd/protoc-gen-go@${PROTOC_GEN_GO_VERSION}"
  GOBIN="$tools" go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@${PROTOC_GEN_GO_GRPC_VERSION}"
fi

# Regenerate only when an input changed (stamp = hash of protos + template + versions).
stamp_file="$here/gen/.stamp"
stamp="$(cat "$root/packages/api/proto/trellis/user/v1/user.proto" \
  "$root/packages/kit/proto/trellis/validate/v1/validate.proto" \
  "$here/buf.gen.yaml" | sha256sum | cut -d' ' -f1)-$PROTOC_GEN_GO_VERSION-$PROTOC_GEN_GO_GRPC_VERSION"
if [[ ! -f "$stamp_file" || "$(cat "$stamp_file")" != "$stamp" ]]; then
  (cd "$root" && PATH="$tools:$PATH" npx --no-install buf generate --template bench/peers/go/buf.gen.yaml)
  echo "$stamp" > "$stamp_file"
fi

mkdir -p "$here/bin"
(cd "$here" && go build -trimpath -o bin/user-server .)
