"""Running external commands: one small interface and its real implementation (the
fake is `hostd.testing.FakeRunner`)."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from hostd.errors import CommandError


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    output: str  # stdout and stderr, interleaved


class Runner(Protocol):
    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout: float = 60.0,
        check: bool = True,
        cwd: Path | None = None,
    ) -> Completed: ...


class SubprocessRunner:
    """Runs commands for real, output captured, never through a shell."""

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout: float = 60.0,
        check: bool = True,
        cwd: Path | None = None,
    ) -> Completed:
        try:
            proc = subprocess.run(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                timeout=timeout,
                text=True,
                errors="replace",
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise CommandError(argv, None, str(exc)) from exc
        done = Completed(tuple(argv), proc.returncode, proc.stdout)
        if check and proc.returncode != 0:
            raise CommandError(argv, proc.returncode, proc.stdout)
        return done
