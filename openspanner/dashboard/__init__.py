"""The dashboard: static pages (HTML, CSS, plain ES modules) served by the REST API at `/`.

There is no build step: the files under static/ are what the browser runs,
shipped as package data and served from the installed package (serving.py).
The one third-party library, uPlot for charts, is vendored under
static/vendor/ at the version pinned in vendor.json (vendor.py fetches it).
"""
