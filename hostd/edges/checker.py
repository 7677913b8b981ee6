"""Would nginx and Supervisor take a generation? Asked of them, on a scratch copy.

The candidate is written below a scratch folder (its files name that folder, so
every include resolves inside it), then `nginx -t` and Supervisor's own parser
read it. Nothing live is touched.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from hostd.core.generation import Files
from hostd.edges.fs import write_tree
from hostd.edges.nginx import NginxProcess
from hostd.edges.supervisor import check_config
from hostd.errors import HostdError, NginxConfigError, SupervisorError


class ScratchChecker:
    """The real `hostd.apply.ports.Checker`."""

    def __init__(self, root: Path, nginx: NginxProcess) -> None:
        self.root = root
        self.nginx = nginx

    def refusal(self, files: Files) -> str | None:
        shutil.rmtree(self.root, ignore_errors=True)
        try:
            write_tree(self.root, files)
            self.nginx.check(self.root / "nginx" / "nginx.conf")
            check_config(self.root / "supervisor" / "supervisord.conf")
        except (NginxConfigError, SupervisorError) as exc:
            return str(exc)
        except OSError as exc:
            raise HostdError(f"cannot write the candidate to check in {self.root}: {exc}") from exc
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
        return None
