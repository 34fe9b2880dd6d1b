// tract-node/queue, as ESM.
import queue from './queue.js'

export const { createWorker, enqueue, enqueueFile } = queue
export default queue
