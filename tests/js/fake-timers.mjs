// Timers for the unit tests of the browser modules: nothing moves until the test calls
// advance(ms), so pacing, backoff and timeouts are tested without real waiting.

/** Timers that only move when the test says so. */
export class FakeTimers {
  now = 0;
  #nextId = 1;
  #tasks = new Map();

  setTimeout(fn, ms = 0) {
    const id = this.#nextId++;
    this.#tasks.set(id, { at: this.now + ms, fn });
    return id;
  }

  setInterval(fn, ms) {
    const id = this.#nextId++;
    this.#tasks.set(id, { at: this.now + ms, fn, every: ms });
    return id;
  }

  clearTimeout(id) {
    this.#tasks.delete(id);
  }

  clearInterval(id) {
    this.#tasks.delete(id);
  }

  advance(ms) {
    const end = this.now + ms;
    for (;;) {
      const due = [...this.#tasks].filter(([, task]) => task.at <= end).sort(([a, x], [b, y]) => x.at - y.at || a - b)[0];
      if (!due) break;
      const [id, task] = due;
      this.now = task.at;
      if (task.every) task.at += task.every;
      else this.#tasks.delete(id);
      task.fn();
    }
    this.now = end;
  }

  get scheduled() {
    return this.#tasks.size;
  }
}
