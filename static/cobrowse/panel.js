// The customer's help panel: the join code, the session's state (waiting, operator joined,
// control requested, control granted, ended), the control prompt, chat and "end session".
//
// Guarantees:
//   - It renders a state of session-state.js and reports what the customer asks for through
//     callbacks; it sends nothing itself.
//   - It lives in the widget's root (#cobrowse-root), which is never recorded: the operator
//     does not see the panel, and cannot click it (actions.js refuses the root).
//   - Text from the network goes into the page as text (textContent), never as markup.
//   - State changes are announced to screen readers through one polite live region (while the
//     panel is collapsed, through one beside it, with messages from support); the control
//     prompt is a labelled group whose buttons say what they do.
//   - Keyboard: a request for control moves focus to Allow, unless the customer is typing in a
//     field (see #offerPrompt); Escape in the prompt denies; after an answer focus lands on
//     what comes next (Take back control, or where it was before the prompt), and never falls
//     out of the panel when the part holding it goes away.

import { nameOf, phase } from "./session-state.js";

const TEMPLATE = `
  <header class="cb-panel__header">
    <h2 class="cb-panel__title" id="cobrowse-panel-title" tabindex="-1">Help session</h2>
    <span class="cb-panel__tools">
      <button type="button" class="cb-panel__move" data-action="move" id="cobrowse-move" aria-label="Move the help panel to another corner" title="Move to another corner">
        <svg viewBox="0 0 16 16" width="16" height="16" aria-hidden="true" focusable="false"><path d="M8 2v12M2 8h12M8 2l-2 2M8 2l2 2M8 14l-2-2M8 14l2-2M2 8l2-2M2 8l2 2M14 8l-2-2M14 8l-2 2" /></svg>
      </button>
      <button type="button" class="cb-panel__hide" data-action="hide" aria-label="Hide the help panel">
        <svg viewBox="0 0 16 16" width="16" height="16" aria-hidden="true" focusable="false"><path d="M3 8h10" /></svg>
      </button>
    </span>
  </header>
  <div class="cb-panel__body">
    <p class="cb-status" id="cobrowse-status" role="status" aria-live="polite">
      <span class="cb-status__dot" aria-hidden="true"></span><span class="cb-status__text"></span>
    </p>
    <p class="cb-connection" id="cobrowse-connection" hidden>Connection lost. Reconnecting…</p>
    <p class="cb-connection" id="cobrowse-elsewhere" hidden>Support sees your other tab now. Click on this page to show it instead.</p>
    <p class="cb-note" data-part="note" hidden>Thank you for contacting us. If you need more help, press “Get help” again.</p>
    <div class="cb-code" data-part="code">
      <span class="cb-code__label" id="cobrowse-code-label">Your help code</span>
      <strong class="cb-code__digits" id="cobrowse-code" aria-labelledby="cobrowse-code-label"></strong>
      <span class="cb-code__hint">If you are on the phone with us, read this code to the agent.</span>
    </div>
    <div class="cb-prompt" id="cobrowse-control-request" role="group" aria-labelledby="cobrowse-request-text" hidden>
      <p class="cb-prompt__text" id="cobrowse-request-text"></p>
      <p class="cb-prompt__note">They can click and type in fields they can see, never in your card, account or ID details. You can take control back at any time.</p>
      <div class="cb-prompt__actions">
        <button type="button" class="cb-button cb-button--primary" data-action="allow" id="cobrowse-allow">Allow</button>
        <button type="button" class="cb-button" data-action="deny" id="cobrowse-deny">Deny</button>
      </div>
    </div>
    <div class="cb-control" data-part="control" hidden>
      <p class="cb-control__text"></p>
      <button type="button" class="cb-button cb-button--primary" data-action="revoke" id="cobrowse-revoke">Take back control</button>
    </div>
    <section class="cb-chat" aria-label="Chat with support" data-part="chat">
      <ol class="cb-chat__log" id="cobrowse-chat-log" aria-live="polite" aria-label="Messages"></ol>
      <form class="cb-chat__form" id="cobrowse-chat-form">
        <label class="cb-visually-hidden" for="cobrowse-chat-input">Message to support</label>
        <input id="cobrowse-chat-input" class="cb-chat__input" name="message" autocomplete="off" maxlength="2000" placeholder="Write a message…">
        <button type="submit" class="cb-button cb-button--primary cb-chat__send">Send</button>
      </form>
    </section>
  </div>
  <footer class="cb-panel__footer">
    <button type="button" class="cb-button cb-button--quiet" data-action="grant" id="cobrowse-grant" hidden></button>
    <button type="button" class="cb-button cb-button--danger" data-action="end" id="cobrowse-end">End session</button>
    <button type="button" class="cb-button cb-button--primary" data-action="close" id="cobrowse-close" hidden>Close</button>
  </footer>
`;

const STATUS_TEXT = {
  waiting: () => "Waiting for a support agent…",
  joined: (name) => `${name} from support has joined`,
  // After a hand-over: who is helping now.
  helping: (name) => `${name} from support is helping you now`,
  request: (name) => `${name} asks to control this page`,
  control: (name) => `${name} is controlling this page`,
  ended: () => "This help session has ended",
  forbidden: () => "This help session is no longer available",
};

// What the handle (the "Help session" button, all that shows of a collapsed panel) says.
const RECONNECTING = "Reconnecting…";
const HANDLE_TEXT = {
  waiting: () => "Waiting for support",
  joined: (name) => `${name} is helping`,
  request: (name) => `${name} asks for control`,
  control: (name) => `${name} has control`,
};

export class Panel {
  #root;
  #button;
  #panel;
  #parts = {};
  #callbacks;
  #open = false;
  #handleText = "Get help";
  #unread = 0; // messages from support while the panel was collapsed
  #handleKey = "";
  #announcer;
  #renderedChat = new Map(); // key -> <li>
  #phase = null; // as last rendered
  #promptPending = false; // a request arrived that has not been offered focus yet
  #focusBeforePrompt = null; // where the customer was when the prompt took focus
  #allowed = false; // Allow was pressed: "Take back control" gets focus once it shows

  /**
   * @param {HTMLElement} root the widget's root (#cobrowse-root)
   * @param {HTMLButtonElement} button the page's "Get help" button
   * @param {object} callbacks onAllow, onDeny, onGrant, onRevoke, onEnd, onChat(text), onHide, onClose,
   *   onMove (the customer asks to move the panel to another corner)
   */
  constructor(root, button, callbacks) {
    this.#root = root;
    this.#button = button;
    this.#callbacks = callbacks;
    const doc = root.ownerDocument;
    const panel = doc.createElement("section");
    panel.className = "cb-panel";
    panel.id = "cobrowse-panel";
    panel.hidden = true;
    panel.setAttribute("aria-labelledby", "cobrowse-panel-title");
    panel.innerHTML = TEMPLATE;
    // What the status line says, for screen readers, while the panel is hidden.
    const announcer = doc.createElement("p");
    announcer.className = "cb-visually-hidden";
    announcer.id = "cobrowse-announcer";
    announcer.setAttribute("role", "status");
    announcer.setAttribute("aria-live", "polite");
    root.append(panel, announcer);
    this.#panel = panel;
    this.#announcer = announcer;
    const q = (selector) => panel.querySelector(selector);
    this.#parts = {
      statusText: q(".cb-status__text"),
      connection: q("#cobrowse-connection"),
      elsewhere: q("#cobrowse-elsewhere"),
      note: q('[data-part="note"]'),
      code: q('[data-part="code"]'),
      digits: q("#cobrowse-code"),
      prompt: q("#cobrowse-control-request"),
      promptText: q("#cobrowse-request-text"),
      allow: q("#cobrowse-allow"),
      control: q('[data-part="control"]'),
      revoke: q("#cobrowse-revoke"),
      title: q("#cobrowse-panel-title"),
      controlText: q(".cb-control__text"),
      chat: q('[data-part="chat"]'),
      log: q("#cobrowse-chat-log"),
      form: q("#cobrowse-chat-form"),
      input: q("#cobrowse-chat-input"),
      grant: q("#cobrowse-grant"),
      end: q("#cobrowse-end"),
      close: q("#cobrowse-close"),
    };
    button.setAttribute("aria-controls", panel.id);
    panel.addEventListener("click", (event) => this.#clicked(event));
    panel.addEventListener("keydown", (event) => {
      // A key held down since before the prompt took focus does not press Allow: only a fresh
      // press grants control.
      if (event.repeat && event.target === this.#parts.allow) event.preventDefault();
      if (event.key !== "Escape") return;
      // Escape answers the prompt it is pressed in (as Cancel in a dialog), and otherwise hides.
      if (!this.#parts.prompt.hidden && this.#parts.prompt.contains(event.target)) this.#answer("deny");
      else this.#userHide();
    });
    this.#parts.form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = this.#parts.input.value.trim();
      if (!text) return;
      this.#parts.input.value = "";
      this.#callbacks.onChat?.(text);
    });
  }

  get open() {
    return this.#open;
  }

  /** The panel's element, for the widget to place it (next to the button). */
  get element() {
    return this.#panel;
  }

  /** Whether the customer is writing in the panel (a collapse now would take that away). */
  get writing() {
    const input = this.#parts.input;
    return input.value.trim() !== "" || input.getRootNode().activeElement === input;
  }

  /** A message from support arrived: the collapsed panel's handle counts it until shown. */
  noteMessage() {
    if (this.#open) return;
    this.#unread += 1;
    this.#renderHandle();
    setText(this.#announcer, this.#unread === 1 ? "New message from support" : `${this.#unread} new messages from support`);
  }

  /** Show the panel; `focus` (the customer opened it) moves the keyboard into it. */
  show({ focus = false } = {}) {
    this.#open = true;
    this.#panel.hidden = false;
    this.#button.setAttribute("aria-expanded", "true");
    this.#unread = 0;
    this.#renderHandle();
    if (focus) this.#parts.title.focus();
    this.#offerPrompt();
  }

  hide({ focusButton = false } = {}) {
    // Focus inside the panel would be lost with it: it goes to the button.
    if (this.#panel.contains(this.#panel.getRootNode().activeElement)) focusButton = true;
    this.#open = false;
    this.#panel.hidden = true;
    this.#button.setAttribute("aria-expanded", "false");
    if (focusButton) this.#button.focus();
  }

  /** The button is idle again (no session): "Get help". */
  reset() {
    this.hide();
    this.#unread = 0;
    this.#handleText = "Get help";
    this.#renderHandle();
    this.#button.removeAttribute("data-cobrowse-state");
    this.#button.removeAttribute("aria-expanded");
    this.#parts.log.replaceChildren();
    this.#renderedChat.clear();
    this.#parts.digits.textContent = "";
    delete this.#panel.dataset.state;
  }

  /** The "Get help" button is waiting for the server (creating the session). */
  busy(busy) {
    this.#button.setAttribute("aria-busy", String(busy));
    this.#button.disabled = busy;
  }

  /** Show a problem before any session exists (the API could not be reached). */
  failed(message) {
    this.show();
    this.#panel.dataset.state = "error";
    this.#parts.statusText.textContent = message;
    for (const part of ["note", "connection", "elsewhere", "code", "prompt", "control", "chat", "grant", "end"]) this.#parts[part].hidden = true;
    this.#parts.close.hidden = false;
  }

  render(state) {
    const focused = this.#focusedInPanel();
    const current = phase(state);
    if (current === "request" && this.#phase !== "request") this.#promptPending = true;
    if (current !== "request") this.#promptPending = false;
    this.#phase = current;
    const operatorName = nameOf(state, state.operator) || "An agent";
    const controllerName = nameOf(state, state.control) || operatorName;
    const requesterName = nameOf(state, state.request) || operatorName;
    const over = current === "ended" || current === "forbidden";
    const p = this.#parts;

    this.#panel.dataset.state = current;
    // While the connection is gone the handle says so: the collapsed panel hides its notice.
    const reconnecting = !over && state.connection === "reconnecting";
    this.#handleText = over
      ? "Get help"
      : reconnecting
        ? RECONNECTING
        : HANDLE_TEXT[current](current === "request" ? requesterName : current === "control" ? controllerName : operatorName);
    if (over) this.#unread = 0;
    this.#renderHandle();
    if (over) this.#button.removeAttribute("data-cobrowse-state");
    else this.#button.dataset.cobrowseState = reconnecting ? "reconnecting" : current;
    const name = current === "control" ? controllerName : current === "request" ? requesterName : operatorName;
    const text = current === "joined" && state.handedOver ? STATUS_TEXT.helping : STATUS_TEXT[current];
    setText(p.statusText, text(name));
    if (!this.#open) setText(this.#announcer, reconnecting ? p.connection.textContent : text(name));
    p.connection.hidden = over || state.connection !== "reconnecting";
    p.elsewhere.hidden = over || !state.elsewhere;

    p.note.hidden = !over;
    p.code.hidden = over;
    setText(p.digits, state.code ?? "");
    p.prompt.hidden = current !== "request";
    setText(p.promptText, `${requesterName} from support would like to control this page to help you.`);
    p.control.hidden = current !== "control";
    setText(p.controlText, `${controllerName} can click and type on this page for you.`);
    p.chat.hidden = over;
    p.grant.hidden = over || current !== "joined" || state.operator === null;
    setText(p.grant, `Let ${operatorName} control this page`);
    p.end.hidden = over;
    p.close.hidden = !over;
    this.#renderChat(state);
    this.#keepFocus(focused);
  }

  // --- focus --------------------------------------------------------------------------------

  /** The element of the panel that has focus (inside the widget's shadow root), or null. */
  #focusedInPanel() {
    const active = this.#root.getRootNode().activeElement;
    return active && this.#panel.contains(active) ? active : null;
  }

  /**
   * Move focus to Allow when a request for control arrives, so a keyboard or screen reader
   * user answers it at once. Not while the customer is typing in a field (on the page or in
   * the chat): taking the caret away mid-word is an unexpected change of context (WCAG 3.2.2),
   * and their next Space or Enter would press Allow without their having read the question.
   * Then the request is announced through the status live region, the prompt shows, and
   * Allow is reached with Tab as any button.
   */
  #offerPrompt() {
    if (!this.#promptPending || !this.#open || this.#parts.prompt.hidden) return;
    this.#promptPending = false;
    const before = deepActiveElement(this.#root.ownerDocument);
    if (isTextEntry(before)) return;
    this.#focusBeforePrompt = before;
    this.#parts.allow.focus();
  }

  /** After a render: focus goes where the customer expects it, and never out of the panel. */
  #keepFocus(focused) {
    const p = this.#parts;
    if (this.#allowed && !p.control.hidden) {
      this.#allowed = false;
      const active = this.#focusedInPanel();
      if (!active || active === p.title) p.revoke.focus();
    } else if (focused && !isShown(focused, this.#panel)) {
      // The part holding focus went away (a button pressed, the session ended): the next thing
      // to do, or the panel's title, rather than the top of the page.
      (p.close.hidden ? p.title : p.close).focus();
    }
    this.#offerPrompt();
  }

  /** Allow or Deny pressed (or Escape in the prompt). */
  #answer(action) {
    const back = this.#focusBeforePrompt;
    this.#focusBeforePrompt = null;
    this.#allowed = action === "allow";
    if (action === "allow") {
      this.#callbacks.onAllow?.();
      return;
    }
    // Denied: back to where the customer was, if that is still there (else #keepFocus decides).
    if (back?.isConnected && back !== this.#root.ownerDocument.body && !this.#panel.contains(back)) back.focus();
    this.#callbacks.onDeny?.();
  }

  #renderHandle() {
    const key = `${this.#handleText}|${this.#unread}`;
    if (key === this.#handleKey) return;
    this.#handleKey = key;
    const button = this.#button;
    const doc = button.ownerDocument;
    if (this.#handleText === "Get help" && !this.#unread) {
      setText(button, "Get help");
      delete button.dataset.attention;
      return;
    }
    const label = doc.createElement("span");
    label.className = "cb-launcher__label";
    label.textContent = this.#handleText;
    const parts = [label];
    if (this.#unread) {
      const badge = doc.createElement("span");
      badge.className = "cb-launcher__badge";
      badge.textContent = String(this.#unread);
      const hint = doc.createElement("span");
      hint.className = "cb-visually-hidden";
      hint.textContent = this.#unread === 1 ? " new message" : " new messages";
      badge.append(hint);
      parts.push(badge);
      button.dataset.attention = "";
    } else {
      delete button.dataset.attention;
    }
    button.replaceChildren(...parts);
  }

  #renderChat(state) {
    const lines = [
      ...state.chat.map((line) => ({ key: `s${line.seq}`, line, sending: false })),
      ...state.pending.map((line) => ({ key: `c${line.cid}`, line, sending: true })),
    ];
    const keep = new Set(lines.map(({ key }) => key));
    for (const [key, item] of this.#renderedChat) {
      if (!keep.has(key)) {
        item.remove();
        this.#renderedChat.delete(key);
      }
    }
    for (const { key, line, sending } of lines) {
      let item = this.#renderedChat.get(key);
      if (!item) {
        item = this.#chatItem(state, line, sending);
        this.#renderedChat.set(key, item);
      }
      this.#parts.log.append(item); // re-appending keeps the order of `lines`
    }
    this.#parts.log.scrollTop = this.#parts.log.scrollHeight;
  }

  #chatItem(state, line, sending) {
    const doc = this.#root.ownerDocument;
    const own = sending || line.role === "customer";
    const item = doc.createElement("li");
    item.className = `cb-chat__line cb-chat__line--${own ? "own" : "support"}${sending ? " cb-chat__line--sending" : ""}`;
    const who = doc.createElement("span");
    who.className = "cb-chat__who";
    who.textContent = own ? "You" : nameOf(state, line.participant) || "Support";
    const text = doc.createElement("span");
    text.className = "cb-chat__text";
    text.textContent = line.text;
    item.append(who, text);
    if (sending) {
      const note = doc.createElement("span");
      note.className = "cb-chat__note";
      note.textContent = "Sending…";
      item.append(note);
    }
    return item;
  }

  #userHide() {
    this.hide({ focusButton: true });
    this.#callbacks.onHide?.();
  }

  #clicked(event) {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const action = button.dataset.action;
    const callback = {
      hide: () => this.#userHide(),
      allow: () => this.#answer("allow"),
      deny: () => this.#answer("deny"),
      grant: this.#callbacks.onGrant,
      revoke: this.#callbacks.onRevoke,
      end: this.#callbacks.onEnd,
      close: this.#callbacks.onClose,
      move: this.#callbacks.onMove,
    }[action];
    callback?.();
  }
}

/** The focused element, looking into open shadow roots. */
function deepActiveElement(doc) {
  let active = doc.activeElement;
  while (active?.shadowRoot?.activeElement) active = active.shadowRoot.activeElement;
  return active;
}

const NOT_TYPED = new Set(["button", "submit", "reset", "checkbox", "radio", "range", "color", "file", "image"]);

/** Whether keys pressed in `element` write into it (Space and Enter included). */
function isTextEntry(element) {
  if (!element || element.nodeType !== 1) return false;
  if (element.isContentEditable || element.tagName === "TEXTAREA" || element.tagName === "SELECT") return true;
  return element.tagName === "INPUT" && !NOT_TYPED.has((element.getAttribute("type") || "text").toLowerCase());
}

/** Whether `element` is still in `container` and not inside a hidden part of it. */
function isShown(element, container) {
  return element.isConnected && !container.hidden && !element.closest("[hidden]");
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}
