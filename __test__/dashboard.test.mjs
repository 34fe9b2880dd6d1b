// The dashboard in a real browser: Debian's headless Chromium driven by puppeteer-core. The demo
// server's page shows the wine model's generated form, scikit-learn's label for a valid record and
// Django's messages next to the right inputs for an invalid one, live metrics, and loads nothing
// from anywhere but the server; hostile model and field names render as text. Screenshots go to
// target/screenshots/.
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, readFileSync } from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'

import express from 'express'

import { InferenceSession, Model, Pipeline, Schema } from '../index.js'
import { inferenceRouter } from '../express.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const screenshots = path.join(root, 'target/screenshots')
const samples = JSON.parse(readFileSync(path.join(root, 'examples/models/wine.samples.json'), 'utf8'))

/** Chromium's executable: $CHROMIUM_PATH, or `chromium` / `chromium-browser` on PATH, as an absolute path. */
const chromium = (() => {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH
  for (const name of ['chromium', 'chromium-browser']) {
    try {
      return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim()
    } catch {
      // not this one
    }
  }
  return null
})()
const noBrowser = chromium ? false : 'no Chromium on PATH (Debian: apt-get install chromium) and CHROMIUM_PATH unset'

let browser
before(async () => {
  if (!chromium) return
  const puppeteer = (await import('puppeteer-core')).default
  browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] })
  mkdirSync(screenshots, { recursive: true })
})
after(() => browser?.close())

/** A page that records every request and refuses those leaving `origin`. */
async function openPage(origin) {
  const page = await browser.newPage()
  await page.setViewport({ width: 1200, height: 900 })
  const outside = []
  const problems = []
  await page.setRequestInterception(true)
  page.on('request', (request) => {
    if (new URL(request.url()).origin === origin) request.continue()
    else {
      outside.push(request.url())
      request.abort()
    }
  })
  page.on('pageerror', (error) => problems.push(error.message))
  // The 400s of invalid records are answers, not problems.
  page.on('console', (message) => message.type() === 'error' && !/status of 400/.test(message.text()) && problems.push(message.text()))
  page.on('dialog', async (dialog) => {
    problems.push(`dialog: ${dialog.message()}`)
    await dialog.dismiss()
  })
  return { page, outside, problems }
}

/** Fills the wine form with `record` (a field missing from it is left empty) and submits it. */
async function submitWine(page, record) {
  const form = 'form[data-model="wine"]'
  for (const name of Object.keys(samples.records[0])) {
    await page.$eval(`${form} [name="${name}"]`, (input) => (input.value = ''))
    if (record[name] !== undefined) await page.type(`${form} [name="${name}"]`, String(record[name]))
  }
  await page.click(`${form} button[type="submit"]`)
}

test('the demo server dashboard: a generated form, predictions, field errors, live charts', { skip: noBrowser }, async () => {
  const server = spawn(process.execPath, [path.join(root, 'examples/server.js')], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'] })
  try {
    const origin = await new Promise((resolve, reject) => {
      server.stdout.on('data', (chunk) => {
        const match = /listening on (http:\/\/[\d.:]+)/.exec(String(chunk))
        if (match) resolve(match[1])
      })
      server.once('exit', (code) => reject(new Error(`server exited with ${code}`)))
    })
    const { page, outside, problems } = await openPage(origin)
    const response = await page.goto(`${origin}/dashboard`)
    assert.match(response.headers()['content-security-policy'], /default-src 'none'; script-src 'self'/)
    await page.waitForSelector('form[data-model="wine"]')

    // One input per Schema field, as Django's admin would make it: numbers with their min, required.
    const inputs = await page.$$eval('form[data-model="wine"] input', (all) =>
      all.map((i) => ({ name: i.name, type: i.type, min: i.min, required: i.getAttribute('aria-required') })),
    )
    assert.deepEqual(
      inputs.map((i) => i.name),
      Object.keys(samples.records[0]),
    )
    assert.ok(inputs.every((i) => i.type === 'number' && i.min === '0' && i.required === 'true'))
    const labelled = await page.$$eval('form[data-model="wine"] input', (all) => all.every((i) => i.labels.length === 1))
    assert.ok(labelled, 'every input has its label')

    // A valid record: scikit-learn's label, and a bar per class.
    for (const [i, record] of samples.records.entries()) {
      await submitWine(page, record)
      await page.waitForFunction(
        (label) => document.querySelector('form[data-model="wine"] [data-result] .label')?.textContent === `label: ${label}`,
        { timeout: 10_000 },
        samples.predict[i],
      )
    }
    assert.equal(await page.$$eval('form[data-model="wine"] [data-result] .bar', (bars) => bars.length), 3)
    await page.screenshot({ path: path.join(screenshots, 'dashboard-prediction.png'), fullPage: true })

    // An invalid record: Django's message next to each bad input, nothing next to the good ones.
    await submitWine(page, { ...samples.records[0], alcohol: -1, malic_acid: undefined })
    await page.waitForFunction(() => document.querySelector('[data-error-for="malic_acid"]')?.textContent !== '')
    const errorFor = (name) => page.$eval(`form[data-model="wine"] [data-error-for="${name}"]`, (e) => e.textContent)
    assert.equal(await errorFor('malic_acid'), 'This field is required.')
    assert.equal(await errorFor('alcohol'), 'Ensure this value is greater than or equal to 0.')
    assert.equal(await errorFor('ash'), '')
    assert.equal(await page.$eval('form[data-model="wine"] [data-result]', (e) => e.textContent), '')
    await page.screenshot({ path: path.join(screenshots, 'dashboard-errors.png'), fullPage: true })

    // Live metrics: the requests made above show up within a refresh or two.
    await page.waitForFunction(() => [...document.querySelectorAll('.chart .value')].some((v) => Number(v.textContent) > 0), { timeout: 10_000 })
    await page.waitForFunction(() => document.querySelector('.errors-list').textContent === 'ERR_VALIDATION: 1', { timeout: 10_000 })

    assert.deepEqual(outside, [], 'requests that left the server')
    assert.deepEqual(problems, [], 'page errors')
    await page.close()
  } finally {
    server.kill('SIGTERM')
  }
})

test('hostile model and field names render as text; the tensor form answers /infer', { skip: noBrowser }, async () => {
  const hostileModel = '<img src=x onerror=alert(1)>'
  const hostileField = '"><script>alert(2)</script>'
  const iris = await InferenceSession.create(path.join(root, 'examples/models/iris.onnx'))
  const fields = { [hostileField]: { type: 'float' }, sepal_width: { type: 'float' }, petal_length: { type: 'float' }, petal_width: { type: 'float' } }
  const pipeline = new Pipeline(
    new Schema(fields),
    Object.keys(fields).map((column) => ({ column, transform: 'passthrough' })),
  )
  await pipeline.fit([{ [hostileField]: 1, sepal_width: 1, petal_length: 1, petal_width: 1 }])
  const model = await Model.create({ session: iris, pipeline })
  const router = inferenceRouter({ models: { [hostileModel]: model, tensors: iris }, dashboard: { path: '/admin/models' } })
  const app = express()
  app.use(router)
  const server = http.createServer(router.handler(app))
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${server.address().port}`
  try {
    const { page, outside, problems } = await openPage(origin)
    await page.goto(`${origin}/admin/models`)
    await page.waitForSelector('form[data-model="tensors"]')
    const headings = await page.$$eval('h2', (all) => all.map((h) => h.textContent))
    assert.deepEqual(headings, [hostileModel, 'tensors'])
    assert.equal(await page.$$eval('img, script:not([src])', (all) => all.length), 0)
    const labels = await page.$$eval('form label', (all) => all.map((l) => l.textContent))
    assert.ok(labels.includes(hostileField))
    const formName = await page.$eval('form', (form) => form.dataset.model)
    assert.equal(formName, hostileModel)

    // The hostile-named model still predicts, through its percent-encoded route.
    for (const input of await page.$$('form:first-of-type input')) await input.type('5.1')
    await page.click('form button[type="submit"]')
    await page.waitForFunction(() => document.querySelector('[data-result] .label'), { timeout: 10_000 })

    // The session's JSON editor starts with a valid request for /infer.
    await page.click('form[data-model="tensors"] button[type="submit"]')
    await page.waitForFunction(() => document.querySelector('form[data-model="tensors"] [data-result] pre'), { timeout: 10_000 })
    const answer = JSON.parse(await page.$eval('form[data-model="tensors"] [data-result] pre', (e) => e.textContent))
    assert.equal(answer.model_name, 'tensors')
    assert.deepEqual(
      answer.outputs.map((o) => o.name),
      iris.outputNames,
    )
    await page.screenshot({ path: path.join(screenshots, 'dashboard-hostile.png'), fullPage: true })
    assert.deepEqual(outside, [])
    assert.deepEqual(problems, [])
    await page.close()
  } finally {
    server.close()
    await iris.release()
  }
})

test('the dashboard is off unless asked; its API describes the models; its path is checked', async () => {
  const iris = await InferenceSession.create(path.join(root, 'examples/models/iris.onnx'), { batching: { maxBatchSize: 8 } })
  const serve = async (options, run) => {
    const app = express()
    const router = inferenceRouter({ models: { iris }, ...options })
    app.use(router)
    const server = http.createServer(router.handler(app))
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      await run(`http://127.0.0.1:${server.address().port}`)
    } finally {
      server.close()
    }
  }
  try {
    await serve({}, async (origin) => assert.equal((await fetch(`${origin}/dashboard`)).status, 404))
    await serve({ dashboard: true }, async (origin) => {
      const page = await fetch(`${origin}/dashboard`)
      assert.equal(page.status, 200)
      assert.match(page.headers.get('content-security-policy'), /default-src 'none'/)
      assert.equal(page.headers.get('x-content-type-options'), 'nosniff')
      assert.match(await page.text(), /<script src="\/dashboard\/app.js" defer><\/script>/)
      const [model] = await (await fetch(`${origin}/dashboard/api/models`)).json()
      assert.deepEqual(
        { name: model.name, kind: model.kind, batching: model.batching, fields: model.fields },
        { name: 'iris', kind: 'session', batching: { maxBatchSize: 8, maxDelayMs: 2, maxQueue: 1024 }, fields: null },
      )
      assert.deepEqual(model.inputs, [{ name: 'features', datatype: 'FP32', shape: [-1, 4], type: 'float32', dims: iris.inputMetadata[0].shape }])
      assert.match(model.producer, /scikit-learn|skl2onnx/)
      const body = JSON.stringify({ inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] })
      await fetch(`${origin}/v2/models/iris/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
      await fetch(`${origin}/v2/models/nope/infer`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
      const { models } = await (await fetch(`${origin}/dashboard/api/metrics`)).json()
      assert.equal(models[0].model, 'iris')
      assert.equal(models[0].requests, 1)
      assert.equal(models[0].runs, 1)
    })
    assert.throws(() => inferenceRouter({ models: { iris }, dashboard: { path: 'dashboard' } }), { code: 'ERR_INVALID_ARG' })
    assert.throws(() => inferenceRouter({ models: { iris }, dashboard: { path: '/a/../b' } }), { code: 'ERR_INVALID_ARG' })
  } finally {
    await iris.release()
  }
})
