"""The page routes under ``/courier/ui``, one module per Courier domain (plus the overview): each module's
``router`` is included behind that resource's ``access(...)`` dependency by :func:`courier.ui.views.install`.

Pages read through the domains' stores and services (never by calling route handlers) and shape what they
read into charts (:mod:`courier.ui.charts`) and templates (:mod:`courier.ui.render`).
"""
