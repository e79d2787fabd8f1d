"""The dashboard served by the controller: server-rendered pages (Jinja2 templates in
`templates/`), a little vanilla JavaScript and CSS (`static/`), plotly.js from the
installed plotly package, and Optuna's own plots. No build step, no CDN: it works offline.

Routes are in `service.routes.dashboard`; what each page shows in `views`, the plots in
`plots`, login and the cookie in `access`, templates and security headers in `rendering`.
"""

from __future__ import annotations

__all__: list[str] = []
