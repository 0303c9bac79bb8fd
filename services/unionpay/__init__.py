"""A UnionPay-style (ACP 5.1.0 shaped) payment gateway simulator; see docs/platform.md."""
