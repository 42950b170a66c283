"""Demo site the shipped spec suite (``include/specs/``) drives in a real browser: ``/site`` and ``/site/login``.

A small responsive shop page: at widths under 700 px the navigation collapses behind a menu button; a search
box filters the product cards; the login form greets the user without a round trip. Plain HTML, CSS and a few
lines of script, so any browser renders it the same way.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["demo: spec site"])

PRODUCTS = ("Carrier pigeon", "Satchel", "Stamp set", "Sealing wax", "Postcard pack", "Parcel scale")

_STYLE = """
*{box-sizing:border-box}body{margin:0;font:16px/1.4 system-ui,sans-serif;color:#1f2328;background:#fff}
header{display:flex;align-items:center;justify-content:space-between;padding:12px 20px;background:#0b3d91;color:#fff}
header a{color:#fff;margin-left:16px;text-decoration:none}#menu-button{display:none}
main{padding:20px}.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:12px}
.card{border:1px solid #d0d7de;border-radius:8px;padding:16px}.card[hidden]{display:none}
@media (max-width:699px){nav{display:none}nav.open{display:block}#menu-button{display:inline-block}}
form{max-width:320px}label,input,button{display:block;width:100%;margin:6px 0}input,button{padding:8px}
"""


def _page(title: str, body: str, script: str = "") -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{title}</title>"
        f"<style>{_STYLE}</style></head><body><header><strong id='brand'>Courier demo shop</strong>"
        f"<button id='menu-button' aria-controls='nav'>Menu</button>"
        f"<nav id='nav'><a href='/site'>Shop</a><a href='/site/login'>Log in</a></nav></header>"
        f"<main>{body}</main><script>document.getElementById('menu-button').onclick=function(){{"
        f"document.getElementById('nav').classList.toggle('open')}};{script}</script></body></html>"
    )


@router.get("/site", response_class=HTMLResponse)
def shop() -> HTMLResponse:
    """The shop page: heading, search box and product cards."""
    cards = "".join(f"<div class='card' data-name='{p.lower()}'><h3>{p}</h3><p>In stock</p></div>" for p in PRODUCTS)
    script = (
        "document.getElementById('search').oninput=function(e){var q=e.target.value.toLowerCase();"
        "document.querySelectorAll('.card').forEach(function(c){c.hidden=c.dataset.name.indexOf(q)<0});"
        "document.getElementById('count').textContent=document.querySelectorAll('.card:not([hidden])').length};"
    )
    body = (
        "<h1>Everything for the mail</h1><input id='search' placeholder='Search products' aria-label='Search'>"
        f"<p><span id='count'>{len(PRODUCTS)}</span> products</p><div class='grid'>{cards}</div>"
    )
    return _page("Courier demo shop", body, script)


@router.get("/site/login", response_class=HTMLResponse)
def login() -> HTMLResponse:
    """The login page: a form that greets the user by name."""
    body = (
        "<h1>Log in</h1><form id='login'><label for='user'>User</label><input id='user' name='user' required>"
        "<label for='password'>Password</label><input id='password' name='password' type='password' required>"
        "<button type='submit'>Log in</button></form><p id='greeting' role='status'></p>"
    )
    script = (
        "document.getElementById('login').onsubmit=function(e){e.preventDefault();"
        "document.getElementById('greeting').textContent='Welcome, '+document.getElementById('user').value};"
    )
    return _page("Log in · Courier demo shop", body, script)
