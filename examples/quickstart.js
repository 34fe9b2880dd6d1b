// Quickstart: classify iris flowers with a scikit-learn model exported to ONNX.
// Run with `npm start` (or `node examples/quickstart.js`).
const { InferenceSession, Tensor } = require('tract-node')
const path = require('node:path')
const { labels, samples } = require('./models/iris.json')

async function main() {
  const session = await InferenceSession.create(path.join(__dirname, 'models', 'iris.onnx'))
  const features = new Tensor('float32', samples.flat(), [samples.length, 4])

  // Runs on tract-node's native thread pool: the event loop stays free meanwhile.
  const { probabilities } = await session.run({ features })

  for (const [i, flower] of samples.entries()) {
    const scores = Array.from(probabilities.data.subarray(i * 3, i * 3 + 3))
    const best = scores.indexOf(Math.max(...scores))
    const shown = scores.map((p, k) => `${labels[k]} ${(p * 100).toFixed(1)}%`).join(', ')
    console.log(`[${flower.join(', ')}] -> ${labels[best].padEnd(10)} (${shown})`)
  }
  await session.release()
}

main().catch((error) => {
  console.error(`${error.code ?? 'ERROR'}: ${error.message}`)
  process.exitCode = 1
})
