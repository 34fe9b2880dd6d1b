// `npm run test:portable`: the Rust and JS suites once more with the portable kernel tier forced
// (TRACT_NODE_CPU=portable), so that the code every CPU falls back to is tested on every CPU.
import { execFileSync } from 'node:child_process'

const env = { ...process.env, TRACT_NODE_CPU: 'portable' }
const run = (command, args) => execFileSync(command, args, { env, stdio: 'inherit' })
run('npm', ['run', 'test:rust'])
run('npm', ['run', 'test:js'])
