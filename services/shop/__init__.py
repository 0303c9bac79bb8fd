"""The reference shop: catalogue, accounts, cart, orders, UnionPay-style payment; see docs/platform.md."""
