// The supervisors' live list of sessions and who is on each: read again every few seconds
// (GET /helpdesk/supervise/sessions/), so it follows sessions opening, being claimed, handed
// over and ending. Each row leads to the read-only watch page.

import { h } from "./format.js";

const url = JSON.parse(document.getElementById("supervise-url").textContent);
const list = document.getElementById("supervised");
const status = document.getElementById("supervise-status");
const EVERY_MS = 3000;

function people(participants) {
  if (!participants.length) return ["nobody yet"];
  return participants.flatMap((p, i) => [
    ...(i ? [", "] : []),
    h(
      "span",
      { class: "supervise-person", dataset: { role: p.role, connected: String(p.connected) } },
      `${p.name} (${p.role})`,
    ),
  ]);
}

function item(session) {
  return h(
    "li",
    { class: "queue-item", dataset: { session: session.id, code: session.code } },
    h(
      "a",
      { class: "queue-item__link", href: session.watch_url },
      h("span", { class: "queue-item__code" }, session.code),
      h("span", { class: "site-badge" }, session.site_label),
      h("span", { class: "queue-item__meta" }, `${session.status} · `, ...people(session.participants)),
      h("span", { class: "queue-item__action" }, "Watch"),
    ),
  );
}

async function refresh() {
  try {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const { sessions } = await response.json();
    list.replaceChildren(...sessions.map(item));
    document.getElementById("supervise-empty").hidden = sessions.length > 0;
    document.getElementById("supervise-count").textContent = String(sessions.length);
    status.dataset.state = "open";
    status.textContent = "Live";
  } catch {
    status.dataset.state = "reconnecting";
    status.textContent = "Reconnecting…";
  }
}

setInterval(refresh, EVERY_MS);
