"""Webhook destinations and the durable delivery outbox (docs/webhooks.md).

The core of signed webhooks, free of any transport: destinations and their
secrets (destinations.py), the checks on where a webhook may point
(targets.py), the two signatures every attempt carries (signing.py), the
destinations, jobs and their retry schedule as values (model.py), the outbox others enqueue into
(outbox.py), and the worker that makes the attempts (delivery.py).
"""
