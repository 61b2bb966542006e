// What of the customer's page may leave it: the masking decision for form fields and text, and
// a redaction pass over rrweb events that backs up rrweb's own masking.
//
// Guarantees:
//   - maskDecision() is the one rule: a field marked `data-cobrowse-mask` (or inside such an
//     element), a password, card, CVC, expiry, IBAN, account, national-ID, birth date or
//     one-time-code field (by type, name, id, autocomplete, aria-label or placeholder), and a
//     hidden input (CSRF tokens) is SECRET. A field inside `[data-cobrowse-unmask]` that is not
//     secret is CLEAR (sent as typed). Every other field is MASK. The non-empty value of a
//     SECRET or MASK field becomes the constant SECRET_MASK, whatever its length: the length
//     of a card number, an IBAN or a name says something too. (SECRET also masks the field's
//     other attributes.)
//   - redactEvent() applies the same rule to rrweb events after rrweb masked them: values of
//     non-clear fields, text inside `[data-cobrowse-mask]`, and every attribute of a masked
//     element except the few that only describe layout or the field's kind. Masking an
//     already masked value changes nothing, so the two passes agree.
// Nothing here touches the DOM: the recorder passes `lookup(id)` for nodes that rrweb names
// by id only (mutations, inputs), so node --test covers all of it.

export const Decision = Object.freeze({ CLEAR: "clear", MASK: "mask", SECRET: "secret" });

/** What a masked value looks like on the wire: the same whatever was typed. */
export const SECRET_MASK = "••••••";

// Same words as the server's second line of defence (cobrowse/masking.py), plus birth dates.
// "pin" on its own (pin, pin_code, PIN, pinCode), never inside a word (spinner, shipping).
const SENSITIVE_WORDS =
  /pass(word)?|pwd|card|cc-|ccnum|cc_?number|cvc|cvv|csc|security.?code|expir|exp-|iban|account|acct|bic|swift|routing|sort.?code|national|ssn|social|tax.?id|otp|(?<![a-z])pin(?![a-z])|pin(?:code|number)|bday|birth/i;
const NAMING_ATTRIBUTES = ["name", "id", "autocomplete", "aria-label", "placeholder"];
const FIELD_TAGS = new Set(["input", "select", "textarea"]);
const SECRET_TYPES = new Set(["password", "hidden", "file"]);

// Attributes of a masked element that say nothing about what the customer typed or owns.
const SAFE_ATTRIBUTES = new Set([
  "class", "id", "style", "type", "name", "autocomplete", "inputmode", "spellcheck",
  "autocapitalize", "size", "maxlength", "minlength", "required", "disabled", "readonly",
  "placeholder", "for", "role", "tabindex", "hidden", "dir", "lang", "novalidate",
  "aria-hidden", "aria-describedby", "aria-labelledby", "aria-invalid", "aria-required",
  "data-cobrowse-mask", "data-cobrowse-unmask",
]);

/**
 * The masking decision for one element.
 * @param {object} field
 * @param {string} [field.tagName] element tag, any case
 * @param {Record<string, string>} [field.attributes] its attributes (name -> value)
 * @param {boolean} [field.insideMask] it or an ancestor carries data-cobrowse-mask
 * @param {boolean} [field.insideUnmask] it or an ancestor carries data-cobrowse-unmask
 * @returns {"clear" | "mask" | "secret"}
 */
export function maskDecision({ tagName = "", attributes = {}, insideMask = false, insideUnmask = false }) {
  if (insideMask || Object.hasOwn(attributes, "data-cobrowse-mask")) return Decision.SECRET;
  if (isSensitiveField(tagName, attributes)) return Decision.SECRET;
  if (insideUnmask || Object.hasOwn(attributes, "data-cobrowse-unmask")) return Decision.CLEAR;
  return Decision.MASK;
}

/** Whether a form field's kind or naming says it holds a secret. */
export function isSensitiveField(tagName, attributes = {}) {
  if (!FIELD_TAGS.has(String(tagName).toLowerCase())) return false;
  if (SECRET_TYPES.has(String(attributes.type ?? "").toLowerCase())) return true;
  return NAMING_ATTRIBUTES.some((name) => {
    const value = attributes[name];
    return typeof value === "string" && SENSITIVE_WORDS.test(value);
  });
}

/** The value as it may leave the page under `decision`: as typed when CLEAR, otherwise
 * SECRET_MASK, whatever its length. An empty value stays empty (nothing typed yet). */
export function maskValue(text, decision) {
  const value = text == null ? "" : String(text);
  if (value === "" || decision === Decision.CLEAR) return value;
  return SECRET_MASK;
}

/** Masked text: every non-space character becomes a bullet (the layout survives, nothing else). */
export function maskText(text) {
  return String(text ?? "").replace(/\S/gu, "•");
}

// --- rrweb events -------------------------------------------------------------------------

const EVENT_FULL_SNAPSHOT = 2;
const EVENT_INCREMENTAL = 3;
const SOURCE_MUTATION = 0;
const SOURCE_INPUT = 5;
const NODE_ELEMENT = 2;
const NODE_TEXT = 3;
const NODE_CDATA = 4;

/**
 * Redact one rrweb event in place and return it.
 * @param {object} event an rrweb event
 * @param {(id: number) => ({tagName, attributes, insideMask, insideUnmask} | null)} [lookup]
 *   describes the live element with rrweb id `id` (or a text node's parent element); null when
 *   unknown, which masks (an unknown field is not shown).
 */
export function redactEvent(event, lookup = () => null) {
  const data = event?.data;
  if (!data || typeof data !== "object") return event;
  if (event.type === EVENT_FULL_SNAPSHOT && data.node) {
    redactTree(data.node, { insideMask: false, insideUnmask: false });
  } else if (event.type === EVENT_INCREMENTAL && data.source === SOURCE_MUTATION) {
    for (const add of data.adds ?? []) {
      if (!add?.node) continue;
      const parent = lookup(add.parentId);
      redactTree(add.node, { insideMask: Boolean(parent?.insideMask), insideUnmask: Boolean(parent?.insideUnmask) });
    }
    for (const change of data.attributes ?? []) {
      if (change?.attributes) redactAttributeChange(change, lookup(change.id));
    }
    for (const text of data.texts ?? []) {
      if (!text || typeof text.value !== "string") continue;
      // Text inside a mask, or of a node no longer on the page, leaves only as bullets.
      const parent = lookup(text.id);
      if (!parent || parent.insideMask) text.value = maskText(text.value);
    }
  } else if (event.type === EVENT_INCREMENTAL && data.source === SOURCE_INPUT && typeof data.text === "string") {
    const field = lookup(data.id);
    const decision = field ? maskDecision(field) : Decision.MASK;
    if (!(field && isToggle(field))) data.text = maskValue(data.text, decision);
  }
  return event;
}

function isToggle(field) {
  const type = String(field.attributes?.type ?? "").toLowerCase();
  return type === "checkbox" || type === "radio";
}

/** Redact a serialized node and its subtree; context: what its ancestors carry. */
function redactTree(root, context) {
  const stack = [[root, context]];
  while (stack.length) {
    const [node, { insideMask, insideUnmask }] = stack.pop();
    if (!node || typeof node !== "object") continue;
    let inner = { insideMask, insideUnmask };
    if (node.type === NODE_ELEMENT) {
      const attributes = node.attributes ?? {};
      inner = {
        insideMask: insideMask || Object.hasOwn(attributes, "data-cobrowse-mask"),
        insideUnmask: insideUnmask || Object.hasOwn(attributes, "data-cobrowse-unmask"),
      };
      redactElement(node, inner);
    } else if ((node.type === NODE_TEXT || node.type === NODE_CDATA) && insideMask && !node.isStyle) {
      if (typeof node.textContent === "string") node.textContent = maskText(node.textContent);
    }
    for (const child of node.childNodes ?? []) stack.push([child, inner]);
  }
}

function redactElement(node, context) {
  const attributes = node.attributes;
  if (!attributes) return;
  const tagName = String(node.tagName ?? "").toLowerCase();
  const decision = maskDecision({ tagName, attributes, ...context });
  if (FIELD_TAGS.has(tagName) && typeof attributes.value === "string" && !isToggle({ attributes })) {
    attributes.value = maskValue(attributes.value, decision);
  }
  if (decision === Decision.SECRET) {
    if (FIELD_TAGS.has(tagName)) {
      delete attributes.checked;
      delete attributes.selected;
    }
    maskOtherAttributes(attributes);
  }
}

function redactAttributeChange(change, field) {
  const attributes = change.attributes;
  const decision = field ? maskDecision(field) : Decision.MASK;
  const tagName = String(field?.tagName ?? "").toLowerCase();
  if (typeof attributes.value === "string" && (!field || (FIELD_TAGS.has(tagName) && !isToggle(field)))) {
    attributes.value = maskValue(attributes.value, decision);
  }
  if (decision === Decision.SECRET) maskOtherAttributes(attributes);
}

function maskOtherAttributes(attributes) {
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "value" || SAFE_ATTRIBUTES.has(name) || name.startsWith("rr_") || name === "_cssText") continue;
    if (typeof value === "string" && value !== "") attributes[name] = maskText(value);
  }
}

// --- live elements ------------------------------------------------------------------------

const ELEMENT_NODE = 1;

/**
 * The description maskDecision() takes, read from a live element (a text node stands for its
 * parent element). Null for anything else.
 */
export function describeElement(node) {
  const element = node && node.nodeType !== ELEMENT_NODE ? node.parentElement : node;
  if (!element || element.nodeType !== ELEMENT_NODE) return null;
  const attributes = {};
  for (const name of [...NAMING_ATTRIBUTES, "type"]) {
    const value = element.getAttribute(name);
    if (value !== null) attributes[name] = value;
  }
  // The property knows the kind even without the attribute (an input without type is text).
  if (element.tagName === "INPUT" && typeof element.type === "string") attributes.type = element.type;
  // rrweb marks a password field that a "show password" toggle turned into a text field.
  if (element.hasAttribute("data-rr-is-password")) attributes.type = "password";
  return {
    tagName: element.tagName.toLowerCase(),
    attributes,
    insideMask: Boolean(element.closest("[data-cobrowse-mask]")),
    insideUnmask: Boolean(element.closest("[data-cobrowse-unmask]")),
  };
}
