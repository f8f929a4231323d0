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

  // WhatsApp's own markup: *bold*, _italic_, ~strike~, ```mono```; text is escaped first.
  function formatText(text) {
    const escaped = String(text)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
    return escaped
      .replace(/```([\s\S]+?)```/g, "<code>$1</code>")
      .replace(/(^|[\s(])\*([^*\n]+)\*(?=[\s).,!?:;]|$)/g, "$1<strong>$2</strong>")
      .replace(/(^|[\s(])_([^_\n]+)_(?=[\s).,!?:;]|$)/g, "$1<em>$2</em>")
      .replace(/(^|[\s(])~([^~\n]+)~(?=[\s).,!?:;]|$)/g, "$1<s>$2</s>")
      .replace(/(https?:\/\/[^\s<]+)/g, '<a href="$1" target="_blank" rel="noopener">$1</a>');
  }

  function textBlock(text, className = "text") {
    const node = el("div", className);
    node.innerHTML = formatText(text || "");
    return node;
  }

  function timeOf(seconds) {
    const date = new Date(seconds * 1000);
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function meta(entry, outgoing) {
    const node = el("span", "meta");
    node.append(el("span", "time", timeOf(entry.time)));
    if (outgoing) {
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
    if (entry.data.status !== 200) {
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
      image.src = message.image.link || "";
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

  return { el, formatText, timeOf, rupees, customerBubble, botBubble, rejectedNote, systemNote };
})();
