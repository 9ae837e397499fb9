#!/usr/bin/env bash
# Generate TypeScript for proto/ with ts-proto. protoc comes from the PyPI package grpcio-tools,
# installed into a private virtual environment (.cache/protoc-venv) on first use.
# `scripts/gen-proto.sh --check` regenerates into a temporary folder and fails if the committed
# code differs (CI runs this).
set -euo pipefail
cd "$(dirname "$0")/.."
GRPC_TOOLS_VERSION=1.85.1
venv=.cache/protoc-venv
if ! "$venv/bin/python" -c "import grpc_tools" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "grpcio-tools==$GRPC_TOOLS_VERSION"
fi
out=packages/protocol/src/gen
target=$out
if [[ "${1:-}" == "--check" ]]; then target=$(mktemp -d); fi
mkdir -p "$target"
"$venv/bin/python" -m grpc_tools.protoc \
  --proto_path=proto \
  --plugin=protoc-gen-ts_proto=node_modules/.bin/protoc-gen-ts_proto \
  --ts_proto_out="$target" \
  --ts_proto_opt=outputServices=grpc-js,esModuleInterop=true,env=node,importSuffix=.js,forceLong=number,useExactTypes=false \
  $(find proto -name '*.proto' | sort)
if [[ "${1:-}" == "--check" ]]; then
  if ! diff -r "$out" "$target" > /dev/null; then
    diff -r "$out" "$target" | head -40
    echo "generated protocol code is stale: run \`npm run proto\` and commit the result" >&2
    exit 1
  fi
  echo "generated protocol code is current"
fi
