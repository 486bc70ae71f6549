"""Outbound hooks: gating and informational webhooks, and chat notifications.

Below ``controller``, beside ``gates``, ``traffic`` and ``metrics``. Nothing here decides:
``webhooks`` sends a rollout's payload and reports the answer; ``notify`` posts messages.
"""
