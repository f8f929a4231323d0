"""Acknowledged means answered: the durable inbox and outbox.

- `inbox`: every verified inbound event (a WhatsApp message, a payment notice), written
  before the webhook is answered; consumed in order per customer, at least once.
- `outbox`: everything the bot says because of such an event, sent in order per
  customer and marked sent with the id the channel's service returned.
- `consumer` feeds the inbox to its handlers; `sender` sends the outbox.

Both are tables in the order store's database (SQLite by default; PostgreSQL's
`FOR UPDATE SKIP LOCKED` when several servers share them), claimed with leases so that
a dead process's work is taken over.
"""
