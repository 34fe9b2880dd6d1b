#!/usr/bin/env bash
# Packs tract-node and its platform package the way they would be published, installs both tarballs
# into an empty directory outside the repository, and checks there what a user gets: require(),
# import, the express and queue entries, a model run, the CLI, and strict TypeScript over every exported API.
# Prints the installed size. Uses the addon built by `npm run build` or `npm run build:dev` (builds
# it with build:dev when there is none).
#
#   bash scripts/pack-smoke.sh          (or: npm run pack-smoke)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
addon=tract-node.linux-x64-gnu.node
platform=npm/linux-x64-gnu

[ -f "$addon" ] || npm run build:dev
work="$(mktemp -d "${TMPDIR:-/tmp}/tract-node-pack.XXXXXX")"
trap 'rm -rf "$work"; rm -f "$platform/$addon"' EXIT

echo "=== pack"
cp "$addon" "$platform/"
mapfile -t tarballs < <(node scripts/pack.mjs "$work" linux-x64-gnu)
main_tgz="$(basename "${tarballs[0]}")"
platform_tgz="$(basename "${tarballs[1]}")"
for tgz in "$main_tgz" "$platform_tgz"; do
  printf '%s: %s\n' "$tgz" "$(du -h "$work/$tgz" | cut -f1)"
done

echo "=== install into an empty directory"
app="$work/app"
mkdir -p "$app"
cp examples/models/wine.onnx examples/models/wine.pipeline.json examples/models/wine.samples.json "$app/"
cd "$app"
cat > package.json <<JSON
{ "name": "tract-node-smoke", "version": "1.0.0", "private": true }
JSON
npm install --no-audit --no-fund --loglevel=error "../$main_tgz" "../$platform_tgz" >/dev/null
# What a user's node_modules weighs with tract-node alone (before the tools this check adds).
installed_size="$(du -sh node_modules | cut -f1)"
test ! -e node_modules/tract-node/src   # only what users need is packed
test -f node_modules/tract-node-linux-x64-gnu/$addon
npm install --no-audit --no-fund --loglevel=error express@5 bullmq@6 typescript@5.9 @types/node@20 @types/express@5 >/dev/null

echo "=== require (CommonJS)"
cat > smoke.cjs <<'JS'
const assert = require('node:assert')
const { InferenceSession, Pipeline, Model, Tensor, ErrorCode, inspectModel } = require('tract-node')
const { inferenceRouter } = require('tract-node/express')
const { createWorker, enqueue, enqueueFile } = require('tract-node/queue')
const fs = require('node:fs')
;(async () => {
  assert.equal(typeof inferenceRouter, 'function')
  assert.deepEqual([createWorker, enqueue, enqueueFile].map((f) => typeof f), ['function', 'function', 'function'])
  const report = await inspectModel('wine.onnx')
  assert.deepEqual(report.unsupported, [])
  const session = await InferenceSession.create('wine.onnx')
  const { probabilities } = await session.run({ features: new Tensor('float32', new Float32Array(13), [1, 13]) })
  assert.deepEqual(probabilities.dims, [1, 3])
  const samples = JSON.parse(fs.readFileSync('wine.samples.json', 'utf8'))
  const pipeline = Pipeline.fromJSON(fs.readFileSync('wine.pipeline.json', 'utf8'))
  const model = await Model.create({ session, pipeline, labels: samples.labels })
  const predictions = await model.predict(samples.records)
  assert.deepEqual(predictions.map((p) => p.label), samples.predict)
  await session.run({}).catch((e) => assert.equal(e.code, ErrorCode.ErrInputMissing))
  await session.release()
  console.log('require: ok')
})().catch((e) => {
  console.error(e)
  process.exit(1)
})
JS
node smoke.cjs

echo "=== import (ESM)"
cat > smoke.mjs <<'JS'
import assert from 'node:assert'
import tractNode, { InferenceSession, Tensor } from 'tract-node'
import { inferenceRouter } from 'tract-node/express'
import express from 'express'

assert.equal(tractNode.InferenceSession, InferenceSession)
const session = await InferenceSession.create('wine.onnx')
const app = express()
const router = inferenceRouter({ models: { wine: session } })
app.use(router)
const server = app.listen(0)
await new Promise((resolve) => server.once('listening', resolve))
const { port } = server.address()
const response = await fetch(`http://127.0.0.1:${port}/v2/models/wine/infer`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ inputs: [{ name: 'features', shape: [1, 13], datatype: 'FP32', data: new Array(13).fill(0) }] }),
})
assert.equal(response.status, 200)
assert.equal((await response.json()).model_name, 'wine')
server.close()
await router.close()
assert.ok(new Tensor('float32', [1, 2], [2]))
console.log('import: ok')
JS
node smoke.mjs

echo "=== CLI (npx tract-node)"
npx --no-install tract-node inspect wine.onnx >/dev/null
npx --no-install tract-node --version

echo "=== TypeScript (tsc --strict over every exported API)"
mkdir -p types
for file in "$repo"/__test__/types/*.ts; do
  sed -e "s#'../../index.js'#'tract-node'#g" -e "s#'../../express.js'#'tract-node/express'#g" \
    -e "s#'../../queue.js'#'tract-node/queue'#g" "$file" > "types/$(basename "$file")"
done
cat > types/tsconfig.json <<'JSON'
{
  "compilerOptions": {
    "strict": true, "noEmit": true, "module": "nodenext", "moduleResolution": "nodenext",
    "target": "es2022", "types": ["node"], "skipLibCheck": false
  },
  "include": ["*.ts"]
}
JSON
npx --no-install tsc -p types

echo "=== installed size"
echo "node_modules with tract-node and its dependencies: $installed_size"
echo "pack-smoke: ok"
