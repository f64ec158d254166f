#!/usr/bin/env bash
# Regenerates the TypeScript reader/builder classes of TFLite's flatbuffer schema
# (main/export/tflite/schema/schema.fbs) into main/export/tflite/generated/,
# or into the folder given as the first argument (the test compares the two).
#
# Needs flatc (Debian: apt-get install flatbuffers-compiler). Debian's flatc
# 2.0.8 rejects `(deprecated)` on enum and union values, which the schema has
# since TFLite retired REDUCE_WINDOW; they are stripped from a copy first (the
# values themselves stay, so every number keeps its meaning). flatc 2.0.8 also
# writes relative imports without an extension, which Node's ES module
# resolution needs: `.js` is added.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
schema="$root/main/export/tflite/schema/schema.fbs"
out="${1:-$root/main/export/tflite/generated}"

command -v flatc >/dev/null 2>&1 || {
  echo "generate-tflite-schema: flatc not found (apt-get install flatbuffers-compiler)" >&2
  exit 2
}

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# `NAME = 205 (deprecated),` in an enum and `NameOptions (deprecated),` in a union.
sed -E 's/^([[:space:]]*[A-Za-z0-9_]+([[:space:]]*=[[:space:]]*[0-9]+)?)[[:space:]]*\(deprecated\)[[:space:]]*,/\1,/' "$schema" >"$work/schema.fbs"
flatc --ts -o "$work/ts" "$work/schema.fbs"

# from './tflite/buffer' → from './tflite/buffer.js'
find "$work/ts" -name '*.ts' -print0 | xargs -0 sed -i -E "s#(from '\.{1,2}/[^']*)';#\1.js';#"

rm -rf "$out"
mkdir -p "$out"
cp -R "$work/ts/." "$out/"
