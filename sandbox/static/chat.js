// The chat page: who the customer is, what they send (to /sandbox/api/messages, which
// posts it to the bot as a signed WhatsApp event, or holds it while the bot starts), and
// what arrives (server-sent events of the sandbox's journal, filtered to this customer).
// Every value is put into the page as text (WA.el, textContent), never as markup.
"use strict";

(() => {
  const { el } = WA;
  const $ = (id) => document.getElementById(id);
  const NARROW = window.matchMedia("(max-width: 900px)");
  // Names "+ New customer" gives, each once while unused in this sandbox.
  const NAMES = [
    "Asha Rao", "Ravi Kumar", "Priya Sharma", "Arjun Mehta", "Meera Iyer", "Vikram Singh",
    "Ananya Das", "Rahul Nair", "Kavya Reddy", "Imran Khan", "Neha Gupta", "Suresh Patel",
    "Fatima Shaikh", "Karan Malhotra", "Lakshmi Menon", "Rohan Joshi", "Divya Pillai",
    "Aman Verma", "Sneha Kulkarni", "Harpreet Kaur",
  ];
  const state = {
    phone: "",
    name: "",
    seen: new Set(),           // journal entries already shown in the chat
    customers: new Map(),      // phone -> { name, unread }
    sent: new Map(),           // customer message id -> its journal entry (for deliveries)
    catalog: new Map(),        // sku -> product
    selectedMessageId: null,   // the customer message the designer panel is about
    botReady: false,
    wasReady: false,           // the bot was ready once: a later outage is not a start-up
    waiting: 0,                // messages the sandbox holds until the bot is ready
    textLimit: 4096,
    typingTimer: null,
    insightTimer: null,
  };

  // -- customers -------------------------------------------------------------------

  function randomPhone() {
    return "9198" + String(Math.floor(Math.random() * 1e8)).padStart(8, "0");
  }

  function freshName() {
    const used = new Set([...state.customers.values()].map((c) => c.name));
    used.add(state.name);
    const name = NAMES.find((candidate) => !used.has(candidate));
    return name || `Customer ${state.customers.size + 1}`;
  }

  function known(phone, name) {
    const customer = state.customers.get(phone) || { name: "", unread: 0 };
    if (name) customer.name = name;
    state.customers.set(phone, customer);
    return customer;
  }

  // Chips: the name, and the number under it; the sandbox server keeps the list, so a
  // reload (or another tab) shows the same customers.
  function renderCustomers() {
    const nav = $("customers");
    nav.replaceChildren();
    for (const [phone, customer] of state.customers) {
      const chip = el("button", `customer${phone === state.phone ? " active" : ""}`);
      chip.type = "button";
      chip.title = `Chat as ${customer.name || "this customer"} (+${phone})`;
      chip.dataset.phone = phone;
      chip.append(el("span", "customer-name", customer.name || "Customer"), el("span", "customer-phone", `+${phone}`));
      if (customer.unread) chip.append(el("span", "unread", String(customer.unread)));
      chip.addEventListener("click", () => switchTo(phone));
      nav.append(chip);
    }
    renderRequestFilter();
  }

  async function register(phone, name) {
    try {
      await fetch("/sandbox/api/customers", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ phone, name }),
      });
    } catch (error) {
      // The sandbox server is away: the chip is still here, and the next message names it.
    }
  }

  async function loadCustomers() {
    const response = await fetch("/sandbox/api/customers");
    const { customers } = await response.json();
    for (const { phone, name } of customers) known(phone, name);
  }

  async function switchTo(phone, name) {
    state.phone = phone;
    const customer = known(phone, name);
    customer.unread = 0;
    state.name = customer.name || freshName();
    customer.name = state.name;
    $("phone").value = phone;
    $("name").value = state.name;
    localStorage.setItem("sandbox.phone", phone);
    localStorage.setItem("sandbox.name", state.name);
    register(phone, state.name);
    renderCustomers();
    applyRequestFilter();
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

  function idleStatus() {
    if (state.botReady) return ["online", ""];
    const waiting = state.waiting ? ` · ${state.waiting} message${state.waiting === 1 ? "" : "s"} waiting` : "";
    if (state.wasReady) return [`reconnecting to the bot…${waiting}`, "starting"];
    return [`starting… (the bot is loading its model)${waiting}`, "starting"];
  }

  function showTyping(on) {
    clearTimeout(state.typingTimer);
    if (on) {
      setStatus("typing…", "typing");
      state.typingTimer = setTimeout(() => showTyping(false), 25000); // as WhatsApp clears it
    } else {
      setStatus(...idleStatus());
    }
  }

  function customerRow(entry) {
    const row = WA.customerBubble(entry, state.catalog);
    row.dataset.messageId = entry.data.message.id;
    row.querySelector(".bubble").addEventListener("click", () => select(entry.data.message.id, true));
    return row;
  }

  // A held message went out: its bubble gets its ticks (or the reason it was refused).
  function delivered(entry) {
    const sent = state.sent.get(entry.data.message_id);
    if (!sent) return;
    sent.data.status = entry.data.status;
    sent.data.answer = entry.data.answer;
    delete sent.data.queued;
    const old = $("messages").querySelector(`.row[data-message-id="${CSS.escape(entry.data.message_id)}"]`);
    if (old) old.replaceWith(customerRow(sent));
  }

  function render(entry) {
    if (state.seen.has(entry.seq)) return;
    state.seen.add(entry.seq);
    const messages = $("messages");
    if (entry.kind === "customer") {
      state.sent.set(entry.data.message.id, entry);
      messages.append(customerRow(entry));
    } else if (entry.kind === "delivery") {
      delivered(entry);
      return;
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
    state.sent.clear();
    $("messages").replaceChildren(WA.systemNote(
      "🔒 This is a sandbox chat: messages go to the real bot on this machine, never to WhatsApp.", "encryption"));
    const response = await fetch(`/sandbox/api/history?phone=${encodeURIComponent(state.phone)}`);
    const { entries } = await response.json();
    entries.forEach(render);
  }

  function note(text) {
    const box = $("composer-note");
    box.textContent = text;
    box.hidden = !text;
  }

  function tooLong(text) {
    const length = [...text].length; // characters as the sandbox server counts them
    if (length <= state.textLimit) return "";
    return `Too long for one WhatsApp message: ${length.toLocaleString("en-IN")} characters, ` +
      `the limit is ${state.textLimit.toLocaleString("en-IN")}. Shorten it or send it in parts.`;
  }

  // Sends one message; true once the sandbox took it (delivered, or held until the bot
  // is ready), false when it was refused (the reason is shown under the box).
  async function send(message) {
    if (!$("customer-form").reportValidity()) return false;
    let response;
    let entry;
    try {
      response = await fetch("/sandbox/api/messages", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ phone: state.phone, name: state.name, message }),
      });
      entry = await response.json();
    } catch (error) {
      note("Not sent: the sandbox server is not reachable (is make run still running?).");
      return false;
    }
    if (!response.ok) {
      note(`Not sent: ${entry.error}`);
      return false;
    }
    note("");
    if (!state.customers.has(state.phone)) {
      known(state.phone, state.name);
      renderCustomers();
    }
    if (entry.data.queued) {
      state.waiting += 1;
      if (!$("chat-status").classList.contains("typing")) showTyping(false);
    }
    render(entry);
    state.selectedMessageId = entry.data.message.id;
    return true;
  }

  // -- taps on bot messages --------------------------------------------------------

  const bubbleActions = {
    reply(kind, reply) {
      send({ type: "interactive", interactive: { type: kind, [kind]: reply } });
    },
    openUrl(url) {
      const href = WA.safeUrl(url);
      if (href) window.open(href, "_blank", "noopener");
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

  // On a narrow screen the chat and the designer panel take turns (the view switch).
  function showView(name) {
    document.body.dataset.view = name;
    for (const tab of document.querySelectorAll(".view-tab")) {
      const active = tab.dataset.view === name;
      tab.classList.toggle("active", active);
      tab.setAttribute("aria-selected", String(active));
    }
  }

  function select(messageId, tapped = false) {
    state.selectedMessageId = messageId;
    for (const b of document.querySelectorAll(".bubble.selected")) b.classList.remove("selected");
    const bubble = document.querySelector(`.bubble[data-message-id="${CSS.escape(messageId)}"]`);
    if (bubble) bubble.classList.add("selected");
    showTab("insight");
    if (tapped && NARROW.matches) showView("designer");
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

  // -- the request log: newest first, filtered by customer ----------------------------

  function renderRequestFilter() {
    const select = $("request-filter");
    const chosen = select.value;
    for (const option of [...select.options].slice(2)) option.remove();
    for (const [phone, customer] of state.customers) {
      const option = el("option", "", `${customer.name || "Customer"} (+${phone})`);
      option.value = phone;
      select.append(option);
    }
    select.value = [...select.options].some((o) => o.value === chosen) ? chosen : "";
  }

  function filterPhone() {
    const value = $("request-filter").value;
    return value === "current" ? state.phone : value;
  }

  function applyRequestFilter() {
    const phone = filterPhone();
    for (const line of $("request-log").children) line.hidden = Boolean(phone) && line.dataset.phone !== phone;
  }

  function logRequest(entry) {
    const log = $("request-log");
    const line = Designer.logLine(entry);
    line.dataset.phone = entry.phone || "";
    const phone = filterPhone();
    line.hidden = Boolean(phone) && line.dataset.phone !== phone;
    log.prepend(line);
    while (log.childElementCount > 300) log.lastElementChild.remove();
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
      if (opened) { loadCustomers().then(renderCustomers); loadHistory(); loadLog(); } // reconnected: catch up
      opened = true;
    };
    source.onmessage = (event) => {
      const entry = JSON.parse(event.data);
      if (entry.kind === "request") { logRequest(entry); return; }
      if (!entry.phone) return;
      if (entry.kind === "delivery") {
        state.waiting = Math.max(0, state.waiting - 1);
        if (!$("chat-status").classList.contains("typing")) showTyping(false);
      }
      if (entry.kind === "named" || entry.kind === "customer") {
        const name = entry.data.name;
        if (entry.phone !== state.phone && name) known(entry.phone, name);
        renderCustomers();
        if (entry.kind === "named") return;
      }
      if (entry.phone === state.phone) { render(entry); return; }
      const customer = known(entry.phone);
      if (entry.kind === "bot") customer.unread += 1;
      renderCustomers();
    };
  }

  async function pollStatus() {
    try {
      const response = await fetch("/sandbox/api/status");
      const status = await response.json();
      $("shop-name").textContent = status.shop_name;
      $("shop-emoji").textContent = status.shop_emoji;
      document.title = `${status.shop_name} · WhatsApp sandbox`;
      state.textLimit = status.text_limit || state.textLimit;
      const before = [state.botReady, state.waiting];
      state.botReady = status.bot_ready;
      state.wasReady = state.wasReady || status.bot_ready;
      state.waiting = status.waiting || 0;
      const changed = before[0] !== state.botReady || before[1] !== state.waiting;
      if (!$("chat-status").classList.contains("typing") || changed) showTyping(false);
    } catch (error) {
      state.botReady = false;
      setStatus("the sandbox server is not reachable", "starting");
    }
    setTimeout(pollStatus, state.botReady ? 15000 : 1500);
  }

  async function loadCatalog() {
    const response = await fetch("/sandbox/api/catalog");
    const { products } = await response.json();
    for (const product of products) state.catalog.set(product.sku, product);
  }

  // -- wiring ----------------------------------------------------------------------

  async function start() {
    showView("chat");
    state.phone = localStorage.getItem("sandbox.phone") || "919800000001";
    state.name = localStorage.getItem("sandbox.name") || NAMES[0];
    $("phone").value = state.phone;
    $("name").value = state.name;
    $("phone").addEventListener("change", () => {
      const phone = $("phone").value.trim();
      if ($("phone").checkValidity() && phone) switchTo(phone);
    });
    $("name").addEventListener("change", () => {
      state.name = $("name").value.trim();
      localStorage.setItem("sandbox.name", state.name);
      known(state.phone, state.name);
      register(state.phone, state.name);
      renderCustomers();
    });
    $("customer-form").addEventListener("submit", (event) => event.preventDefault());
    $("new-customer").addEventListener("click", () => {
      const name = freshName();
      switchTo(randomPhone(), name);
    });
    $("composer-input").addEventListener("input", () => {
      const problem = tooLong($("composer-input").value);
      if (problem || $("composer-note").dataset.kind === "limit") {
        note(problem);
        $("composer-note").dataset.kind = problem ? "limit" : "";
      }
    });
    $("composer").addEventListener("submit", async (event) => {
      event.preventDefault();
      const input = $("composer-input");
      const text = input.value;
      if (!text.trim()) return;
      const problem = tooLong(text);
      if (problem) { note(problem); input.focus(); return; } // the text stays in the box
      input.value = "";
      const taken = await send({ type: "text", text: { body: text } });
      if (!taken && !input.value) input.value = text; // refused: give the text back
    });
    $("send-photo").addEventListener("click", () => send({ type: "image", image: { caption: "is this available?" } }));
    $("open-catalog").addEventListener("click", () => openCart([...state.catalog.values()], "Catalog"));
    $("sheet-close").addEventListener("click", closeSheet);
    $("sheet").addEventListener("click", (event) => { if (event.target === $("sheet")) closeSheet(); });
    for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => showTab(tab.dataset.tab));
    for (const tab of document.querySelectorAll(".view-tab")) tab.addEventListener("click", () => showView(tab.dataset.view));
    $("request-filter").addEventListener("change", applyRequestFilter);

    await Promise.all([loadCatalog(), loadCustomers()]);
    const customer = known(state.phone, state.name);
    customer.unread = 0;
    register(state.phone, state.name);
    renderCustomers();
    listen();
    pollStatus();
    await Promise.all([loadHistory(), loadLog()]);
    refreshInsight();
    if (!NARROW.matches) $("composer-input").focus();
  }

  start();
})();
