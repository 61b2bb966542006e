// The bench's load on ShareDB, driven the way ShareDB's own client drives it.
//
//   node bench/sharedb/load.js     (started by bench/sharedb_peer.py, never by hand)
//
// One process holds a share of the participants, every one on its own WebSocket with its own
// `Connection` of sharedb/lib/client and its own `Doc` of its session's document. Each user
// action is one `submitOp` on that doc: the pointer of the participant, replaced
// (`{p: ['pointers', id], od: old, oi: {x: send time, y: index, id}}`, json0). So ShareDB's
// client keeps one op in flight per doc and composes the actions that pile up meanwhile into
// the next op, as it does for any application; a receiver then gets the latest position only.
//
// The Python bench paces it over stdin / stdout, one JSON array a line, with the commands of
// bench/load.py's client processes: first the participants ({"participants": [...]}, answered
// by `ready`), then `step` (send at a rate for a time, then wait for the deliveries), `finish`
// (wait for stragglers, count what never came), `stop`.
//
// Counting, per receiver and sender: an op that carries the sender's action i delivers i and
// every earlier action of that sender not seen yet (those were composed into it, so the
// receiver shows where the pointer is now). Each action's end-to-end latency runs from its own
// send time (the one stamped into the op for the action the op carries; for the actions
// composed into it, the time this process sent them, as the senders and receivers of a
// document are always in the same process) to the receipt. `composed` counts the actions
// that reached a receiver only that way.
'use strict';

const readline = require('readline');
const {performance} = require('perf_hooks');
const WebSocket = require('ws');
const {Connection} = require('sharedb/lib/client');

const TICK_MS = 2; // the sender's clock, as in bench/load.py
const CONNECT_CONCURRENCY = 32;
const COLLECTION = 'sessions';

const now = () => performance.timeOrigin + performance.now(); // epoch ms, sub-ms precision
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

function reply(kind, body) {
  process.stdout.write(JSON.stringify([kind, body]) + '\n');
}

function floats(values) {
  return Buffer.from(Float32Array.from(values).buffer).toString('base64');
}

class Participant {
  constructor(spec, byNumber) {
    this.number = spec.number;
    this.docId = spec.doc;
    this.url = spec.url;
    this.creator = spec.creator;
    this.peers = spec.peers;
    this.sends = spec.sends !== false; // the document's one sender; the others only receive
    this.byNumber = byNumber;
    this.key = String(spec.number);
    this.socket = null;
    this.connection = null;
    this.doc = null;
    this.closed = null;
    this.failure = '';
    // Sending.
    this.nextIndex = 0;
    this.acked = 0;
    this.stepLow = 0;
    this.stepHigh = 0;
    this.sentAt = new Float64Array(0); // send time (ms) of the actions of the running step
    // Receiving.
    this.lastIndex = new Map(); // sender -> highest action index seen
    this.resetStats(0);
  }

  resetStats(expected) {
    this.deliveries = [];
    this.acks = [];
    this.expected = expected;
    this.received = 0;
    this.composed = 0;
    this.messages = 0;
    this.duplicates = 0;
    this.reordered = 0;
    this.stale = 0;
    this.errors = {};
    this.lastReceive = 0;
  }

  async connect() {
    this.socket = new WebSocket(this.url);
    this.connection = new Connection(this.socket);
    this.socket.addEventListener('close', (event) => {
      if (this.closed === null) this.closed = event.code;
      this.wake();
    });
    this.connection.on('error', (error) => this.error(error));
    this.doc = this.connection.get(COLLECTION, this.docId);
    this.doc.on('error', (error) => this.error(error));
    this.doc.on('op batch', (op, source) => this.onOp(op, source));
    await new Promise((resolve, reject) => {
      this.doc.subscribe((error) => (error ? reject(error) : resolve()));
    });
    if (this.creator && !this.doc.type) {
      await new Promise((resolve, reject) => {
        this.doc.create({pointers: {}}, (error) => (error ? reject(error) : resolve()));
      });
    }
    if (!this.doc.type) throw new Error(`document ${this.docId} does not exist`);
  }

  error(error) {
    const code = String((error && error.code) || 'error');
    this.errors[code] = (this.errors[code] || 0) + 1;
    if (!this.failure) this.failure = `${code}: ${error && error.message}`;
  }

  // --- Sending ---------------------------------------------------------------------------

  sendOne() {
    const index = this.nextIndex++;
    const sent = now();
    this.sentAt[index - this.stepLow] = sent;
    const old = this.doc.data.pointers[this.key];
    const component = {p: ['pointers', this.key], oi: {x: sent, y: index, id: this.number}};
    if (old !== undefined) component.od = old;
    this.doc.submitOp([component], (error) => {
      if (error) return this.error(error);
      this.acked += 1;
      if (index >= this.stepLow && index < this.stepHigh) {
        this.acks.push(now() - sent);
        this.progress();
      }
    });
  }

  // --- Receiving -------------------------------------------------------------------------

  onOp(op, source) {
    if (source) return; // its own op, applied locally when submitted
    const received = now();
    this.lastReceive = received;
    this.messages += 1;
    for (const component of op) {
      const value = component.oi;
      if (!value || typeof value.id !== 'number' || component.p[0] !== 'pointers') continue;
      this.onAction(value.id, value.y, value.x, received);
    }
  }

  onAction(sender, index, stamped, received) {
    const last = this.lastIndex.has(sender) ? this.lastIndex.get(sender) : -1;
    if (index === last) {
      this.duplicates += 1;
      return;
    }
    if (index < last) {
      this.reordered += 1;
      return;
    }
    this.lastIndex.set(sender, index);
    const from = this.byNumber.get(sender);
    for (let i = last + 1; i <= index; i++) {
      if (!from || i < from.stepLow || i >= from.stepHigh) {
        this.stale += 1;
        continue;
      }
      const sent = i === index ? stamped : from.sentAt[i - from.stepLow];
      this.deliveries.push(received - sent);
      this.received += 1;
      if (i !== index) this.composed += 1;
      this.progress();
    }
  }

  // --- Steps -----------------------------------------------------------------------------

  beginStep(count) {
    this.resetStats(count * this.peers.length);
    this.stepLow = this.nextIndex;
    this.stepHigh = this.nextIndex + count;
    this.sentAt = new Float64Array(count);
    this.pending = this.expected + (this.sends ? count : 0);
    this.done = new Promise((resolve) => {
      this.wake = resolve;
    });
    if (this.pending <= 0) this.wake();
  }

  progress() {
    this.pending -= 1;
    if (this.pending <= 0) this.wake();
  }

  wake() {}

  lost(sentBy) {
    let lost = this.nextIndex - this.acked;
    for (const peer of this.peers) {
      const seen = this.lastIndex.has(peer) ? this.lastIndex.get(peer) + 1 : 0;
      lost += (sentBy[peer] || 0) - seen;
    }
    return lost;
  }

  close() {
    if (this.socket) this.socket.close(1000);
  }
}

async function connectAll(participants) {
  // Creators first: every document exists before its other participants subscribe.
  const started = now();
  const failures = [];
  const creators = participants.filter((p) => p.creator);
  const others = participants.filter((p) => !p.creator);
  for (const group of [creators, others]) {
    let next = 0;
    const worker = async () => {
      while (next < group.length) {
        const participant = group[next++];
        try {
          await participant.connect();
        } catch (error) {
          participant.failure = `${error.name}: ${error.message}`;
          failures.push(participant.failure);
        }
      }
    };
    await Promise.all(Array.from({length: CONNECT_CONCURRENCY}, worker));
  }
  return {
    connected: participants.length - failures.length,
    failures: failures.slice(0, 5),
    seconds: (now() - started) / 1000,
  };
}

async function step(participants, {start_at: startAt, rate, duration, drain}) {
  const count = Math.trunc(rate * duration);
  const cpu = process.cpuUsage();
  for (const participant of participants) participant.beginStep(count);
  const senders = participants.filter((p) => p.sends);
  // Each sender sends at `rate` from its own phase, so the load has no bursts.
  const phases = senders.map((_, i) => ((i * 0.618034) % 1.0) / rate);
  const sent = senders.map(() => 0);
  await sleep(startAt * 1000 - now());
  const first = now();
  for (;;) {
    const elapsed = (now() - startAt * 1000) / 1000;
    let busy = false;
    senders.forEach((participant, i) => {
      if (sent[i] >= count || participant.closed !== null) return;
      // floor: before its phase a participant has nothing due (as in bench/load.py).
      const due = Math.min(count, Math.floor((elapsed - phases[i]) * rate) + 1);
      while (sent[i] < due) {
        participant.sendOne();
        sent[i] += 1;
      }
      busy = busy || sent[i] < count;
    });
    if (!busy) break;
    await sleep(TICK_MS);
  }
  const last = now();
  const deadline = last + drain * 1000;
  for (const participant of participants) {
    const remaining = deadline - now();
    if (remaining <= 0 || participant.closed !== null) break;
    let timer;
    const timeout = new Promise((resolve) => (timer = setTimeout(resolve, remaining)));
    await Promise.race([participant.done, timeout]);
    clearTimeout(timer);
  }
  const totals = {
    expected: 0,
    received: 0,
    duplicates: 0,
    reordered: 0,
    stale: 0,
    composed: 0,
    op_messages: 0,
  };
  const deliveries = [];
  const acks = [];
  const errors = {};
  let lastReceive = 0;
  for (const p of participants) {
    for (const value of p.deliveries) deliveries.push(value);
    for (const value of p.acks) acks.push(value);
    for (const [code, n] of Object.entries(p.errors)) errors[code] = (errors[code] || 0) + n;
    totals.expected += p.expected;
    totals.received += p.received;
    totals.duplicates += p.duplicates;
    totals.reordered += p.reordered;
    totals.stale += p.stale;
    totals.composed += p.composed;
    totals.op_messages += p.messages;
    lastReceive = Math.max(lastReceive, p.lastReceive);
  }
  const used = process.cpuUsage(cpu);
  return {
    ...totals,
    acks_expected: count * senders.length,
    deliveries: floats(deliveries),
    acks: floats(acks),
    errors,
    first_send: first / 1000,
    last_send: last / 1000,
    last_receive: lastReceive / 1000,
    sent: count * senders.length,
    closed: participants.filter((p) => p.closed !== null).length,
    sent_by: Object.fromEntries(participants.map((p) => [p.number, p.nextIndex])),
    cpu_seconds: (used.user + used.system) / 1e6,
  };
}

async function finish(participants, {sent_by: sentBy, wait}) {
  const deadline = now() + wait * 1000;
  while (now() < deadline) {
    if (participants.every((p) => p.lost(sentBy) <= 0 || p.closed !== null)) break;
    await sleep(50);
  }
  const closed = participants.filter((p) => p.closed !== null);
  return {
    lost: participants.reduce((sum, p) => sum + Math.max(0, p.lost(sentBy)), 0),
    seq_gaps: 0,
    seq_problems: 0,
    closed: closed.length,
    close_codes: [...new Set(closed.map((p) => p.closed))].sort(),
    failures: participants.filter((p) => p.failure).map((p) => p.failure).slice(0, 5),
  };
}

async function main() {
  const lines = readline.createInterface({input: process.stdin, crlfDelay: Infinity});
  let participants = null;
  for await (const line of lines) {
    if (!line.trim()) continue;
    const message = JSON.parse(line);
    if (participants === null) {
      const byNumber = new Map();
      participants = message.participants.map((spec) => new Participant(spec, byNumber));
      for (const p of participants) byNumber.set(p.number, p);
      for (const p of participants) {
        const away = p.peers.filter((peer) => !byNumber.has(peer));
        if (away.length) throw new Error(`peers ${away} of ${p.number} are not in this process`);
      }
      reply('ready', await connectAll(participants));
      continue;
    }
    const [command, params] = message;
    if (command === 'step') reply('step', await step(participants, params));
    else if (command === 'finish') reply('finish', await finish(participants, params));
    else if (command === 'stop') break;
    else throw new Error(`unknown command ${command}`);
  }
  for (const p of participants || []) p.close();
  reply('stopped', {});
  setTimeout(() => process.exit(0), 200).unref();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
