"""Webhook delivery shared by every domain that sends one: the address policy (:mod:`~courier.webhooks.policy`),
Standard Webhooks signing (:mod:`~courier.webhooks.signing`), the send and what its outcome means
(:mod:`~courier.webhooks.send`), the one retry rule (:mod:`~courier.webhooks.retry`, also the HTTP clients'),
and Courier's own events (:mod:`~courier.webhooks.events`). Timers keep the queue: claims, leases, the
dispatcher loop and the store."""
