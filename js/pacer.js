'use strict'

// Work on the event loop split over turns by time, not by count. A fixed count per turn holds the
// loop far longer when the code is still cold (interpreted) or the machine is busy; a pacer starts
// with a small piece and sizes each next piece from how long the last one took.

/** Milliseconds of work a pacer aims for per event-loop turn. */
const TURN_BUDGET_MS = 2

/** The fewest items a piece holds, so tiny pieces never dominate with per-turn overhead. */
const FEWEST_ITEMS = 64

/** Each next piece is at most this many times the last one. */
const MOST_GROWTH = 2

class Pacer {
  #size = FEWEST_ITEMS
  #most
  #turns = 0

  /** @param {number} [most] the most items a piece may hold */
  constructor(most = Infinity) {
    this.#most = Math.max(FEWEST_ITEMS, most)
  }

  /**
   * Runs `work(size)` (which handles up to `size` items) in an event-loop turn of its own, after
   * yielding to the loop unless this is the pacer's first piece, and returns what it returns.
   */
  async turn(work) {
    if (this.#turns++ > 0) await new Promise(setImmediate)
    const began = performance.now()
    const result = work(this.#size)
    const spent = performance.now() - began
    const scale = Math.min(MOST_GROWTH, TURN_BUDGET_MS / Math.max(spent, 1e-3))
    this.#size = Math.min(this.#most, Math.max(FEWEST_ITEMS, Math.floor(this.#size * scale)))
    return result
  }
}

module.exports = { Pacer }
