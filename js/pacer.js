'use strict'

// Work on the event loop split over turns by time, not by count. A fixed count per turn holds the
// loop far longer when the code is still cold (interpreted) or the machine is busy; a pacer starts
// where the last one of its kind of work ended (small, at first) and sizes each next piece from how
// long the last one took.

/** Milliseconds of work a pacer aims for per event-loop turn. */
const TURN_BUDGET_MS = 2

/** The fewest items a piece holds, so tiny pieces never dominate with per-turn overhead. */
const FEWEST_ITEMS = 64

/** Each next piece is at most this many times the last one. */
const MOST_GROWTH = 2

/**
 * How big the pieces of one kind of work are, shared by its pacers: each pacer starts with the size
 * the last one reached, so that warm code is not cut small again on every call.
 */
class Pace {
  size = FEWEST_ITEMS
}

class Pacer {
  #pace
  #most
  #size
  #turns = 0

  /**
   * @param {Pace} pace the kind of work's pace, which this pacer starts from and keeps up to date
   * @param {number} [most] the most items a piece may hold
   */
  constructor(pace, most = Infinity) {
    this.#pace = pace
    this.#most = Math.max(FEWEST_ITEMS, most)
    this.#size = Math.min(this.#most, pace.size)
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
    this.#pace.size = this.#size
    return result
  }
}

module.exports = { Pace, Pacer }
