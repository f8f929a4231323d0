// The chat page: who the customer is, what they send (to /sandbox/api/messages, which
// posts it to the bot as a signed WhatsApp event), and what arrives (server-sent events
// of the sandbox's journal, filtered to this customer).
"use strict";

(() => {
  const { el } = WA;
  const $ = (id) => document.getElementById(id);
  const state = {
    phone: "",
    name: "",
    seen: new Set(),           // journal entries already shown in the chat
    customers: new Map(),      // phone -> unread count
    catalog: new Map(),        // sku -> product
    selectedMessageId: null,   // the customer message the designer panel is about
    botReady: false,
    typingTimer: null,
    insightTimer: null,
  };

  // -- customers -------------------------------------------------------------------

  function randomPhone() {
    return "9198" + String(Math.floor(Math.random() * 1e8)).padStart(8, "0");
  }

  function renderCustomers() {
    const nav = $("customers");
    nav.replaceChildren();
    for (const [phone, unread] of state.customers) {
      const chip = el("button", `customer${phone === state.phone ? " active" : ""}`, `+${phone}`);
      chip.type = "button";
      if (unread) chip.append(el("span", "unread", String(unread)));
      chip.addEventListener("click", () => switchTo(phone));
      nav.append(chip);
    }
  }

  async function switchTo(phone) {
    state.phone = phone;
    $("phone").value = phone;
    localStorage.setItem("sandbox.phone", phone);
    state.customers.set(phone, 0);
    renderCustomers();
    state.selectedMessageId = null;
    await loadHistory();
    refreshInsight();
  }

  // -- the conversation ------------------------------------------------------------

  function scrollDown() {
    const box = $("messages");
    box.scrollTop = box.scrollHeight;
  }

  function setStatus(text, className = "") {
    const status = $("chat-status");
    status.textContent = text;
    status.className = `chat-status ${className}`.trim();
  }

  function showTyping(on) {
    clearTimeout(state.typingTimer);
    if (on) {
      setStatus("typing…", "typing");
      state.typingTimer = setTimeout(() => showTyping(false), 25000); // as WhatsApp clears it
    } else {
      setStatus(state.botReady ? "online" : "starting… (the bot is loading its model)", state.botReady ? "" : "starting");
    }
  }

  function render(entry) {
    if (state.seen.has(entry.seq)) return;
    state.seen.add(entry.seq);
    const messages = $("messages");
    if (entry.kind === "customer") {
      const row = WA.customerBubble(entry, state.catalog);
      row.querySelector(".bubble").addEventListener("click", () => select(entry.data.message.id));
      messages.append(row);
    } else if (entry.kind === "bot") {
      messages.append(WA.botBubble(entry, bubbleActions));
      showTyping(false);
      scheduleInsight();
    } else if (entry.kind === "rejected") {
      messages.append(WA.rejectedNote(entry));
    } else if (entry.kind === "read") {
      const bubble = messages.querySelector(`.bubble[data-message-id="${CSS.escape(entry.data.message_id)}"]`);
      if (bubble) bubble.classList.add("read");
      if (entry.data.typing) showTyping(true);
      return;
    }
    scrollDown();
  }

  async function loadHistory() {
    state.seen.clear();
    $("messages").replaceChildren(WA.systemNote(
      "🔒 This is a sandbox chat: messages go to the real bot on this machine, never to WhatsApp.", "encryption"));
    const response = await fetch(`/sandbox/api/history?phone=${encodeURIComponent(state.phone)}`);
    const { entries } = await response.json();
    entries.forEach(render);
  }

  async function send(message) {
    if (!$("customer-form").reportValidity()) return;
    const response = await fetch("/sandbox/api/messages", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ phone: state.phone, name: state.name, message }),
    });
    const entry = await response.json();
    if (!response.ok) {
      $("messages").append(WA.systemNote(`⚠ ${entry.error}`, "error"));
      scrollDown();
      return;
    }
    if (!state.customers.has(state.phone)) {
      state.customers.set(state.phone, 0);
      renderCustomers();
    }
    render(entry);
    state.selectedMessageId = entry.data.message.id;
  }

  // -- taps on bot messages --------------------------------------------------------

  const bubbleActions = {
    reply(kind, reply) {
      send({ type: "interactive", interactive: { type: kind, [kind]: reply } });
    },
    openUrl(url) {
      window.open(url, "_blank", "noopener");
    },
    openList(interactive) {
      const body = $("sheet-body");
      body.replaceChildren();
      let chosen = null;
      for (const section of interactive.action.sections || []) {
        if (section.title) body.append(el("div", "sheet-section", section.title));
        for (const row of section.rows || []) {
          const label = el("label", "sheet-row");
          const radio = el("input");
          radio.type = "radio";
          radio.name = "list-choice";
          radio.addEventListener("change", () => { chosen = row; });
          const text = el("span", "sheet-row-text");
          text.append(el("span", "sheet-row-title", row.title));
          if (row.description) text.append(el("span", "sheet-row-description", row.description));
          label.append(text, radio);
          body.append(label);
        }
      }
      openSheet(interactive.action.button, "Send", () => {
        if (!chosen) return false;
        const reply = { id: chosen.id, title: chosen.title };
        if (chosen.description) reply.description = chosen.description;
        send({ type: "interactive", interactive: { type: "list_reply", list_reply: reply } });
        return true;
      });
    },
    openProducts(skus, title) {
      openCart(skus.map((sku) => state.catalog.get(sku)).filter(Boolean), title);
    },
  };

  // A product list or the whole catalog, with quantities: sent as a WhatsApp cart (order).
  function openCart(products, title) {
    const body = $("sheet-body");
    body.replaceChildren();
    const quantities = new Map();
    for (const product of products) {
      const row = el("div", "sheet-row product");
      const text = el("span", "sheet-row-text");
      text.append(el("span", "sheet-row-title", product.name), el("span", "sheet-row-description", WA.rupees(product.price)));
      const count = el("span", "quantity", "0");
      const change = (delta) => {
        const value = Math.max(0, (quantities.get(product.sku) || 0) + delta);
        quantities.set(product.sku, value);
        count.textContent = String(value);
      };
      const minus = el("button", "step", "−");
      const plus = el("button", "step", "+");
      minus.type = plus.type = "button";
      minus.addEventListener("click", () => change(-1));
      plus.addEventListener("click", () => change(1));
      const stepper = el("span", "stepper");
      stepper.append(minus, count, plus);
      row.append(text, stepper);
      body.append(row);
    }
    openSheet(title, "Send cart", () => {
      const items = [...quantities].filter(([, q]) => q > 0).map(([sku, quantity]) => ({
        product_retailer_id: sku, quantity, item_price: state.catalog.get(sku).price / 100, currency: "INR",
      }));
      if (!items.length) return false;
      send({ type: "order", order: { catalog_id: "sandbox-catalog", text: "", product_items: items } });
      return true;
    });
  }

  function openSheet(title, sendLabel, onSend) {
    $("sheet-title").textContent = title;
    $("sheet-send").textContent = sendLabel;
    $("sheet-send").onclick = () => { if (onSend()) closeSheet(); };
    $("sheet").hidden = false;
  }

  function closeSheet() {
    $("sheet").hidden = true;
  }

  // -- the designer panel ----------------------------------------------------------

  function select(messageId) {
    state.selectedMessageId = messageId;
    for (const b of document.querySelectorAll(".bubble.selected")) b.classList.remove("selected");
    const bubble = document.querySelector(`.bubble[data-message-id="${CSS.escape(messageId)}"]`);
    if (bubble) bubble.classList.add("selected");
    showTab("insight");
    Designer.highlight($("insight"), messageId);
  }

  // At most one refresh per 700 ms while messages keep coming (never postponed for good).
  function scheduleInsight() {
    if (state.insightTimer) return;
    state.insightTimer = setTimeout(() => { state.insightTimer = null; refreshInsight(); }, 700);
  }

  async function refreshInsight() {
    const phone = state.phone;
    const response = await fetch(`/sandbox/api/insight?phone=${encodeURIComponent(phone)}`);
    if (phone !== state.phone) return;
    Designer.renderInsight($("insight"), await response.json(), state.selectedMessageId);
  }

  function showTab(name) {
    for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.tab === name);
    $("insight").hidden = name !== "insight";
    $("requests").hidden = name !== "requests";
  }

  function logRequest(entry) {
    const log = $("request-log");
    log.append(Designer.logLine(entry));
    while (log.childElementCount > 300) log.firstElementChild.remove();
    log.parentElement.scrollTop = log.parentElement.scrollHeight;
  }

  async function loadLog() {
    const response = await fetch("/sandbox/api/log");
    const { entries } = await response.json();
    $("request-log").replaceChildren();
    entries.forEach(logRequest);
  }

  // -- live updates ----------------------------------------------------------------

  function listen() {
    const source = new EventSource("/sandbox/api/stream");
    let opened = false;
    source.onopen = () => {
      if (opened) { loadHistory(); loadLog(); } // reconnected: catch up on what was missed
      opened = true;
    };
    source.onmessage = (event) => {
      const entry = JSON.parse(event.data);
      if (entry.kind === "request") { logRequest(entry); return; }
      if (!entry.phone) return;
      if (entry.phone === state.phone) { render(entry); return; }
      if (entry.kind === "bot") state.customers.set(entry.phone, (state.customers.get(entry.phone) || 0) + 1);
      else if (!state.customers.has(entry.phone)) state.customers.set(entry.phone, 0);
      renderCustomers();
    };
  }

  async function pollStatus() {
    try {
      const response = await fetch("/sandbox/api/status");
      const status = await response.json();
      $("shop-name").textContent = status.shop_name;
      document.title = `${status.shop_name} · WhatsApp sandbox`;
      const wasReady = state.botReady;
      state.botReady = status.bot_ready;
      if (!$("chat-status").classList.contains("typing") || wasReady !== state.botReady) showTyping(false);
    } catch (error) {
      state.botReady = false;
      setStatus("the sandbox server is not reachable", "starting");
    }
    setTimeout(pollStatus, state.botReady ? 15000 : 2000);
  }

  async function loadCatalog() {
    const response = await fetch("/sandbox/api/catalog");
    const { products } = await response.json();
    for (const product of products) state.catalog.set(product.sku, product);
  }

  // -- wiring ----------------------------------------------------------------------

  async function start() {
    state.phone = localStorage.getItem("sandbox.phone") || "919800000001";
    state.name = localStorage.getItem("sandbox.name") || "Asha Rao";
    $("phone").value = state.phone;
    $("name").value = state.name;
    $("phone").addEventListener("change", () => {
      const phone = $("phone").value.trim();
      if ($("phone").checkValidity() && phone) switchTo(phone);
    });
    $("name").addEventListener("change", () => {
      state.name = $("name").value.trim();
      localStorage.setItem("sandbox.name", state.name);
    });
    $("customer-form").addEventListener("submit", (event) => event.preventDefault());
    $("new-customer").addEventListener("click", () => switchTo(randomPhone()));
    $("composer").addEventListener("submit", (event) => {
      event.preventDefault();
      const text = $("composer-input").value;
      if (!text.trim()) return;
      $("composer-input").value = "";
      send({ type: "text", text: { body: text } });
    });
    $("send-photo").addEventListener("click", () => send({ type: "image", image: { caption: "is this available?" } }));
    $("open-catalog").addEventListener("click", () => openCart([...state.catalog.values()], "Catalog"));
    $("sheet-close").addEventListener("click", closeSheet);
    $("sheet").addEventListener("click", (event) => { if (event.target === $("sheet")) closeSheet(); });
    for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => showTab(tab.dataset.tab));

    await loadCatalog();
    state.customers.set(state.phone, 0);
    renderCustomers();
    listen();
    pollStatus();
    await Promise.all([loadHistory(), loadLog()]);
    refreshInsight();
    $("composer-input").focus();
  }

  start();
})();
