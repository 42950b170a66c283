"""home-loads: the shop page loads with its heading and products; the navigation suits the viewport."""

from _browser import page

with page() as (p, spec):
    p.goto(spec["base_url"] + "/site")
    assert p.title() == "Courier demo shop", p.title()
    assert p.locator("h1").inner_text() == "Everything for the mail"
    assert p.locator(".card").count() == 6
    narrow = p.viewport_size["width"] < 700
    assert p.locator("#menu-button").is_visible() == narrow, "menu button visibility does not suit the width"
    assert p.locator("#nav").is_visible() == (not narrow), "navigation visibility does not suit the width"
    if narrow:
        p.click("#menu-button")
        assert p.locator("#nav").is_visible(), "the menu button does not open the navigation"
print("home-loads: ok")
