// The wire format for the browser, generated from cobrowse/protocol.py by
// `python manage.py protocol_files`: do not edit; change protocol.py and run the command.

/** How the server delivers an op of each kind: "all" (the sender gets it too, after
 * its ack) or "others" (everyone but the sender). Every kind of the protocol, nothing
 * else. */
export const DELIVERY = Object.freeze({
  dom: "others",
  pointer: "others",
  scroll: "others",
  input: "others",
  click: "all",
  navigate: "all",
  highlight: "all",
  panel: "others",
  chat: "all",
  control: "all",
  session: "all",
});

export const KINDS = Object.freeze(Object.keys(DELIVERY));

export const Delivery = Object.freeze({
  ALL: "all",
  OTHERS: "others",
});

/** Every WebSocket close code the server sends (docs/protocol.md says when). */
export const CloseCode = Object.freeze({
  TRY_AGAIN: 1013,
  ABUSIVE: 4400,
  INVALID_TOKEN: 4401,
  FORBIDDEN: 4403,
  NOT_FOUND: 4404,
  TOO_SLOW: 4408,
  SILENT: 4409,
  ENDED: 4410,
  TOO_MANY: 4429,
  INVALID_UTF8: 1007,
  TOO_BIG: 1009,
});

/** Close codes after which a client does not reconnect, each with the status it
 * reports. */
export const FINAL_CLOSE_CODES = Object.freeze({
  4401: "invalid_token",
  4403: "forbidden",
  4410: "ended",
});

/** The `code` of an `error` frame is one of these. */
export const ERROR_CODES = Object.freeze([
  "bad_json",
  "bad_frame",
  "unknown_kind",
  "forbidden_kind",
  "control_required",
  "invalid_payload",
  "too_large",
  "rate_limited",
  "session_ended",
  "unavailable",
]);

// Limits the server holds frames to (MAX_FRAME_BYTES and MAX_DOM_FRAME_BYTES are the
// defaults of COBROWSE_MAX_FRAME_BYTES and COBROWSE_MAX_DOM_FRAME_BYTES).
export const MAX_CLIENT_OP_ID = 64;
export const MAX_OPS_PER_FRAME = 200;
export const MAX_ELEMENT = 200;
export const MAX_DOM_EVENTS = 500;
export const MAX_TEXT = 2000;
export const MAX_VALUE = 10000;
export const MAX_URL = 2048;
export const MAX_TITLE = 300;
export const MAX_FRAME_BYTES = 262144;
export const MAX_DOM_FRAME_BYTES = 4194304;

/** client_op_ids of the ops the server journals itself start with this. */
export const SERVER_OP_PREFIX = "server-";
