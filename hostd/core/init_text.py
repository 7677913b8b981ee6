"""The files `hostd init` writes that a person reads and edits: hostd.toml with every
setting commented at its default, and a site file example that is not enabled.
Pure text."""

from __future__ import annotations

from hostd.core.layout import Mode
from hostd.core.settings import LETS_ENCRYPT, SYSTEM_METRICS_PORT, default_settings

EXAMPLE_NAME = "example.yaml.sample"  # not *.yaml: hostd does not serve it


def hostd_toml() -> str:
    """hostd.toml as `hostd init` writes it: parses to the defaults of system mode."""
    s = default_settings(Mode.SYSTEM)
    return f"""\
# hostd's settings (system mode). Every line is commented at its default; uncomment
# to change one, then restart hostd (systemctl restart hostd).

[http]
# listen = "{s.http.listen}"      # every IPv4 address, and [::] too where the machine has IPv6
# port = {s.http.port}
# https_port = {s.http.https_port}

[acme]
# email = "you@example.org"  # Let's Encrypt's account address
# server = "{LETS_ENCRYPT}"
# staging = false
# preflight = true           # fetch a token through each domain before asking the CA
# resolver = ""              # "host:port" of a DNS server for the preflight; "" = the system's
# ca_bundle = ""

[apply]
# start_timeout = {s.apply.start_timeout}    # seconds a new app gets to answer

[crashloop]
# max_starts = {s.crashloop.max_starts}
# window = {s.crashloop.window}
# base_delay = {s.crashloop.base_delay}
# max_delay = {s.crashloop.max_delay}

[dashboard]
# enabled = false
# domain = "hostd.example.org"
# tls = "off"                 # off | auto
# workers = {s.dashboard.workers}

[metrics]
# enabled = true
# listen = "127.0.0.1"
# port = {SYSTEM_METRICS_PORT}

[notify]                      # alerts: one message per event, repeats held back
# webhook = "https://hooks.example.org/hostd"   # gets a JSON body
# email_to = "ops@example.org"                  # several: comma-separated
# email_from = ""             # "" = hostd@<this machine's name>
# smtp_host = "{s.notify.smtp_host}"       # the local MTA
# smtp_port = {s.notify.smtp_port}
# repeat_after = {s.notify.repeat_after}       # seconds before the same alert is sent again
"""


EXAMPLE_SITE = """\
# An example site. Not served: hostd serves only files named NAME.yaml. To serve it,
#   cp example.yaml.sample NAME.yaml   (NAME: the site's name, e.g. shop)
# and edit it; hostd applies it within a second.
#
# domains: [shop.example.org, www.shop.example.org]
# app:
#   root: /srv/shop            # the app's folder; its user must be able to enter it
#   wsgi: app:app              # module:callable (or module:factory() for a factory)
#   venv: /srv/shop/.venv      # optional: a virtualenv with gunicorn in it
#   user: www-data             # optional: who runs it (default www-data)
#   env:
#     SHOP_MODE: production
# static:
#   /static/: /srv/shop/static/
# tls: auto                    # a Let's Encrypt certificate (port 80 must reach this machine)
"""
