// A throwaway Redis for the queue tests, demo and benchmark: `redis-server` on a free loopback port,
// persistence off.
import { execFileSync, spawn } from 'node:child_process'
import { createServer } from 'node:net'

/** Why the queue tests cannot run here (no `redis-server` on PATH), or null. */
export const noRedis = (() => {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' })
    return null
  } catch {
    return 'redis-server is not on PATH (Debian: apt-get install redis-server)'
  }
})()

const freePort = () =>
  new Promise((resolve, reject) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
    server.on('error', reject)
  })

/** Starts a Redis; resolves once it accepts connections with `{ port, url, stop() }`. */
export async function startRedis() {
  const port = await freePort()
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction']
  const server = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise((resolve, reject) => {
    let output = ''
    server.stdout.on('data', (chunk) => {
      output += chunk
      if (output.includes('Ready to accept connections')) resolve()
    })
    server.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${output.slice(-500)}`)))
  })
  server.stdout.resume()
  const stop = () =>
    new Promise((resolve) => {
      if (server.exitCode !== null) return resolve()
      server.once('exit', resolve)
      server.kill('SIGTERM')
    })
  return { port, url: `redis://127.0.0.1:${port}`, stop }
}
