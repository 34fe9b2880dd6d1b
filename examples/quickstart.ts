// The quickstart in TypeScript (type-checked under `strict` by `npm test`).
import { InferenceSession, Tensor, type TractNodeError } from 'tract-node'

export async function classify(modelPath: string, rows: number[][]): Promise<number[][]> {
  const session = await InferenceSession.create(modelPath)
  try {
    const features = new Tensor('float32', rows.flat(), [rows.length, 4])
    const { probabilities } = await session.run({ features }, { timeoutMs: 1000 })
    const scores = probabilities.data as Float32Array
    return rows.map((_, i) => Array.from(scores.subarray(i * 3, i * 3 + 3)))
  } catch (error) {
    const { code, message } = error as TractNodeError
    throw new Error(`inference failed (${code}): ${message}`)
  } finally {
    await session.release()
  }
}
