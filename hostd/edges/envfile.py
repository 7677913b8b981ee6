"""A site's `env_file:` checked on disk: its mode, its syntax, its names and digest.

The values are read only to be checked and forgotten: a `Site` carries the names
(shown as `<secret>`) and a digest, and the program reads the file itself when it
starts (`hostd.edges.envexec`).
"""

from __future__ import annotations

import dataclasses
import os
import stat

from hostd.core.dotenv import MAX_ENV_FILE, DotenvError, digest, parse_dotenv
from hostd.core.site import Site
from hostd.errors import SiteError

ALLOWED_MODES = (0o600, 0o640)


def with_secrets(site: Site) -> Site:
    """`site` with the names and digest of its env file; SiteError if the file is refused."""
    file = site.env_file
    if file is None:
        return site
    try:
        info = os.stat(file)
        if not stat.S_ISREG(info.st_mode):
            raise _refused(site, f"{file} is not a regular file")
        mode = stat.S_IMODE(info.st_mode)
        if mode not in ALLOWED_MODES:
            raise _refused(
                site,
                f"{file} has mode {mode:04o}; an env file holds secrets and must be 0600 or "
                f"0640 (chmod 600 {file})",
            )
        if info.st_size > MAX_ENV_FILE:
            raise _refused(site, f"{file} is larger than {MAX_ENV_FILE // 1024} KiB")
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise _refused(site, f"cannot read {file}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise _refused(site, f"{file} is not UTF-8 text") from exc
    try:
        names = tuple(sorted(parse_dotenv(text)))
    except DotenvError as exc:
        raise _refused(site, f"{file} {exc}") from None
    both = sorted(set(names) & {key for key, _ in site.app.env})
    if both:
        raise _refused(site, f"{', '.join(both)} set both in app.env and in {file}")
    return dataclasses.replace(site, secret_names=names, secret_digest=digest(text))


def env_file_values(site: Site) -> dict[str, str]:
    """The variables of `site`'s env file, for `hostd export`'s Secret only (the file was
    checked when the site was loaded); none without one."""
    if site.env_file is None:
        return {}
    try:
        return parse_dotenv(site.env_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, DotenvError) as exc:
        raise _refused(site, f"cannot read {site.env_file} again") from exc


def _refused(site: Site, message: str) -> SiteError:
    return SiteError(message, file=site.file, line=site.line("env_file"), key="env_file")
