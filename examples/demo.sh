#!/usr/bin/env bash
# The main job end to end, on a fresh machine: build the part-counter example for
# wasm32-wasip2, make a signing key, trust it, pack and sign the algorithm, verify
# the package, and run it on the coins photograph. Ends with the verdict.
#
# Everything it makes goes to target/demo/ (recreated on every run).
set -euo pipefail
cd "$(dirname "$0")/.."

rustup toolchain install
rustup target add wasm32-wasip2

cargo build -p part-counter --release --target wasm32-wasip2
cargo build -p pv-host-cli
pv_host=target/debug/pv-host
demo=target/demo
rm -rf "$demo"
mkdir -p "$demo"

set -x
"$pv_host" keygen --out "$demo/vendor"
"$pv_host" trust add "$demo/vendor.pub" --trust "$demo/trust"
"$pv_host" pack target/wasm32-wasip2/release/part_counter.wasm \
    --manifest examples/part-counter/manifest.json \
    --key "$demo/vendor.key" -o "$demo/part-counter.pkg.wasm"
"$pv_host" verify "$demo/part-counter.pkg.wasm" --trust "$demo/trust"
"$pv_host" run "$demo/part-counter.pkg.wasm" --trust "$demo/trust" \
    --pid A01 --image examples/images/coins.png --params '{"expected_count": 24}'
