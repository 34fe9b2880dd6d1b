// Types of tract-node/express.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Router } from 'express'
import type { InferenceSession, Model, TextPipeline } from './index'

/** Options of `inferenceRouter`. */
export interface InferenceRouterOptions {
  /**
   * The models to serve, by the name used in routes. A `Model` also serves `/predict` (records), a
   * `TextPipeline` serves `/predict` with `{ texts: [...] }` (embeddings or classes).
   */
  models: Record<string, InferenceSession | Model | TextPipeline>
  /** Largest request body, in bytes (default 1 MiB); larger bodies get 413 after being read. */
  bodyLimit?: number
  /** Longest one inference may take, in milliseconds (default 30,000); then 504. */
  timeoutMs?: number
  /**
   * A prom-client `Registry` (the app's own, typically) to register tract-node's metrics in, with the
   * same names and labels as the router's `/metrics`; the router then serves no `/metrics` of its own.
   * They are removed from it again by `close()`.
   */
  registry?: { registerMetric(metric: unknown): void; removeSingleMetric(name: string): void }
  /**
   * Serve the dashboard (off by default): `true` at `/dashboard`, or `{ path }`. A page listing every
   * served model, a form per `Model` generated from its Schema, and live metrics; its assets ship in
   * the package and it loads nothing from elsewhere.
   */
  dashboard?: boolean | { path?: string }
}

/** A Node request listener, as `http.createServer` takes. */
export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void

/** The router, plus `handler()` for the fastest path and `close()` for graceful shutdown. */
export interface InferenceRouter extends Router {
  /**
   * A plain Node request listener that answers `POST /v2/models/:name/infer` and `…/predict` itself,
   * without Express's per-request work, and hands every other request to `next` (usually the Express
   * app that mounts this router for the other routes): `http.createServer(router.handler(app))`.
   */
  handler(next: RequestListener): RequestListener
  /** Stops accepting inference requests (503), waits for those in flight, then releases every session. */
  close(): Promise<void>
}

/**
 * Mounts `GET /v2/health/live`, `GET /v2/health/ready`, `GET /v2/models/:name`,
 * `POST /v2/models/:name/infer` (KServe V2 JSON), `POST /v2/models/:name/predict` (records) and
 * `GET /metrics` (Prometheus). Errors map to HTTP: validation and bad JSON 400, unknown model 404,
 * body too large 413, wrong content type 415, queue full 503 with Retry-After, timeout 504, else 500.
 */
export declare function inferenceRouter(options: InferenceRouterOptions): InferenceRouter
