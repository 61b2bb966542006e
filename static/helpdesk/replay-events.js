// What the admin's Replay shows at a moment of the session, from the journal alone (no DOM):
// the rrweb events for the Replayer, the timeline's lines, and which operator highlights are on
// the page at a given session time.
//
// Guarantees:
//   - Time is the session's own: an op's `ts` (the server's time of receipt). Playing at 2x or 4x,
//     pausing or seeking changes nothing of what is shown at a session time.
//   - A highlight shows from its ts for HIGHLIGHT_MS of session time, and ends earlier when the
//     customer's page changes (a navigate or a new full snapshot: its node ids mean another page).
//   - Events are ordered by ts, ties by seq: the journal's order.

import { opToEvents, saysTooLarge, carriesFullSnapshot } from "../cobrowse/rrweb-ops.js";

export const CUSTOM = 5; // rrweb EventType.Custom
export const TAG = "cobrowse";
export const HIGHLIGHT_MS = 3000;
const MIRRORED = new Set(["dom", "pointer", "scroll", "input", "click"]);
const NAMED = new Set(["highlight", "click", "input"]);
const ELEMENT = 2; // rrweb's serialized node types
const TEXT = 3;
const MUTATION = 0; // rrweb IncrementalSource.Mutation
const NAME_LENGTH = 40;

/**
 * What the customer's page calls its nodes, from the latest full snapshot and the mutations
 * after it: a field's label (a <label for>, or one around it), aria-label, placeholder or name;
 * a button's or link's text.
 */
export class NodeNames {
  #nodes = new Map(); // id -> {type, tag, attributes, text, parent, children: Set}

  apply(op) {
    for (const event of op.payload?.events ?? []) {
      if (event.type === 2 /* FullSnapshot */ && event.data?.node) {
        this.#nodes = new Map();
        this.#add(event.data.node, null);
      } else if (event.type === 3 && event.data?.source === MUTATION) {
        this.#mutate(event.data);
      }
    }
  }

  /** The node's name on the page, or null when it has none (or is not known). */
  name(id) {
    const node = this.#nodes.get(id);
    if (!node || node.type !== ELEMENT) return null;
    const a = node.attributes;
    const labelled = this.#labelFor(node);
    const name =
      labelled ||
      a["aria-label"] ||
      a.placeholder ||
      a.title ||
      (["button", "a", "label", "h1", "h2", "h3", "option", "summary"].includes(node.tag) ? this.#text(id) : "") ||
      a.name ||
      a.alt ||
      "";
    const clean = String(name).replace(/\s+/g, " ").trim();
    if (!clean) return null;
    return clean.length > NAME_LENGTH ? `${clean.slice(0, NAME_LENGTH - 1)}…` : clean;
  }

  #labelFor(node) {
    if (!["input", "select", "textarea"].includes(node.tag)) return "";
    const own = node.attributes.id;
    if (own) {
      for (const [id, other] of this.#nodes) {
        if (other.tag === "label" && other.attributes.for === own) return this.#text(id);
      }
    }
    for (let up = node.parent; up !== null && up !== undefined; up = this.#nodes.get(up)?.parent) {
      if (this.#nodes.get(up)?.tag === "label") return this.#text(up);
    }
    return "";
  }

  #text(id, depth = 0) {
    const node = this.#nodes.get(id);
    if (!node || depth > 20) return "";
    if (node.type === TEXT) return node.text;
    return [...node.children].map((child) => this.#text(child, depth + 1)).join(" ");
  }

  #add(serialized, parent) {
    if (!serialized || !Number.isInteger(serialized.id)) return;
    this.#nodes.set(serialized.id, {
      type: serialized.type,
      tag: String(serialized.tagName ?? "").toLowerCase(),
      attributes: { ...(serialized.attributes ?? {}) },
      text: serialized.textContent ?? "",
      parent,
      children: new Set(),
    });
    if (parent !== null) this.#nodes.get(parent)?.children.add(serialized.id);
    for (const child of serialized.childNodes ?? []) this.#add(child, serialized.id);
  }

  #mutate(data) {
    for (const { parentId, id } of data.removes ?? []) {
      this.#nodes.get(parentId)?.children.delete(id);
      this.#nodes.delete(id);
    }
    for (const { parentId, node } of data.adds ?? []) this.#add(node, parentId);
    for (const { id, value } of data.texts ?? []) {
      const node = this.#nodes.get(id);
      if (node) node.text = value ?? "";
    }
    for (const { id, attributes } of data.attributes ?? []) {
      const node = this.#nodes.get(id);
      if (!node) continue;
      for (const [key, value] of Object.entries(attributes ?? {})) {
        if (value === null) delete node.attributes[key];
        else node.attributes[key] = value;
      }
    }
  }
}

/**
 * rrweb events for the Replayer from journal rows (in journal order), and the rows for the
 * timeline; a row about a node of the page carries `nodeName`: what the page called that node
 * at that moment (NodeNames).
 */
export function buildEvents(operations) {
  const events = [];
  const timeline = [];
  const names = new NodeNames();
  for (const op of operations) {
    const role = op.sender?.role;
    if (role === "customer" && op.kind === "dom") names.apply(op);
    if (role === "customer" && MIRRORED.has(op.kind)) {
      for (const event of opToEvents(op, op.ts)) events.push({ event, seq: op.seq });
    } else {
      events.push({ event: { type: CUSTOM, timestamp: op.ts, data: { tag: TAG, payload: op } }, seq: op.seq });
    }
    const id = op.payload?.id;
    const row = Number.isInteger(id) && NAMED.has(op.kind) ? { ...op, nodeName: names.name(id) } : op;
    if (describe(row)) timeline.push(row);
  }
  events.sort((a, b) => a.event.timestamp - b.event.timestamp || a.seq - b.seq);
  return { events: events.map((item) => item.event), timeline };
}

/** The session times (ms) at which the customer's page changed. */
export function pageChanges(operations) {
  return operations
    .filter((op) => op.sender?.role === "customer" && (op.kind === "navigate" || carriesFullSnapshot(op)))
    .map((op) => op.ts);
}

/**
 * The highlight ops on the page at session time `now`: those at or before it, less than
 * HIGHLIGHT_MS of session time old, with no page change after them up to `now`.
 */
export function highlightsAt(operations, changes, now) {
  return operations.filter(
    (op) =>
      op.kind === "highlight" &&
      op.ts <= now &&
      now - op.ts < HIGHLIGHT_MS &&
      !changes.some((at) => at > op.ts && at <= now),
  );
}

/** The timeline's line for one op, or null when it has none. */
export function describe(op) {
  const p = op.payload ?? {};
  const role = op.sender?.role;
  switch (op.kind) {
    case "chat":
      return p.text;
    case "navigate":
      return role === "customer" ? `went to ${p.url}` : `navigated the page to ${p.url}`;
    case "highlight":
      return Number.isInteger(p.id) ? `highlighted ${nodeLine(op)}` : "highlighted an area";
    case "control":
      return controlLine(p);
    case "session":
      if (p.action === "end" && p.reason === "idle") return "the session ended after a long time without activity";
      if (p.action === "end" && p.reason === "abandoned") return "the customer left: the session ended as abandoned";
      return { joined: `joined as ${p.role}`, end: "ended the session" }[p.action] ?? null;
    case "click":
    case "input":
      return role === "operator" ? (op.kind === "click" ? `clicked ${nodeLine(op)}` : `typed into ${nodeLine(op)}`) : null;
    case "dom":
      return saysTooLarge(op) ? "was on a page too large to record" : null;
    default:
      return null;
  }
}

// A node by its name on the page ("Email"), else by its number.
function nodeLine(op) {
  return op.nodeName ? `“${op.nodeName}”` : `node ${op.payload.id}`;
}

// A `revoke` names whom control was taken from; when it names nobody (`participant: null`),
// nobody held control: it is the customer's "no" to a request.
function controlLine(p) {
  switch (p.action) {
    case "request":
      return "asked for control";
    case "grant":
      return "granted control";
    case "revoke":
      return p.participant === null || p.participant === undefined ? "denied the request for control" : "took control back";
    case "release":
      return "gave control back";
    default:
      return null;
  }
}
