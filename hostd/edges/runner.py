"""Running external commands: one small interface, a real and a fake implementation."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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


@dataclass
class FakeRunner:
    """Answers only the commands a test prepared; anything else fails loudly."""

    answers: dict[tuple[str, ...], tuple[int, str]] = field(default_factory=dict)
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def expect(self, argv: Sequence[str], returncode: int = 0, output: str = "") -> None:
        self.answers[tuple(argv)] = (returncode, output)

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        timeout: float = 60.0,
        check: bool = True,
        cwd: Path | None = None,
    ) -> Completed:
        key = tuple(argv)
        self.calls.append(key)
        if key not in self.answers:
            raise AssertionError(f"FakeRunner: nobody prepared {list(argv)}")
        returncode, output = self.answers[key]
        if check and returncode != 0:
            raise CommandError(argv, returncode, output)
        return Completed(key, returncode, output)
