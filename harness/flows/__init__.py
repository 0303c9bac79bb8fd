"""Flows: what a command does once its flags are parsed, as plain functions over typed requests.

Layers point one way: ``harness/commands/*`` (flags) → ``harness.flows`` and the library
(``harness.flows.run``, ``harness.flows.gate``, ...) → ``harness.core`` (pure). Nothing outside
``harness/cli.py`` and the command modules imports ``harness.commands`` (tests/test_layers.py).

- ``campaign``: :class:`~harness.flows.campaign.CampaignRequest` → a validated run (``harness
  campaign``, and ``harness gate --profile``).
- ``leak``: :class:`~harness.flows.leak.LeakRequest` → a run directory like a campaign's, for a
  service the harness starts from a command line (``harness leak``).
- ``options``: small input/output helpers the flows and their commands share.
"""
