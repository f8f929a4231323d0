// How WhatsApp shows messages: bubbles for what the customer sent and for what the bot
// sent through the Graph API (text, image, reply buttons, list, cta_url, product lists).
// Pure DOM building; what a tap does is given by the caller (`actions`).
"use strict";

const WA = (() => {
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  // Only web links are followed: a javascript:, data: or any other scheme stays text.
  function safeUrl(value) {
    try {
      const url = new URL(String(value));
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (error) {
      return null;
    }
  }

  // Everything put into HTML is escaped, attributes included (for formatText's string).
  function escapeHtml(value) {
    return String(value).replace(/[&<>"']/g, (c) => ({
      "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
    })[c]);
  }

  // WhatsApp's own markup: *bold*, _italic_, ~strike~, ```mono```, and web links.
  // Built as DOM nodes (text nodes and a few fixed elements), never parsed as HTML, so
  // nothing a customer or the bot writes can become markup or an attribute.
  const MARKUP = [
    { tag: "code", pattern: /```([\s\S]+?)```/g, plain: true },
    { tag: "a", pattern: /https?:\/\/[^\s<>"'`]+[^\s<>"'`.,!?:;)\]}]/g },
    { tag: "strong", pattern: /(?<=^|[\s(])\*([^*\n]+)\*(?=[\s).,!?:;]|$)/g },
    { tag: "em", pattern: /(?<=^|[\s(])_([^_\n]+)_(?=[\s).,!?:;]|$)/g },
    { tag: "s", pattern: /(?<=^|[\s(])~([^~\n]+)~(?=[\s).,!?:;]|$)/g },
  ];

  function appendMarkup(parent, text) {
    let at = 0;
    while (at < text.length) {
      let first = null;
      for (const rule of MARKUP) {
        rule.pattern.lastIndex = at;
        const found = rule.pattern.exec(text);
        if (found && (!first || found.index < first.found.index)) first = { rule, found };
      }
      if (!first) break;
      const { rule, found } = first;
      if (found.index > at) parent.append(document.createTextNode(text.slice(at, found.index)));
      if (rule.tag === "a") {
        const href = safeUrl(found[0]);
        if (href) {
          const link = el("a", "", found[0]);
          link.href = href;
          link.target = "_blank";
          link.rel = "noopener noreferrer";
          parent.append(link);
        } else {
          parent.append(document.createTextNode(found[0]));
        }
      } else if (rule.plain) {
        parent.append(el(rule.tag, "", found[1]));
      } else {
        const node = el(rule.tag);
        appendMarkup(node, found[1]);
        parent.append(node);
      }
      at = found.index + found[0].length;
    }
    if (at < text.length) parent.append(document.createTextNode(text.slice(at)));
    return parent;
  }

  // The same as an HTML string, every character escaped (for callers that need one).
  function formatText(text) {
    const box = document.createElement("div");
    appendMarkup(box, String(text));
    return box.innerHTML;
  }

  function textBlock(text, className = "text") {
    return appendMarkup(el("div", className), String(text || ""));
  }

  function timeOf(seconds) {
    const date = new Date(seconds * 1000);
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function meta(entry, outgoing) {
    const node = el("span", "meta");
    node.append(el("span", "time", timeOf(entry.time)));
    if (outgoing && entry.data.queued) {
      const clock = el("span", "ticks waiting", "🕓");
      clock.title = "Waiting: the bot is starting; sent as soon as it is ready";
      node.append(clock);
    } else if (outgoing) {
      const ticks = el("span", "ticks", entry.data.status === 200 ? "✓✓" : "!");
      ticks.title = entry.data.status === 200 ? "Delivered to the bot" : "Not delivered";
      node.append(ticks);
    }
    return node;
  }

  function bubble(entry, direction) {
    const row = el("div", `row ${direction}`);
    const box = el("div", `bubble ${direction}`);
    row.append(box);
    return { row, box };
  }

  function rupees(paise) {
    const value = paise / 100;
    return "₹" + value.toLocaleString("en-IN", { maximumFractionDigits: 2 });
  }

  // -- what the customer sent ------------------------------------------------------

  function customerText(message, catalog) {
    switch (message.type) {
      case "text": return message.text.body;
      case "interactive": {
        const reply = message.interactive[message.interactive.type] || {};
        return reply.title || reply.id || "";
      }
      case "order": {
        const items = message.order.product_items || [];
        const count = items.reduce((sum, item) => sum + item.quantity, 0);
        const total = items.reduce((sum, item) => {
          const product = catalog.get(item.product_retailer_id);
          return sum + (product ? product.price * item.quantity : 0);
        }, 0);
        return `🛒 Cart sent: ${count} item${count === 1 ? "" : "s"} · ${rupees(total)}`;
      }
      case "image": return "📷 Photo" + (message.image.caption ? ` · ${message.image.caption}` : "");
      case "location": return `📍 ${message.location.name || "Location"}`;
      default: return `[${message.type}]`;
    }
  }

  function customerBubble(entry, catalog) {
    const message = entry.data.message;
    const { row, box } = bubble(entry, "out");
    box.dataset.messageId = message.id;
    box.dataset.seq = entry.seq;
    if (message.type === "interactive") box.classList.add("reply");
    box.append(textBlock(customerText(message, catalog)));
    box.append(meta(entry, true));
    if (entry.data.queued) {
      box.classList.add("waiting");
    } else if (entry.data.status !== 200) {
      const answer = entry.data.answer || {};
      const reason = answer.error || `HTTP ${entry.data.status}`;
      row.append(el("div", "not-delivered", `Not delivered: ${reason}`));
      box.classList.add("failed");
    }
    return row;
  }

  // -- what the bot sent -----------------------------------------------------------

  function actionButton(label, className, onClick, icon) {
    const button = el("button", `msg-button ${className}`);
    button.type = "button";
    if (icon) button.append(el("span", "icon", icon));
    button.append(el("span", "label", label));
    button.addEventListener("click", onClick);
    return button;
  }

  function interactiveParts(box, interactive) {
    const header = interactive.header;
    if (header && header.type === "text") box.append(el("div", "header", header.text));
    if (interactive.body) box.append(textBlock(interactive.body.text));
    if (interactive.footer) box.append(el("div", "footer", interactive.footer.text));
  }

  function botBubble(entry, actions) {
    const message = entry.data.message;
    const { row, box } = bubble(entry, "in");
    box.dataset.seq = entry.seq;
    const buttons = el("div", "msg-buttons");
    if (message.type === "text") {
      box.append(textBlock(message.text.body));
    } else if (message.type === "image") {
      const image = el("img", "image");
      const source = safeUrl(message.image.link || "");
      if (source) image.src = source;
      image.alt = message.image.caption || "image";
      box.append(image);
      if (message.image.caption) box.append(textBlock(message.image.caption));
    } else if (message.type === "interactive") {
      const interactive = message.interactive;
      interactiveParts(box, interactive);
      const action = interactive.action || {};
      if (interactive.type === "button") {
        for (const button of action.buttons || []) {
          buttons.append(actionButton(button.reply.title, "reply-button",
            () => actions.reply("button_reply", { id: button.reply.id, title: button.reply.title }), "↩"));
        }
      } else if (interactive.type === "list") {
        buttons.append(actionButton(action.button, "list-button", () => actions.openList(interactive), "☰"));
      } else if (interactive.type === "cta_url") {
        const parameters = action.parameters || {};
        const button = actionButton(parameters.display_text, "cta-button", () => actions.openUrl(parameters.url), "↗");
        button.title = parameters.url;
        buttons.append(button);
      } else if (interactive.type === "product_list" || interactive.type === "product") {
        const skus = interactive.type === "product"
          ? [action.product_retailer_id]
          : (action.sections || []).flatMap((s) => (s.product_items || []).map((i) => i.product_retailer_id));
        buttons.append(actionButton(interactive.type === "product" ? "View" : "View items", "products-button",
          () => actions.openProducts(skus, (interactive.header || {}).text || "Products"), "🛍"));
      }
    } else if (message.type === "template") {
      box.append(el("div", "header", `Template: ${message.template.name}`));
      box.append(el("div", "footer", "Approved template message (outside the 24-hour window)"));
    } else {
      box.append(el("pre", "unknown", JSON.stringify(message, null, 2)));
    }
    box.append(meta(entry, false));
    if (buttons.childElementCount) {
      const group = el("div", "bubble-group");
      row.replaceChildren(group);
      group.append(box, buttons);
      box.classList.add("has-buttons");
    }
    return row;
  }

  function rejectedNote(entry) {
    const error = (entry.data.error || {}).error || {};
    const details = (error.error_data || {}).details || "";
    const row = el("div", "row system");
    row.append(el("div", "system-note error",
      `⚠ Meta would refuse a message the bot tried to send: ${error.message || "error"} ${details}`.trim()));
    return row;
  }

  function systemNote(text, className = "") {
    const row = el("div", "row system");
    row.append(el("div", `system-note ${className}`.trim(), text));
    return row;
  }

  return { el, escapeHtml, safeUrl, formatText, timeOf, rupees, customerBubble, botBubble, rejectedNote, systemNote };
})();
