// A payment link's page: shows the link, and Pay / Fail / Expire, which the sandbox turns
// into Razorpay's signed webhooks to the bot.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const linkId = decodeURIComponent(location.pathname.split("/").pop());
  const OUTCOMES = {
    paid: ["✓", "Payment successful", "ok"],
    failed: ["✕", "Payment failed", "bad"],
    expired: ["⌛", "This link has expired", "bad"],
    cancelled: ["⊘", "This link was cancelled", "bad"],
  };

  function show(link) {
    $("shop-name").textContent = link.shop_name;
    $("shop-emoji").textContent = link.shop_emoji;
    $("description").textContent = link.description;
    $("amount").textContent = link.amount_text;
    $("customer").textContent = [link.customer_name, link.customer_contact].filter(Boolean).join(" · ");
    document.title = `Pay ${link.amount_text} · ${link.shop_name}`;
    if (link.status === "paid" || link.status === "expired" || link.status === "cancelled") {
      outcome(link.status, link, []);
    }
  }

  function outcome(kind, link, webhooks) {
    const [icon, title, tone] = OUTCOMES[kind];
    $("payable").hidden = true;
    $("result").hidden = false;
    $("result").className = `result ${tone}`;
    $("result-icon").textContent = icon;
    $("result-title").textContent = title;
    $("result-text").textContent = kind === "failed"
      ? `No money was taken. The link still works: try again from the chat.`
      : `${link.amount_text} · ${link.description}`;
    const list = $("webhooks");
    list.replaceChildren();
    for (const hook of webhooks) {
      const item = document.createElement("li");
      const ok = hook.status >= 200 && hook.status < 300;
      item.className = ok ? "ok" : "bad";
      item.textContent = `Webhook ${hook.event} → bot answered ${hook.status || "nothing (not reachable)"}`;
      list.append(item);
    }
    if (kind === "failed") {
      const again = document.createElement("button");
      again.className = "secondary";
      again.textContent = "Try again";
      again.addEventListener("click", () => { $("payable").hidden = false; $("result").hidden = true; });
      list.after(again);
    }
  }

  async function act(action) {
    const method = document.querySelector("input[name=method]:checked").value;
    for (const button of document.querySelectorAll(".actions button")) button.disabled = true;
    try {
      const response = await fetch(`/sandbox/api/links/${encodeURIComponent(linkId)}/${action}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ method }),
      });
      const answer = await response.json();
      if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
      const kind = { pay: "paid", fail: "failed", expire: "expired" }[action];
      outcome(kind, answer.link, answer.webhooks);
    } catch (error) {
      $("error").hidden = false;
      $("error").textContent = error.message;
    } finally {
      for (const button of document.querySelectorAll(".actions button")) button.disabled = false;
    }
  }

  async function start() {
    for (const radio of document.querySelectorAll("input[name=method]")) {
      radio.addEventListener("change", () => {
        $("pay").textContent = `Pay (${radio.value === "upi" ? "UPI" : radio.value === "card" ? "Card" : "Netbanking"})`;
      });
    }
    for (const button of document.querySelectorAll(".actions button")) {
      button.addEventListener("click", () => act(button.dataset.action));
    }
    const response = await fetch(`/sandbox/api/links/${encodeURIComponent(linkId)}`);
    const link = await response.json();
    if (!response.ok) {
      $("payable").hidden = true;
      $("error").hidden = false;
      $("error").textContent = link.error || "This payment link does not exist.";
      return;
    }
    show(link);
  }

  start();
})();
