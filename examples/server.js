// The demo server: a scikit-learn wine classifier behind tract-node's Express router.
//   npm start                  (PORT=3000 by default; PORT=0 picks a free port)
//   curl -s localhost:3000/v2/models/wine/predict -H 'content-type: application/json' \
//     -d '{"alcohol":13.2,"malic_acid":1.78,...}'
//   open http://localhost:3000/dashboard (the model's form, predictions, live metrics)
// SIGTERM / SIGINT: stop accepting, finish requests in flight, release the sessions, exit 0.
const express = require('express')
const fs = require('node:fs')
const http = require('node:http')
const path = require('node:path')
const { InferenceSession, Model, Pipeline } = require('tract-node')
const { inferenceRouter } = require('tract-node/express')

const models = path.join(__dirname, 'models')

async function main() {
  const session = await InferenceSession.create(path.join(models, 'wine.onnx'), {
    batching: { maxBatchSize: 64, maxDelayMs: 2, maxQueue: 4096 },
  })
  const pipeline = Pipeline.fromJSON(fs.readFileSync(path.join(models, 'wine.pipeline.json'), 'utf8'))
  const { labels } = JSON.parse(fs.readFileSync(path.join(models, 'wine.samples.json'), 'utf8'))
  const wine = await Model.create({ session, pipeline, labels })

  const router = inferenceRouter({ models: { wine }, bodyLimit: 1 << 20, dashboard: true })
  const app = express()
  app.disable('x-powered-by')
  app.use(router)

  // The router answers inference requests before Express sees them; the rest go to the app. A
  // client gets 10 s to send its headers and 30 s for its whole request (checked every second), so
  // one that dribbles bytes cannot hold a connection open for minutes.
  const limits = { headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 5_000, connectionsCheckingInterval: 1_000 }
  const server = http.createServer(limits, router.handler(app))
  server.listen(Number(process.env.PORT ?? 3000), () => {
    console.log(`tract-node demo listening on http://127.0.0.1:${server.address().port}`)
  })

  // Stop accepting connections, answer every request already received (inference requests that
  // come on open connections meanwhile get 503), let the answers reach the clients, then exit.
  const shutdown = async (signal) => {
    console.log(`${signal}: finishing requests in flight`)
    const closed = new Promise((resolve) => server.close(resolve))
    await router.close()
    const idle = setInterval(() => server.closeIdleConnections(), 100)
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 10_000).unref())])
    clearInterval(idle)
    console.log('bye')
    process.exit(0)
  }
  process.once('SIGTERM', shutdown)
  process.once('SIGINT', shutdown)
}

main().catch((error) => {
  console.error(`${error.code ?? 'ERROR'}: ${error.message}`)
  process.exit(1)
})
