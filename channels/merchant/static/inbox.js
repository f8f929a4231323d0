// The merchant's inbox: customers waiting for a person, their conversation, a reply box
// and "hand back to the bot". Every element is built from text (textContent), never
// from markup: what customers wrote cannot become part of the page.
"use strict";

(function () {
  const API = "/webhooks/merchant/api/";
  const TOKEN_KEY = "merchant-inbox-token";
  const POLL_MS = 4000;
  const WHO = { customer: "Customer", bot: "Bot", person: "You" };
  const REASONS = {
    asked: "asked for a person",
    cancel: "cancel an order",
    fallbacks: "the bot did not understand",
    money_deducted: "money deducted",
    refund: "refund",
    human_answered: "you answered from WhatsApp",
  };

  const $ = (id) => document.getElementById(id);
  let token = null;
  let current = null; // the customer id on screen
  let shownCount = -1;
  let timer = null;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function status(text) {
    $("status").textContent = text || "";
  }

  function since(iso) {
    if (!iso) return "";
    const minutes = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 60000));
    if (minutes < 1) return "just now";
    if (minutes < 60) return minutes + " min ago";
    const hours = Math.floor(minutes / 60);
    return hours < 24 ? hours + " h ago" : new Date(iso).toLocaleString();
  }

  function newReplyId() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function call(path, options) {
    const response = await fetch(API + path, {
      ...(options || {}),
      headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
      cache: "no-store",
    });
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    if (response.status === 401) {
      signOut("That token is not right.");
      throw new Error("unauthorised");
    }
    if (!response.ok) {
      throw new Error((body && body.error) || "the server answered " + response.status);
    }
    return body;
  }

  function signOut(message) {
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    clearInterval(timer);
    $("inbox").hidden = true;
    $("sign-out").hidden = true;
    $("sign-in").hidden = false;
    $("sign-in-error").textContent = message || "";
    status("");
  }

  function signIn(value) {
    token = value;
    sessionStorage.setItem(TOKEN_KEY, value);
    $("sign-in").hidden = true;
    $("inbox").hidden = false;
    $("sign-out").hidden = false;
    refresh();
    clearInterval(timer);
    timer = setInterval(refresh, POLL_MS);
  }

  async function refresh() {
    try {
      const data = await call("handovers");
      renderWaiting(data.handovers || []);
      if (current) await loadConversation(current);
      status("Updated " + new Date().toLocaleTimeString());
    } catch (error) {
      if (token) status("Could not refresh: " + error.message);
    }
  }

  function renderWaiting(handovers) {
    const list = $("handovers");
    list.replaceChildren();
    $("none-waiting").hidden = handovers.length > 0;
    for (const handover of handovers) {
      const item = el("li");
      const button = el("button");
      button.type = "button";
      button.dataset.customer = handover.customer_id;
      if (handover.customer_id === current) button.setAttribute("aria-current", "true");
      button.append(
        el("strong", null, "+" + handover.customer_id),
        el("span", "reason", REASONS[handover.reason] || handover.reason),
        el("span", "since", "waiting since " + since(handover.started_at)),
      );
      button.addEventListener("click", () => open(handover.customer_id));
      item.append(button);
      list.append(item);
    }
  }

  async function open(customerId) {
    current = customerId;
    shownCount = -1;
    $("inbox").classList.add("reading");
    $("conversation").hidden = false;
    $("reply-error").textContent = "";
    $("customer-title").textContent = "+" + customerId;
    for (const button of $("handovers").querySelectorAll("button")) {
      button.setAttribute("aria-current", String(button.dataset.customer === customerId));
    }
    try {
      await loadConversation(customerId);
    } catch (error) {
      $("reply-error").textContent = error.message;
    }
    $("reply-text").focus();
  }

  async function loadConversation(customerId) {
    const data = await call("conversations/" + encodeURIComponent(customerId));
    if (customerId !== current) return;
    const handover = data.handover;
    const active = Boolean(handover && !handover.ended_at);
    $("customer-reason").textContent = active
      ? REASONS[handover.reason] || handover.reason
      : "the bot is answering";
    $("send").disabled = !active;
    $("hand-back").disabled = !active;
    renderTranscript(data.messages || []);
  }

  function renderTranscript(messages) {
    if (messages.length === shownCount) return; // unchanged: keep the scroll position
    shownCount = messages.length;
    const list = $("transcript");
    list.replaceChildren();
    for (const message of messages) {
      if (message.from === "system") {
        const text = message.event === "paused" ? "— bot paused: a person answers —" : "— bot answering again —";
        list.append(el("li", "system", text));
        continue;
      }
      const item = el("li", message.from);
      item.append(el("span", "who", WHO[message.from] || message.from));
      item.append(document.createTextNode(message.text || ""));
      if (message.buttons && message.buttons.length) {
        item.append(el("span", "buttons", "[" + message.buttons.join("] [") + "]"));
      }
      item.append(el("span", "when", new Date(message.at).toLocaleTimeString()));
      list.append(item);
    }
    list.scrollTop = list.scrollHeight;
  }

  async function sendReply(event) {
    event.preventDefault();
    const text = $("reply-text").value.trim();
    if (!text || !current) return;
    $("send").disabled = true;
    $("reply-error").textContent = "";
    try {
      await call("conversations/" + encodeURIComponent(current) + "/reply", {
        method: "POST",
        body: JSON.stringify({ text: text, reply_id: newReplyId() }),
      });
      $("reply-text").value = "";
      status("Sent to +" + current);
      setTimeout(refresh, 800);
    } catch (error) {
      $("reply-error").textContent = "Not sent: " + error.message;
    } finally {
      $("send").disabled = false;
    }
  }

  async function handBack() {
    if (!current) return;
    $("hand-back").disabled = true;
    $("reply-error").textContent = "";
    try {
      await call("conversations/" + encodeURIComponent(current) + "/hand-back", { method: "POST" });
      status("+" + current + " is with the bot again");
      setTimeout(refresh, 800);
    } catch (error) {
      $("reply-error").textContent = "Not handed back: " + error.message;
      $("hand-back").disabled = false;
    }
  }

  function closeConversation() {
    current = null;
    $("conversation").hidden = true;
    $("inbox").classList.remove("reading");
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("sign-in").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("token").value.trim();
      $("token").value = "";
      if (value) signIn(value);
    });
    $("sign-out").addEventListener("click", () => signOut(""));
    $("reply").addEventListener("submit", sendReply);
    $("hand-back").addEventListener("click", handBack);
    $("back").addEventListener("click", closeConversation);
    window.addEventListener("hashchange", () => {
      const fromLink = tokenFromLink();
      if (fromLink) signIn(fromLink);
    });
    const saved = tokenFromLink() || sessionStorage.getItem(TOKEN_KEY);
    if (saved) signIn(saved);
    else signOut("");
  });

  // A link with #token=... (the sandbox prints one) signs in once; the token then
  // leaves the address bar and history.
  function tokenFromLink() {
    const fromLink = new URLSearchParams(location.hash.slice(1)).get("token");
    if (fromLink) history.replaceState(null, "", location.pathname + location.search);
    return fromLink;
  }
})();
