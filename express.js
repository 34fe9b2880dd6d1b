'use strict'

// tract-node/express: the Express router over tract-node (Express itself is a peer dependency).
module.exports = require('./js/express.js')
