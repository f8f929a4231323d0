"""The merchant's inbox: a small token-protected page where a person answers customers
handed over to them (see `handover`). Register in credentials.yml as
`channels.merchant.MerchantInboxInput:`."""

from channels.merchant.channel import MerchantInboxInput

__all__ = ["MerchantInboxInput"]
