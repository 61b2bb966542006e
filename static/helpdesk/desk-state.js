// What the operator's desk knows about its session, derived from the welcome frame and the ops
// that follow it (no DOM here): who is there, who holds control, where the customer is, whether
// the session is still open.
//
// Guarantees: the state is a plain object rebuilt by pure functions (welcome, history, op), so
// the same frames in the same order always give the same state.

/** The state before the first welcome. `me` is the operator's display name. */
export function initialState({ session, code, site, status, me }) {
  return {
    session,
    code,
    site,
    status, // waiting | active | ended
    me: null, // my participant id
    myName: me,
    role: null, // operator | observer | supervisor (watches only)
    participants: new Map(), // id -> {role, name}
    control: null, // participant id holding control
    controlRequested: false, // my request is waiting for the customer's answer
    customer: { url: "", title: "", lastActivity: null, joined: false },
    presence: null, // {connected, since (ms)} as the server last said, null before it did
  };
}

export function onWelcome(state, frame) {
  const participants = new Map(state.participants);
  for (const p of frame.participants ?? []) participants.set(p.participant, { role: p.role, name: p.name });
  const customerJoined = [...participants.values()].some((p) => p.role === "customer");
  return {
    ...state,
    me: frame.participant,
    role: frame.role,
    status: frame.status,
    control: frame.control ?? null,
    participants,
    customer: { ...state.customer, joined: state.customer.joined || customerJoined },
  };
}

/** One op frame (from anyone, own echoes included), in seq order. */
export function onOp(state, op) {
  const sender = op.sender ?? {};
  const p = op.payload ?? {};
  let next = state;
  if (sender.role === "customer") {
    next = { ...next, customer: { ...next.customer, joined: true, lastActivity: op.ts ?? Date.now() } };
    if (op.kind === "navigate") next.customer = { ...next.customer, url: p.url ?? "", title: p.title ?? "" };
  }
  if (op.kind === "session" && p.action === "joined") {
    const participants = new Map(next.participants);
    participants.set(p.participant, { role: p.role, name: p.name });
    next = { ...next, participants };
  } else if (op.kind === "session" && p.action === "handover") {
    // `to` is the session's operator now, `from` an observer; my own role follows (the server
    // holds my connection to the role it joined with, so a desk concerned reconnects).
    const participants = new Map(next.participants);
    const from = participants.get(p.from);
    if (from) participants.set(p.from, { ...from, role: "observer" });
    participants.set(p.to, { role: "operator", name: p.name ?? participants.get(p.to)?.name ?? "" });
    const role = p.to === next.me ? "operator" : p.from === next.me ? "observer" : next.role;
    next = { ...next, participants, role, controlRequested: role === "operator" && next.controlRequested };
  } else if (op.kind === "session" && p.action === "end") {
    next = { ...next, status: "ended", control: null, controlRequested: false };
  } else if (op.kind === "control") {
    if (p.action === "grant") {
      next = { ...next, control: p.participant ?? null, controlRequested: false };
    } else if (p.action === "revoke" || p.action === "release") {
      next = { ...next, control: null, controlRequested: false };
    } else if (p.action === "request" && sender.participant === next.me) {
      next = { ...next, controlRequested: true };
    }
  }
  if (next.status === "waiting" && sender.role === "operator") next = { ...next, status: "active" };
  return next;
}

// A customer whose page changes to the next is without a socket for a moment: not gone.
export const PRESENCE_GRACE_MS = 8000;

/** What the server says of the customer's connection ({connected, since: ISO time or null}). */
export function onPresence(state, { connected, since }) {
  const at = since ? Date.parse(since) : null;
  return { ...state, presence: { connected: Boolean(connected), since: Number.isNaN(at) ? null : at } };
}

/**
 * The customer's connection as the operator reads it: "connected", "reconnecting" (none for
 * less than a page change takes: changing pages, or a network coming back), "lost" (none for
 * longer), or null before the server said or once the session is over.
 */
export function customerLink(state, now = Date.now()) {
  const presence = state.presence;
  if (state.status === "ended" || !state.customer.joined || presence === null) return null;
  if (presence.connected) return "connected";
  if (presence.since === null) return null;
  return now - presence.since > PRESENCE_GRACE_MS ? "lost" : "reconnecting";
}

/** Whether the customer has had no connection for longer than a page change takes. */
export function customerGone(state, now = Date.now()) {
  const presence = state.presence;
  return (
    state.status !== "ended" &&
    state.customer.joined &&
    presence !== null &&
    !presence.connected &&
    presence.since !== null &&
    now - presence.since > PRESENCE_GRACE_MS
  );
}

/** The customer's page as the mirror found it (a snapshot's Meta event knows the URL). */
export function onPage(state, { url, title }) {
  if (!url || (url === state.customer.url && !title)) return state;
  return { ...state, customer: { ...state.customer, url, title: title || (url === state.customer.url ? state.customer.title : "") } };
}

export function hasControl(state) {
  return state.me !== null && state.control === state.me;
}

/** Watches without acting on the customer's page: an observer (who chats) or a supervisor. */
export function isObserver(state) {
  return state.role === "observer" || state.role === "supervisor";
}

export function isSupervisor(state) {
  return state.role === "supervisor";
}

/** Whether this op moved my own role (a hand-over from or to me). */
export function handsOverMe(state, op) {
  const p = op.payload ?? {};
  return op.kind === "session" && p.action === "handover" && state.me !== null && (p.from === state.me || p.to === state.me);
}

export function nameOf(state, participant) {
  if (participant === state.me) return "You";
  const p = state.participants.get(participant);
  if (!p) return "Someone";
  if (p.role === "customer") return "Customer";
  return p.name || (p.role === "observer" ? "Observer" : "Operator");
}

/** The operator who holds the session (not an observer), or null. */
export function operatorOf(state) {
  for (const [id, p] of state.participants) if (p.role === "operator") return { id, ...p };
  return null;
}

/**
 * The line the desk notes for a `session` or `control` op, read against the state before it
 * (`before`), or null. A customer's "no" to a request (a `revoke` naming nobody: nobody held
 * control), taking control back, control given back, a request left unanswered when the session
 * ended and control ending with the session are different messages.
 */
export function noteText(before, op) {
  const p = op.payload ?? {};
  const who = nameOf(before, op.sender?.participant);
  const target = p.participant !== undefined && p.participant !== null ? nameOf(before, p.participant) : "";
  switch (`${op.kind}:${p.action}`) {
    case "session:joined":
      return `${p.role === "customer" ? "Customer" : p.name || who} joined${p.role === "observer" || p.role === "supervisor" ? ` as ${p.role}` : ""}`;
    case "session:handover":
      return `${nameOf(before, p.from)} handed the session over to ${nameOf(before, p.to)}`;
    case "session:end":
      return `${endText(p, who)}${endedControl(before)}`;
    case "control:request":
      return `${who} asked for control`;
    case "control:grant":
      return `Customer granted control to ${target === "You" ? "you" : target}`;
    case "control:revoke":
      if (op.sender?.role !== "customer") return "Control went back to the customer";
      if (!target) return "Customer denied the request for control";
      return `Customer took control back${target === "You" ? "" : ` from ${target}`}`;
    case "control:release":
      return `${who} gave control back`;
    default:
      return null;
  }
}

function endText(p, who) {
  if (p.reason === "idle") return "The session ended after a long time without activity";
  if (p.reason === "abandoned") return "The customer left: the session ended as abandoned";
  return `${who} ended the session`;
}

function endedControl(before) {
  if (before.control !== null) {
    const holder = nameOf(before, before.control);
    return holder === "You" ? "; your control ended with it" : `; control by ${holder} ended with it`;
  }
  if (before.controlRequested) return "; the request for control expired unanswered";
  return "";
}
