// What the customer's widget knows about its help session, as plain data: the state the panel
// shows (waiting, operator joined, control requested or granted, ended), derived from the
// welcome frame and the journal's ops in seq order.
//
// Guarantees:
//   - Every function returns a new state and never changes the one it is given.
//   - The welcome frame is the truth about status and control at the moment it was sent
//     (head_seq). Ops at or below that seq (the catch-up after a reload or a reconnect) add
//     chat, names and a pending control request, but never move status or control backwards.
//   - A chat line appears once per seq; the customer's own line, shown as "sending" from the
//     moment it is typed, becomes sent when its op comes back.
// Nothing here touches the DOM, so node --test covers it.

const MAX_CHAT = 100;

/** The state right after "Get help" (or a reload), from the API's session body. */
export function initialState(session, saved = {}) {
  return {
    id: session.id,
    code: session.code,
    site: session.site,
    status: session.status === "ended" ? "ended" : session.status === "active" ? "active" : "waiting",
    connection: "connecting",
    participants: {}, // participant id -> {role, name}
    operator: null, // participant id of the operator who claimed the session
    control: null, // participant id the customer granted control to
    request: Number.isInteger(saved.request) ? saved.request : null, // operator asking for control
    chat: Array.isArray(saved.chat) ? saved.chat.slice(-MAX_CHAT) : [],
    pending: Array.isArray(saved.pending) ? saved.pending : [], // own chat lines not yet journaled
    welcomeSeq: 0,
    elsewhere: false, // another tab of this browser shows its page to the operator meanwhile
  };
}

/** What is worth keeping across navigation (the rest comes back with the welcome frame). */
export function savedPart(state) {
  return { chat: state.chat, request: state.request, pending: state.pending };
}

export function onWelcome(state, frame) {
  const participants = {};
  for (const p of frame.participants ?? []) participants[p.participant] = { role: p.role, name: p.name ?? "" };
  const operator = Object.keys(participants).map(Number).find((id) => participants[id].role === "operator") ?? null;
  const status = frame.status === "ended" ? "ended" : operator !== null || frame.status === "active" ? "active" : "waiting";
  const control = Number.isInteger(frame.control) ? frame.control : null;
  return {
    ...state,
    status,
    participants,
    operator,
    control,
    request: control !== null && state.request === control ? null : state.request,
    welcomeSeq: Number.isInteger(frame.head_seq) ? frame.head_seq : 0,
  };
}

/** Another tab of the session took over (true), or this one took it back (false). */
export function onElsewhere(state, elsewhere) {
  return state.elsewhere === elsewhere ? state : { ...state, elsewhere };
}

export function onConnection(state, connection) {
  if (connection === "ended" || connection === "forbidden") {
    return { ...state, status: connection, connection: "closed", request: null, control: null };
  }
  return { ...state, connection };
}

/** The customer typed a chat line; `cid` is its client_op_id. */
export function onChatSent(state, cid, text) {
  return { ...state, pending: [...state.pending, { cid, text, seq: null }] };
}

/** An ack of one of the customer's ops: a pending chat line learns its seq. */
export function onAck(state, frame) {
  if (!state.pending.some((line) => line.cid === frame.client_op_id)) return state;
  return {
    ...state,
    pending: state.pending.map((line) => (line.cid === frame.client_op_id ? { ...line, seq: frame.seq } : line)),
  };
}

/** One op frame of the session, in seq order. */
export function onOp(state, op) {
  const p = op.payload ?? {};
  const sender = op.sender ?? {};
  const live = op.seq > state.welcomeSeq; // newer than what the welcome frame described
  switch (op.kind) {
    case "session":
      if (p.action === "joined") return joined(state, p, live);
      if (p.action === "handover") return handedOver(state, p);
      if (p.action === "end") return { ...state, status: "ended", control: null, request: null };
      return state;
    case "control":
      return control(state, p, sender, live);
    case "chat":
      return chat(state, op, p, sender);
    default:
      return state;
  }
}

function joined(state, p, live) {
  if (!Number.isInteger(p.participant)) return state;
  const participants = { ...state.participants, [p.participant]: { role: p.role, name: p.name ?? "" } };
  if (p.role !== "operator") return { ...state, participants };
  return {
    ...state,
    participants,
    operator: p.participant,
    status: live && state.status === "waiting" ? "active" : state.status,
  };
}

// The session's operator handed it over: `to` helps now, `from` only watches. (Control, if
// `from` held it, was revoked by the op before.)
function handedOver(state, p) {
  if (!Number.isInteger(p.to)) return state;
  const participants = { ...state.participants };
  if (participants[p.from]) participants[p.from] = { ...participants[p.from], role: "observer" };
  participants[p.to] = { role: "operator", name: p.name ?? participants[p.to]?.name ?? "" };
  const request = state.request === p.from ? null : state.request;
  return { ...state, participants, operator: p.to, request, handedOver: true };
}

function control(state, p, sender, live) {
  switch (p.action) {
    case "request":
      return sender.participant === state.control ? state : { ...state, request: sender.participant ?? null };
    case "grant":
      return { ...state, request: null, control: live ? (p.participant ?? null) : state.control };
    case "revoke":
    case "release":
      return { ...state, request: null, control: live ? null : state.control };
    default:
      return state;
  }
}

function chat(state, op, p, sender) {
  if (typeof p.text !== "string" || state.chat.some((line) => line.seq === op.seq)) return state;
  const line = { seq: op.seq, role: sender.role ?? "", participant: sender.participant ?? null, text: p.text };
  let pending = state.pending;
  if (sender.role === "customer") {
    // Its own line: by seq once acked, otherwise the oldest pending line with the same text.
    const index = pending.findIndex((item) => item.seq === op.seq);
    const match = index >= 0 ? index : pending.findIndex((item) => item.seq === null && item.text === p.text);
    if (match >= 0) pending = pending.filter((_, i) => i !== match);
  }
  return { ...state, pending, chat: [...state.chat, line].slice(-MAX_CHAT) };
}

/** The display name of a participant ("" when unknown). */
export function nameOf(state, participant) {
  return state.participants[participant]?.name ?? "";
}

/** What the panel shows as the session's state, in one word. */
export function phase(state) {
  if (state.status === "ended" || state.status === "forbidden") return state.status;
  if (state.control !== null) return "control";
  if (state.request !== null) return "request";
  if (state.operator !== null || state.status === "active") return "joined";
  return "waiting";
}
