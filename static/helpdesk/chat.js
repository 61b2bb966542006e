// The chat panel: messages both ways, shown when their op comes back from the server (so the
// log is the journal's order for everyone), and a form that sends `chat` ops.

import { MAX_TEXT } from "../cobrowse/protocol.js";
import { clock, h } from "./format.js";

export class Chat {
  #log;
  #form;
  #input;
  #seen = new Set();

  /** send(text) queues a chat op; the message appears once journaled. */
  constructor({ log, form, input, send }) {
    this.#log = log;
    this.#form = form;
    this.#input = input;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      send(text.slice(0, MAX_TEXT));
      input.value = "";
      input.focus();
    });
  }

  /** Show one chat op frame; `who` is the sender's name, `mine` whether I sent it. */
  add(op, { who, role, mine }) {
    if (this.#seen.has(op.seq)) return; // history and live delivery may overlap
    this.#seen.add(op.seq);
    const item = h(
      "li",
      { class: `chat__message chat__message--${mine ? "mine" : role}`, dataset: { seq: op.seq } },
      h("span", { class: "chat__meta" }, `${who} · ${clock(op.ts ?? Date.now())}`),
      h("span", { class: "chat__text" }, op.payload.text),
    );
    const after = [...this.#log.children].find((child) => Number(child.dataset.seq) > op.seq);
    this.#log.insertBefore(item, after ?? null);
    if (!after) this.#log.scrollTop = this.#log.scrollHeight;
  }

  /** A line from the desk itself (joined, control granted, ...). */
  note(op, text) {
    if (this.#seen.has(op.seq)) return;
    this.#seen.add(op.seq);
    const item = h("li", { class: "chat__note", dataset: { seq: op.seq } }, text);
    const after = [...this.#log.children].find((child) => Number(child.dataset.seq) > op.seq);
    this.#log.insertBefore(item, after ?? null);
    if (!after) this.#log.scrollTop = this.#log.scrollHeight;
  }

  disable(placeholder) {
    this.#input.disabled = true;
    this.#input.placeholder = placeholder;
    for (const button of this.#form.querySelectorAll("button")) button.disabled = true;
  }
}
