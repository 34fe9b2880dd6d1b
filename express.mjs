// tract-node/express, as ESM.
import express from './express.js'

export const { inferenceRouter } = express
export default express
