"""certbot as an edge: the one command hostd runs to get a site's certificate.

Always `certonly --webroot --cert-name <site>`, non-interactive, with certbot's
three folders under hostd's layout. A clean environment: only the CA bundle
hostd.toml names reaches certbot (this matters where REQUESTS_CA_BUNDLE is set
machine-wide).
"""

from __future__ import annotations

from collections.abc import Sequence

from hostd.core.layout import Layout
from hostd.core.settings import LETS_ENCRYPT, AcmeSettings
from hostd.edges.runner import Runner

CERTBOT_TIMEOUT = 300.0


def certbot_argv(
    binary: str, layout: Layout, acme: AcmeSettings, site: str, domains: Sequence[str]
) -> list[str]:
    """The certonly command for `site`; it replaces the lineage's certificate."""
    argv = [binary, "certonly", "--webroot", "-w", str(layout.acme_webroot),
            "--cert-name", site]  # fmt: skip
    for domain in domains:
        argv += ["-d", domain]
    argv += ["--non-interactive", "--agree-tos", "--no-eff-email", "--force-renewal",
             "--config-dir", str(layout.certbot_dir), "--work-dir", str(layout.certbot_work),
             "--logs-dir", str(layout.certbot_logs)]  # fmt: skip
    argv += ["-m", acme.email] if acme.email else ["--register-unsafely-without-email"]
    if acme.staging and acme.server == LETS_ENCRYPT:
        argv.append("--staging")
    else:
        argv += ["--server", acme.server]
    return argv


def certbot_environment(acme: AcmeSettings, home: str) -> dict[str, str]:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8"}
    if acme.ca_bundle:
        env["REQUESTS_CA_BUNDLE"] = acme.ca_bundle
    return env


class CertbotCommand:
    """The real `hostd.apply.ports.Certbot`."""

    def __init__(self, runner: Runner, binary: str, layout: Layout, acme: AcmeSettings) -> None:
        self.runner = runner
        self.binary = binary
        self.layout = layout
        self.acme = acme

    def obtain(self, site: str, domains: Sequence[str]) -> str:
        """Run certbot for `site`; its output. CommandError (with it) if it fails."""
        for folder in (self.layout.certbot_dir, self.layout.certbot_work, self.layout.certbot_logs):
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        argv = certbot_argv(self.binary, self.layout, self.acme, site, domains)
        env = certbot_environment(self.acme, str(self.layout.state_dir))
        return self.runner.run(argv, env=env, timeout=CERTBOT_TIMEOUT).output
