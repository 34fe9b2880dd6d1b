'use strict'

// tract-node/queue: inference workers and producers on BullMQ (a peer dependency).
module.exports = require('./js/queue.js')
