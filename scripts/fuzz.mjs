// `npm run fuzz -- --minutes N [--targets model,kserve,records]`: runs each fuzz target of
// scripts/fuzz/main.rs for N minutes (one at a time, on all cores the machine gives one process)
// and prints a table of executions and findings, also written to target/fuzz/report.json.
// Findings (inputs that panicked, broke a property or ran over 10 s) land in target/fuzz/findings/;
// each one becomes a regression fixture under __test__/fixtures/fuzz/.
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '1' }, targets: { type: 'string', default: 'model,kserve,records' } } })
const root = fileURLToPath(new URL('..', import.meta.url))
const target = `${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-unknown-linux-gnu`
const cargo = ['--release', '--target', target, '--no-default-features', '--features', 'profile', '--example', 'fuzz']
execFileSync('cargo', ['build', ...cargo], { cwd: root, stdio: 'inherit' })
const findings = `${root}target/fuzz/findings`
mkdirSync(findings, { recursive: true })
const reports = values.targets.split(',').map((name) => {
  const seconds = String(Math.round(Number(values.minutes) * 60))
  const out = execFileSync('cargo', ['run', '-q', ...cargo, '--', name, seconds, findings], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 1 << 24,
  })
  return JSON.parse(out.toString().trim().split('\n').at(-1))
})
const machine = `${os.cpus().length} × ${os.cpus()[0].model}`
console.log(`\n${machine}\n`)
console.log('| target | minutes | executions | executions/s | distinct outcomes | corpus | findings |')
console.log('|---|---:|---:|---:|---:|---:|---:|')
for (const r of reports) {
  console.log(
    `| ${r.target} | ${(r.seconds / 60).toFixed(1)} | ${r.executions.toLocaleString('en')} | ${Math.round(r.executions / r.seconds).toLocaleString('en')} | ${r.outcomes} | ${r.corpus} | ${r.findings.length} |`,
  )
}
writeFileSync(`${root}target/fuzz/report.json`, JSON.stringify({ date: new Date().toISOString(), machine, reports }, null, 2) + '\n')
if (reports.some((r) => r.findings.length > 0)) process.exitCode = 1
