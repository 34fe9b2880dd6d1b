'use strict'

// The router's metrics, in Prometheus's data model: counters and a latency histogram observed per
// request, and the sessions' own counters (queue depth, batch sizes, rejections) read when scraped.
// Served as Prometheus text by the router's /metrics, or registered into an app's prom-client
// Registry (the same names and labels), where the app's own metrics already are.

/** Upper bounds of the request-latency histogram, in seconds. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

/**
 * One metric family as prom-client represents it: `values` hold `{ labels, value, metricName? }`,
 * `metricName` naming a histogram's `_bucket`, `_sum` and `_count` series.
 * @typedef {{ name: string, help: string, type: 'counter' | 'gauge' | 'histogram', values: Array<{ labels: Record<string, string | number>, value: number, metricName?: string }> }} Family
 */

class Metrics {
  /**
   * @param {string[]} names the served models
   * @param {() => Array<[string, any]>} stats each model's `stats()` (null once released), read at scrape time
   */
  constructor(names, stats) {
    this.stats = stats
    /** @type {Map<string, number>} */
    this.requests = new Map()
    /** @type {Map<string, number>} */
    this.errors = new Map()
    this.latency = new Map(names.map((name) => [name, { buckets: LATENCY_BUCKETS.map(() => 0), sum: 0, count: 0 }]))
  }

  /** Counts a request to `route` of `model` that took `seconds`. */
  observe(model, route, seconds) {
    const key = `${model}\u0000${route}`
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1)
    const histogram = this.latency.get(model)
    if (!histogram) return
    LATENCY_BUCKETS.forEach((le, i) => {
      if (seconds <= le) histogram.buckets[i]++
    })
    histogram.sum += seconds
    histogram.count++
  }

  /** Counts a failed request of `model`, by error code. */
  error(model, code = 'ERR_INTERNAL') {
    const key = `${model}\u0000${code}`
    this.errors.set(key, (this.errors.get(key) ?? 0) + 1)
  }

  /** @returns {Family[]} every family, with its current values */
  families() {
    const stats = this.stats().filter(([, s]) => s)
    return [
      {
        name: 'tract_node_requests_total',
        help: 'Inference requests by model and route.',
        type: 'counter',
        values: [...this.requests].map(([key, value]) => ({ labels: { model: split(key)[0], route: split(key)[1] }, value })),
      },
      {
        name: 'tract_node_errors_total',
        help: 'Failed requests by model and error code.',
        type: 'counter',
        values: [...this.errors].map(([key, value]) => ({ labels: { model: split(key)[0], code: split(key)[1] }, value })),
      },
      {
        name: 'tract_node_request_duration_seconds',
        help: 'Request latency by model.',
        type: 'histogram',
        values: [...this.latency].flatMap(([model, h]) =>
          histogram('tract_node_request_duration_seconds', { model }, LATENCY_BUCKETS, h.buckets, h.sum, h.count, false),
        ),
      },
      {
        name: 'tract_node_queue_depth',
        help: 'Runs waiting for a compute thread or a batch.',
        type: 'gauge',
        values: stats.map(([model, s]) => ({ labels: { model }, value: s.queueDepth })),
      },
      {
        name: 'tract_node_batch_size',
        help: 'Runs per model execution.',
        type: 'histogram',
        values: stats.flatMap(([model, s]) => histogram('tract_node_batch_size', { model }, s.batchSizeBounds, s.batchSizes, s.runs, s.batches, true)),
      },
      {
        name: 'tract_node_rejected_total',
        help: 'Runs rejected by cause.',
        type: 'counter',
        values: stats.flatMap(([model, s]) => Object.entries(s.rejected).map(([cause, value]) => ({ labels: { model, cause }, value }))),
      },
    ]
  }

  /**
   * The same numbers per model as JSON, for the dashboard: counters since start (`requests`,
   * `errors` by code, `runs`, `batches`, `rejected`), the sessions' `p50Ms`, `p99Ms`,
   * `meanBatchSize` and `queueDepth` (null once released), and the time they were read.
   */
  snapshot() {
    const stats = new Map(this.stats())
    const sumFor = (map, model) => [...map].filter(([key]) => split(key)[0] === model)
    const models = [...this.latency.keys()].map((model) => {
      const s = stats.get(model)
      return {
        model,
        requests: sumFor(this.requests, model).reduce((total, [, n]) => total + n, 0),
        errors: Object.fromEntries(sumFor(this.errors, model).map(([key, n]) => [split(key)[1], n])),
        runs: s?.runs ?? null,
        batches: s?.batches ?? null,
        meanBatchSize: s?.meanBatchSize ?? null,
        queueDepth: s?.queueDepth ?? null,
        p50Ms: s?.p50Ms ?? null,
        p99Ms: s?.p99Ms ?? null,
        rejected: s?.rejected ?? null,
      }
    })
    return { time: Date.now(), models }
  }

  /** Every family as Prometheus text, for the router's own /metrics. */
  render() {
    const lines = []
    for (const { name, help, type, values } of this.families()) {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
      for (const { labels, value, metricName = name } of values) {
        const text = Object.entries(labels).map(([key, v]) => `${key}="${escapeLabel(v)}"`)
        lines.push(`${metricName}{${text.join(',')}} ${value}`)
      }
    }
    return lines.join('\n') + '\n'
  }

  /**
   * Registers every family into a prom-client `Registry` (its metrics are read at scrape time);
   * returns the function that removes them again.
   */
  register(registry) {
    if (typeof registry?.registerMetric !== 'function' || typeof registry?.removeSingleMetric !== 'function') {
      throw Object.assign(new Error('registry: expected a prom-client Registry'), { code: 'ERR_INVALID_ARG' })
    }
    for (const { name, help, type } of this.families()) {
      registry.registerMetric({ name, help, type, aggregator: 'sum', get: async () => this.families().find((f) => f.name === name) })
    }
    return () => this.families().forEach(({ name }) => registry.removeSingleMetric(name))
  }
}

/**
 * A histogram's `_bucket`, `_sum` and `_count` series: per-bucket `counts` (made cumulative when
 * `perBucket`; one more than `bounds` then, the last past every bound) or cumulative ones.
 */
function histogram(name, labels, bounds, counts, sum, count, perBucket) {
  let cumulative = 0
  const buckets = bounds.map((le, i) => {
    cumulative = perBucket ? cumulative + counts[i] : counts[i]
    return { labels: { ...labels, le }, value: cumulative, metricName: `${name}_bucket` }
  })
  return [
    ...buckets,
    { labels: { ...labels, le: '+Inf' }, value: count, metricName: `${name}_bucket` },
    { labels, value: sum, metricName: `${name}_sum` },
    { labels, value: count, metricName: `${name}_count` },
  ]
}

/** A counter key's parts: `[model, route]` or `[model, code]`. */
const split = (key) => key.split('\u0000')

/** A label value escaped as the Prometheus text format asks. */
const escapeLabel = (value) => String(value).replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))

module.exports = { Metrics }
