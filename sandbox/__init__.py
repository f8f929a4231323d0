"""The sandbox: the whole product on one machine, with no Meta or Razorpay account.

The bot (action server and Rasa, unchanged) talks to local stand-ins of the Graph API
and of Razorpay's Payment Links API; a WhatsApp-like chat page plays the customer and
a checkout page plays Razorpay's. `make run` starts it when no credentials are set
(see sandbox/mode.py); `python -m sandbox` is its web server.
"""
