"""Would nginx and Supervisor take a generation? Asked of them, on a scratch copy.

The candidate is written below a scratch folder (its files name that folder, so
every include resolves inside it), then `nginx -t` and Supervisor's own parser
read it. Nothing live is touched.

The scratch folder is kept between checks, and each check writes only the files
that differ from the last one and deletes the ones it no longer has: an apply of
one site among hundreds writes one or two files, not every site's. A daemon whose
main configuration is not among the files is not asked (the validation leaves out
what the live generation already passed).
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

from hostd.core.generation import Files
from hostd.edges.fs import write_tree
from hostd.edges.nginx import NginxProcess
from hostd.edges.process import raise_open_files_limit
from hostd.edges.supervisor import check_config
from hostd.errors import HostdError, NginxConfigError, SupervisorError

NGINX_CONF = "nginx/nginx.conf"
SUPERVISORD_CONF = "supervisor/supervisord.conf"
OWNER = ".owner"  # which checker's writes the folder holds (another process may check too)


class ScratchChecker:
    """The real `hostd.apply.ports.Checker`."""

    def __init__(self, root: Path, nginx: NginxProcess) -> None:
        self.root = root
        self.nginx = nginx
        self._written: dict[str, str] | None = None  # what the scratch folder holds
        self._token = secrets.token_hex(8)

    def refusal(self, files: Files) -> str | None:
        raise_open_files_limit()  # `nginx -t` opens two log files per site
        try:
            self._write(files)
            if NGINX_CONF in files:
                self.nginx.check(self.root / NGINX_CONF)
            if SUPERVISORD_CONF in files:
                check_config(self.root / SUPERVISORD_CONF)
        except (NginxConfigError, SupervisorError) as exc:
            return str(exc)
        except OSError as exc:
            self._forget()
            raise HostdError(f"cannot write the candidate to check in {self.root}: {exc}") from exc
        return None

    def _write(self, files: Files) -> None:
        """Make the scratch folder hold exactly `files`."""
        if self._written is None or not self._owned():
            shutil.rmtree(self.root, ignore_errors=True)
            self.root.mkdir(parents=True, exist_ok=True)
            (self.root / OWNER).write_text(self._token)
            self._written = {}
        written = self._written
        for rel in [rel for rel in written if rel not in files]:
            (self.root / rel).unlink(missing_ok=True)
            del written[rel]
        changed = {rel: text for rel, text in files.items() if written.get(rel) != text}
        for rel in changed:
            written.pop(rel, None)  # until it is written whole
        write_tree(self.root, changed)
        written.update(changed)

    def _owned(self) -> bool:
        try:
            return (self.root / OWNER).read_text() == self._token
        except OSError:
            return False

    def _forget(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        self._written = None
