"""Webhook timers: clients schedule a signed POST to ``url + id`` at an instant; a dispatcher in the triggerer fires it."""
