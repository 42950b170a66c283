"""The demo upstream: the slow report API, the paged API and a webhook receiver, on one local server.

`courier up` runs it as a child process; tests run it in-process (``courier.demo.server.serve_in_thread``).
"""
