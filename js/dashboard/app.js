// The dashboard's page script (runs in the browser). Builds every element with DOM calls and puts
// every name and message in as text, never as markup: a model or field named like an HTML tag shows
// as that text. Talks only to this server: api/models, api/metrics and the inference routes.
'use strict'

const base = document.body.dataset.base
const HISTORY = 60 // samples per chart: two minutes at one sample every 2 s

/** `el('p', { className: 'meta' }, 'text', child)`: an element with properties and children. */
function el(tag, properties = {}, ...children) {
  const element = document.createElement(tag)
  for (const [key, value] of Object.entries(properties)) {
    if (key === 'dataset') Object.assign(element.dataset, value)
    else if (key.startsWith('aria-') || key === 'for' || key === 'role') element.setAttribute(key, value)
    else element[key] = value
  }
  element.append(...children.filter((child) => child !== null && child !== undefined))
  return element
}

const shapeText = (dims) => `[${dims.map((d) => (d === '' ? '?' : String(d))).join(', ')}]`

/** Metadata of one model: producer, opsets, batching, inputs and outputs. */
function metadataView(model) {
  const opsets = model.opsets.map((o) => `${o.domain} ${o.version}`).join(', ')
  const batching = model.batching
    ? `batching up to ${model.batching.maxBatchSize} rows, ${model.batching.maxDelayMs} ms, ${model.batching.maxQueue} waiting`
    : 'no batching'
  const rows = (values, kind) =>
    values.map((v) => el('tr', {}, el('td', {}, kind), el('td', {}, el('code', {}, v.name)), el('td', {}, v.type), el('td', {}, shapeText(v.dims))))
  const table = el(
    'table',
    {},
    el('caption', { className: 'meta' }, 'Inputs and outputs'),
    el(
      'thead',
      {},
      el('tr', {}, el('th', { scope: 'col' }, ''), el('th', { scope: 'col' }, 'name'), el('th', { scope: 'col' }, 'type'), el('th', { scope: 'col' }, 'shape')),
    ),
    el('tbody', {}, ...rows(model.inputs, 'in'), ...rows(model.outputs, 'out')),
  )
  return [
    el(
      'p',
      { className: 'meta' },
      `${model.kind === 'model' ? 'Model (records)' : 'Session (tensors)'} · ${model.producer || 'unknown producer'} · ${opsets} · ${batching}`,
    ),
    table,
  ]
}

let nextId = 0

/** One form input for a Schema field, as Django's admin would make it. */
function fieldInput(name, field, id) {
  const common = { id, name, 'aria-describedby': `${id}-error` }
  if (field.choices) {
    const select = el('select', common, el('option', { value: '' }, field.nullable ? '(null)' : '—'))
    field.choices.forEach((choice) => select.append(el('option', { value: JSON.stringify(choice) }, String(choice))))
    return select
  }
  switch (field.type) {
    case 'int':
    case 'float': {
      const input = el('input', { ...common, type: 'number', step: field.type === 'int' ? '1' : 'any' })
      if (field.min !== undefined) input.min = String(field.min)
      if (field.max !== undefined) input.max = String(field.max)
      return input
    }
    case 'bool':
      return el('input', { ...common, type: 'checkbox' })
    case 'date':
      return el('input', { ...common, type: 'date' })
    case 'datetime':
      return el('input', { ...common, type: 'datetime-local', step: '1' })
    default: {
      const input = el('input', { ...common, type: 'text' })
      if (field.maxLength !== undefined) input.maxLength = field.maxLength
      if (field.minLength !== undefined) input.minLength = field.minLength
      return input
    }
  }
}

/** A field's value as the record takes it; `undefined` leaves the key out. */
function fieldValue(input, field) {
  if (input.type === 'checkbox') return input.checked
  const text = input.value
  if (text === '') return field.nullable ? null : field.type === 'string' ? '' : undefined
  if (input.tagName === 'SELECT') return JSON.parse(text)
  if (field.type === 'int' || field.type === 'float') return Number.isFinite(Number(text)) ? Number(text) : text
  return text
}

/** POSTs JSON to an inference route: `{ ok, body }` (body parsed when it is JSON). */
async function post(model, route, body) {
  const response = await fetch(`/v2/models/${encodeURIComponent(model)}/${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  })
  const text = await response.text()
  try {
    return { ok: response.ok, body: JSON.parse(text) }
  } catch {
    return { ok: response.ok, body: { error: { code: `HTTP_${response.status}`, message: text } } }
  }
}

/** A prediction: the label, and each class's probability as a bar. */
function predictionView(prediction, labels) {
  if ('value' in prediction) return el('p', { className: 'label' }, `value: ${JSON.stringify(prediction.value)}`)
  const view = el('div', {}, el('p', { className: 'label' }, `label: ${String(prediction.label)}`))
  ;(prediction.probabilities ?? []).forEach((p, i) => {
    const fill = el('div', { className: 'fill' })
    fill.style.width = `${(100 * p).toFixed(1)}%`
    view.append(
      el(
        'div',
        { className: 'bar' },
        el('span', {}, String(labels?.[i] ?? `class ${i}`)),
        el('div', { className: 'track' }, fill),
        el('span', {}, `${(100 * p).toFixed(1)} %`),
      ),
    )
  })
  return view
}

/** The "try it" form of a Model: one input per Schema field; field errors next to their inputs. */
function recordForm(model) {
  const form = el('form', { noValidate: true, dataset: { model: model.name }, 'aria-label': `Try ${model.name}` })
  const inputs = new Map()
  for (const [name, field] of Object.entries(model.fields)) {
    const id = `field-${nextId++}`
    const required = field.required ?? field.default === undefined
    const input = fieldInput(name, field, id)
    if (required) input.setAttribute('aria-required', 'true')
    const label = el('label', { for: id, className: required ? 'required' : '' }, field.label ?? name)
    const error = el('div', { id: `${id}-error`, className: 'error', dataset: { errorFor: name } })
    form.append(el('div', { className: 'field' }, label, input, error))
    inputs.set(name, { input, field, error })
  }
  const general = el('div', { className: 'error', dataset: { errorFor: '' } })
  const result = el('div', { className: 'result', dataset: { result: '' }, 'aria-live': 'polite' })
  form.append(general, el('button', { type: 'submit' }, 'Predict'), result)
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    const record = {}
    for (const [name, { input, field, error }] of inputs) {
      const value = fieldValue(input, field)
      if (value !== undefined) record[name] = value
      error.textContent = ''
      input.removeAttribute('aria-invalid')
    }
    general.textContent = ''
    result.replaceChildren()
    const { ok, body } = await post(model.name, 'predict', JSON.stringify(record))
    if (ok) {
      result.append(predictionView(body.predictions[0], model.labels))
      return
    }
    for (const problem of body.error?.errors ?? []) {
      const target = inputs.get(problem.path)
      if (target) {
        target.error.textContent = problem.message
        target.input.setAttribute('aria-invalid', 'true')
      } else general.append(el('div', {}, `${problem.path ? `${problem.path}: ` : ''}${problem.message}`))
    }
    if (!body.error?.errors?.length) general.textContent = `${body.error?.code}: ${body.error?.message}`
  })
  return form
}

/** An example `/infer` request for a session: zeros of each input's shape (open dims as 1). */
function exampleRequest(model) {
  const inputs = model.inputs.map(({ name, datatype, shape }) => {
    const dims = shape.map((d) => (d < 0 ? 1 : d))
    const count = dims.reduce((a, b) => a * b, 1)
    const zero = datatype === 'BYTES' ? '' : datatype === 'BOOL' ? false : 0
    return { name, shape: dims, datatype, data: Array.from({ length: Math.min(count, 100_000) }, () => zero) }
  })
  return JSON.stringify({ inputs }, null, 1)
}

/** The "try it" form of a bare session: a JSON editor with an example request for `/infer`. */
function tensorForm(model) {
  const id = `request-${nextId++}`
  const editor = el('textarea', { id, name: 'request', spellcheck: false, value: exampleRequest(model) })
  const general = el('div', { className: 'error', dataset: { errorFor: '' } })
  const result = el('div', { className: 'result', dataset: { result: '' }, 'aria-live': 'polite' })
  const form = el(
    'form',
    { noValidate: true, dataset: { model: model.name }, 'aria-label': `Try ${model.name}` },
    el('label', { for: id }, 'KServe V2 request'),
    editor,
    general,
    el('button', { type: 'submit' }, 'Infer'),
    result,
  )
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    general.textContent = ''
    result.replaceChildren()
    const { ok, body } = await post(model.name, 'infer', editor.value)
    if (ok) result.append(el('pre', {}, JSON.stringify(body, null, 1)))
    else general.textContent = `${body.error?.code}: ${body.error?.message}`
  })
  return form
}

/** A small line chart with its latest value. */
function chart(caption) {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg')
  svg.setAttribute('viewBox', `0 0 ${HISTORY - 1} 40`)
  svg.setAttribute('preserveAspectRatio', 'none')
  svg.setAttribute('aria-hidden', 'true')
  const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline')
  line.setAttribute('vector-effect', 'non-scaling-stroke')
  svg.append(line)
  const value = el('span', { className: 'value' }, '—')
  const figure = el('figure', { className: 'chart' }, el('figcaption', {}, caption), value, svg)
  const points = []
  return {
    figure,
    push(number, text) {
      points.push(number ?? 0)
      if (points.length > HISTORY) points.shift()
      const top = Math.max(...points, 1e-9)
      line.setAttribute('points', points.map((p, i) => `${i + HISTORY - points.length},${(40 - (38 * p) / top).toFixed(2)}`).join(' '))
      value.textContent = text
    },
  }
}

/** The live metrics of one model: charts fed by `update(sample, previous)`. */
function metricsView() {
  const charts = {
    rate: chart('requests/s'),
    p50: chart('p50 latency (ms)'),
    p99: chart('p99 latency (ms)'),
    batch: chart('mean batch size'),
    queue: chart('queue depth'),
  }
  const errors = el('ul', { className: 'errors-list', 'aria-label': 'errors by code' })
  const view = el('div', {}, el('div', { className: 'charts' }, ...Object.values(charts).map((c) => c.figure)), errors)
  const number = (n, digits = 2) => (n === null || n === undefined ? '—' : n.toFixed(digits))
  return {
    view,
    update(sample, previous, seconds) {
      const rate = previous && seconds > 0 ? Math.max(0, sample.requests - previous.requests) / seconds : 0
      charts.rate.push(rate, number(rate, 1))
      charts.p50.push(sample.p50Ms, number(sample.p50Ms, 3))
      charts.p99.push(sample.p99Ms, number(sample.p99Ms, 3))
      charts.batch.push(sample.meanBatchSize, number(sample.meanBatchSize))
      charts.queue.push(sample.queueDepth, number(sample.queueDepth, 0))
      errors.replaceChildren(...Object.entries(sample.errors).map(([code, count]) => el('li', {}, `${code}: ${count}`)))
    },
  }
}

async function getJson(route) {
  const response = await fetch(`${base}/api/${route}`)
  if (!response.ok) throw new Error(`${route}: HTTP ${response.status}`)
  return response.json()
}

async function main() {
  const status = document.getElementById('status')
  const models = await getJson('models')
  const views = new Map()
  const container = document.getElementById('models')
  for (const model of models) {
    const metrics = metricsView()
    views.set(model.name, metrics)
    const form = model.kind === 'model' ? recordForm(model) : tensorForm(model)
    container.append(
      el(
        'section',
        { className: 'model', 'aria-label': model.name },
        el('h2', {}, model.name),
        ...metadataView(model),
        el('div', { className: 'columns' }, el('div', {}, el('h3', {}, 'Try it'), form), el('div', {}, el('h3', {}, 'Live metrics'), metrics.view)),
      ),
    )
  }
  status.textContent = `${models.length} model${models.length === 1 ? '' : 's'} served`
  let previous = null
  const refresh = async () => {
    try {
      const snapshot = await getJson('metrics')
      const seconds = previous ? (snapshot.time - previous.time) / 1000 : 0
      for (const sample of snapshot.models) {
        const before = previous?.models.find((m) => m.model === sample.model)
        views.get(sample.model)?.update(sample, before, seconds)
      }
      previous = snapshot
    } catch (error) {
      status.textContent = `metrics unavailable: ${error.message}`
    }
  }
  await refresh()
  setInterval(refresh, 2000)
}

main().catch((error) => {
  document.getElementById('status').textContent = `The dashboard could not load: ${error.message}`
})
