"""Metering: one usage record per invocation, price books, and bills rolled up from them.

The Invoker hands each invocation to a `UsageLedger` (a tuple appended to a list: the hot
path never waits); the LogWriter stores the ledger's records in the transaction that
stores the invocation's log lines; bills are priced from the store with a `PriceBook`.
Design: docs/decisions/0603-metering-and-pricing.md.
"""
