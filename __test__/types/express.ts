// Type tests for tract-node/express (compiled under strict by `npm test`).
import http from 'node:http'
import express from 'express'
import { inferenceRouter } from '../../express.js'
import { InferenceSession } from '../../index.js'

async function main(): Promise<void> {
  const session = await InferenceSession.create('model.onnx', { batching: { maxDelayMs: 2 } })
  const router = inferenceRouter({ models: { iris: session }, bodyLimit: 1 << 20, timeoutMs: 1000 })
  const app = express()
  app.use(router)
  const server: http.Server = http.createServer(router.handler(app))
  server.close()
  await router.close()
  inferenceRouter({ models: { iris: session }, dashboard: true })
  inferenceRouter({ models: { iris: session }, dashboard: { path: '/admin/models' } })
  const limits: { maxBatchSize: number } | null = session.batching
  void limits
  void session.producer.length
  void session.opsets.map((o) => o.domain)
  // @ts-expect-error: the dashboard option is a boolean or { path }
  inferenceRouter({ models: { iris: session }, dashboard: '/dashboard' })
  // @ts-expect-error: handler needs the listener for the other requests
  router.handler()
  // @ts-expect-error: models map names to sessions or models
  inferenceRouter({ models: { iris: 'model.onnx' } })
  // @ts-expect-error: models are required
  inferenceRouter({})
}

void main
