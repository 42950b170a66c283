"""search: typing in the search box filters the product cards and updates the count."""

from _browser import page

with page() as (p, spec):
    p.goto(spec["base_url"] + "/site")
    p.fill("#search", "sta")
    p.wait_for_function("document.getElementById('count').textContent === '1'")
    visible = p.locator(".card:not([hidden]) h3").all_inner_texts()
    assert visible == ["Stamp set"], visible
    p.fill("#search", "")
    p.wait_for_function("document.getElementById('count').textContent === '6'")
print("search: ok")
