"""Outside services the shop talks to: Razorpay Payment Links and Shopify's Admin API.
Each client keeps the service's wire format to itself and hands back typed values."""
