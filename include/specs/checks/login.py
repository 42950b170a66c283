"""login: the form greets the user by name."""

from _browser import page

with page() as (p, spec):
    p.goto(spec["base_url"] + "/site/login")
    p.fill("#user", "demo")
    p.fill("#password", "secret")
    p.click("button[type=submit]")
    p.wait_for_selector("text=Welcome, demo")
print("login: ok")
