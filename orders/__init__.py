"""Orders and payments: the order store (the only owner of the order tables), applying
Razorpay's payment events to orders, and the reconciler that catches up on what was
missed."""
