"""The commented starter file `hostd new SITE` writes. Pure."""

from __future__ import annotations

_STARTER = """\
# yaml-language-server: $schema={schema}
# The site {site}, served by hostd. `hostd schema` prints every key with its range;
# `hostd check` validates this file, `hostd plan` shows what `hostd reload` would do.
domains:
  - {domain}
app:
  root: ./{site}            # the app's folder, relative to this file
  wsgi: "app:app"           # module:name, or module:factory() for an app factory
  workers: auto             # or 1..64
  # venv: ./{site}/.venv    # the app's virtualenv (its gunicorn); default: hostd's
  # env:
  #   GREETING: hello
# env_file: {site}.env      # secrets (mode 0600 or 0640), never shown by hostd
# static:
#   /static/: ./{site}/static
# tls: auto                 # a Let's Encrypt certificate and HTTPS
# max_body: 10m             # larger uploads get 413
# redirects:
#   canonical: apex         # www.NAME -> NAME ('www' for the other way)
#   paths:
#     /old: /new/
# rate_limit: {{rate: 10, burst: 20}}   # per client address, past it 429
# headers:
#   X-Frame-Options: DENY
# paths:
#   /admin/:
#     basic_auth: true      # users: hostd auth add {site} USER
#     allow: [10.0.0.0/8]
"""


def starter_site(site: str, domain: str, schema: str) -> str:
    """The starter file of `site`; `schema` is where editors find the schema."""
    return _STARTER.format(site=site, domain=domain, schema=schema)
