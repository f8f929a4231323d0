// The designer panel: what the bot understood of each customer message (from Rasa's
// tracker, via /sandbox/api/insight) and the log of requests to the stand-ins.
"use strict";

const Designer = (() => {
  const { el } = WA;
  const SERVICES = {
    graph: "→ Meta Graph API",
    razorpay: "→ Razorpay API",
    rasa: "→ Bot webhook",
  };

  function percent(value) {
    return value === null || value === undefined ? "" : `${Math.round(value * 100)}%`;
  }

  function chips(items, className) {
    const box = el("div", "chips");
    for (const item of items) box.append(el("span", `chip ${className}`, item));
    return box;
  }

  function turnCard(turn) {
    const card = el("article", "turn");
    if (turn.message_id) card.dataset.messageId = turn.message_id;
    if (turn.external) card.classList.add("external");
    card.append(el("div", "turn-text", turn.external ? `⚡ ${turn.intent} (from the payment webhook)` : `“${turn.text}”`));

    const intent = el("div", "intent");
    intent.append(el("span", "label", "Intent"), el("span", "intent-name", turn.intent || "—"));
    const bar = el("span", "confidence");
    const fill = el("span", "fill");
    fill.style.width = percent(turn.confidence || 0);
    bar.append(fill);
    intent.append(bar, el("span", "confidence-value", percent(turn.confidence)));
    card.append(intent);

    if (turn.ranking.length) {
      card.append(el("div", "ranking", "then: " + turn.ranking.map((r) => `${r.name} ${percent(r.confidence)}`).join(", ")));
    }
    if (turn.entities.length) {
      const row = el("div", "field");
      row.append(el("span", "label", "Entities"), chips(turn.entities.map((e) => `${e.entity} = ${JSON.stringify(e.value)}`), "entity"));
      card.append(row);
    }
    const actions = el("div", "field");
    actions.append(el("span", "label", "Actions"));
    const list = el("ol", "actions");
    for (const action of turn.actions) {
      const item = el("li", "", action.name);
      if (action.policy) item.append(el("span", "policy", ` ${action.policy.replace(/^policy_\d+_/, "")} ${percent(action.confidence)}`));
      list.append(item);
    }
    if (!turn.actions.length) list.append(el("li", "none", "none yet"));
    actions.append(list);
    card.append(actions);

    const slots = Object.entries(turn.slots || {});
    if (slots.length) {
      const row = el("div", "field");
      row.append(el("span", "label", "Slots set"), chips(slots.map(([name, value]) => `${name} = ${JSON.stringify(value)}`), "slot"));
      card.append(row);
    }
    return card;
  }

  function renderInsight(container, data, selectedMessageId) {
    container.replaceChildren();
    if (!data.available) {
      container.append(el("p", "hint", "No tracker to show: the bot's HTTP API is not reachable (make run enables it, with a token, in sandbox mode), or this customer has not written yet."));
      return;
    }
    if (!data.turns.length) {
      container.append(el("p", "hint", "Send a message: each one appears here with the intent the bot predicted, its confidence, the entities, the actions that ran and the slots they set. Tap a message in the chat to jump to it."));
      return;
    }
    for (const turn of data.turns) container.append(turnCard(turn));
    highlight(container, selectedMessageId);
  }

  function highlight(container, messageId) {
    for (const card of container.querySelectorAll(".turn.selected")) card.classList.remove("selected");
    const cards = container.querySelectorAll(".turn");
    const card = messageId
      ? container.querySelector(`.turn[data-message-id="${CSS.escape(messageId)}"]`)
      : cards[cards.length - 1];
    if (card) {
      card.classList.add("selected");
      card.scrollIntoView({ block: "nearest" });
    }
  }

  // A few words on what an exchange carried, for the log's one-line summary.
  function what(exchange) {
    const body = exchange.request || {};
    if (exchange.service === "graph") {
      if (body.status === "read") return "read receipt";
      return body.type === "interactive" ? `interactive ${body.interactive.type}` : body.type || "";
    }
    if (exchange.service === "rasa") {
      if (body.event) return body.event;
      const change = (((body.entry || [])[0] || {}).changes || [])[0] || {};
      const message = ((change.value || {}).messages || [])[0] || {};
      return message.type ? `${message.type} from +${message.from}` : "";
    }
    return body.reference_id ? `reference ${body.reference_id}` : "";
  }

  function logLine(entry) {
    const exchange = entry.data;
    const details = el("details", `log-entry ${exchange.service}`);
    const summary = el("summary");
    const ok = exchange.status >= 200 && exchange.status < 300;
    summary.append(
      el("span", "log-time", WA.timeOf(entry.time)),
      el("span", "log-service", SERVICES[exchange.service] || exchange.service),
      el("span", "log-path", `${exchange.method} ${exchange.path}`),
      el("span", "log-what", what(exchange)),
      el("span", `log-status ${ok ? "ok" : "bad"}`, exchange.status === 0 ? "unreachable" : String(exchange.status)),
    );
    details.append(summary);
    details.append(el("div", "label", "Request"), el("pre", "", JSON.stringify(exchange.request, null, 2)));
    details.append(el("div", "label", "Response"), el("pre", "", JSON.stringify(exchange.response, null, 2)));
    return details;
  }

  return { renderInsight, highlight, logLine };
})();
