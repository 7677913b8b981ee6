"""`hostd reload SITE…` handed to the running daemon (hostd.cli.handoff,
hostd.edges.reload_inbox): the same answer as the command's own, from a command that
imports none of the transaction, and the command's own reload wherever the daemon
cannot be asked."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hostd.edges.reload_inbox import (
    Reply,
    Request,
    answer,
    ask,
    daemon_taking_requests,
    pending,
    prepare,
    take_requests,
)

from .harness import HostdUp, site_yaml, wait_until


def reload_importing(up: HostdUp, *args: str) -> tuple[subprocess.CompletedProcess[str], bool]:
    """`hostd reload ARGS` with Python's import log; and whether it imported the
    transaction (a reload of its own)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "hostd", "reload", *args,
         "--home", str(up.home)],
        capture_output=True, text=True, env=up.environ(), timeout=120,
    )  # fmt: skip
    return done, "hostd.runtime.wiring" in done.stderr


def without_import_log(stderr: str) -> str:
    return "\n".join(line for line in stderr.splitlines() if not line.startswith("import time:"))


def test_a_named_reload_is_answered_by_the_daemon(instance: HostdUp) -> None:
    instance.write_site("alpha", site_yaml(["alpha.test"]))
    instance.start()
    before = instance.pid("alpha")
    done, own = reload_importing(instance, "alpha")
    assert (done.returncode, done.stdout.splitlines()[0]) == (0, "alpha: reloaded"), done.stdout
    assert not own  # the daemon did it
    assert instance.pid("alpha") not in (None, before)

    done, own = reload_importing(instance, "alpha", "--json")
    assert done.returncode == 0 and not own
    assert json.loads(done.stdout)["sites"][0]["outcome"] == "reloaded"

    done, own = reload_importing(instance, "nosuch")
    assert done.returncode == 2 and not own
    assert without_import_log(done.stderr) == (
        "hostd reload: error: unknown site(s): nosuch (known: alpha)"
    )
    left = [p.name for p in (instance.home / "run" / ".reloads").iterdir()]
    assert left == ["taker"]  # no request or reply left over


# what Python itself loads before a script runs is not the command's; these are, and
# each is time a deploy's new version waits for before the daemon hears of it
HEAVY = ("re", "enum", "collections", "contextlib", "functools", "typing", "pathlib", "json")


def imported_before(stderr: str, module: str) -> set[str]:
    """The modules Python's import log (-X importtime) shows done up to `module`'s own
    import (nested imports are logged before the one that asked for them)."""
    names: set[str] = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            name = line.rsplit("|", 1)[1].strip()
            names.add(name)
            if name == module:
                return names
    raise AssertionError(f"{module} not in the import log:\n{stderr}")


def test_the_installed_command_signals_the_daemon_before_any_heavy_import(
    instance: HostdUp,
) -> None:
    """`hostd reload alpha` as operators run it (the installed command, not `python -m`):
    until it has written the request and signalled the daemon it imports none of
    `re`, `enum`, `collections`, `contextlib`, `typing`, `pathlib`, `json` (pip's
    generated wrapper imports `re`, `signal` imports `enum`, namedtuple `collections`)."""
    instance.write_site("alpha", site_yaml(["alpha.test"]))
    instance.start()
    command = Path(sys.executable).with_name("hostd")
    done = subprocess.run(
        [sys.executable, "-X", "importtime", str(command), "reload", "alpha",
         "--home", str(instance.home)],
        capture_output=True, text=True, env=instance.environ(), timeout=120,
    )  # fmt: skip
    assert (done.returncode, done.stdout.splitlines()[:1]) == (0, ["alpha: reloaded"]), done
    assert "hostd.runtime.wiring" not in done.stderr  # the daemon did it
    before = imported_before(done.stderr, "hostd.cli.handoff")
    assert not before & set(HEAVY), sorted(before & set(HEAVY))
    assert command.read_text().startswith(f"#!{sys.executable}\n")


def test_a_daemon_that_does_not_say_it_takes_requests_is_not_signalled(
    instance: HostdUp,
) -> None:
    """No taker file in the inbox (a hostd from before, still running): the command
    reloads by itself; SIGUSR1 would have ended that daemon."""
    instance.write_site("alpha", site_yaml(["alpha.test"]))
    instance.start()
    taker = instance.home / "run" / ".reloads" / "taker"
    assert taker.read_text() == f"{instance.proc.pid if instance.proc else 0}\n"
    taker.unlink()
    done, own = reload_importing(instance, "alpha")
    assert done.returncode == 0 and "alpha: reloaded" in done.stdout
    assert own
    assert instance.proc is not None and instance.proc.poll() is None


def test_a_stale_taker_naming_another_process_sends_it_nothing() -> None:
    """After a crash, the inbox's taker names a pid now another program's: it gets no
    signal (SIGUSR1 would kill it), and the command says no instance runs."""
    tmp_path = Path(tempfile.mkdtemp(prefix="hd-", dir="/tmp"))  # short: socket paths
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        run = tmp_path / "h" / "run"
        (run / ".reloads").mkdir(parents=True)
        (run / "up.json").write_text(json.dumps({"pid": bystander.pid}))
        (run / ".reloads" / "taker").write_text(f"{bystander.pid}\n")
        done = subprocess.run(
            [sys.executable, "-m", "hostd", "reload", "alpha", "--home", str(tmp_path / "h")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 3, done.stdout + done.stderr
        assert "no hostd instance is running" in done.stderr
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
        shutil.rmtree(tmp_path, ignore_errors=True)


def test_a_daemon_gone_before_it_answered_ends_the_command(instance: HostdUp) -> None:
    instance.write_site("alpha", site_yaml(["alpha.test"]))
    instance.start()
    assert instance.proc is not None
    instance.proc.send_signal(signal.SIGSTOP)  # it takes no request now
    inbox = instance.home / "run" / ".reloads"
    command = subprocess.Popen(
        [sys.executable, "-m", "hostd", "reload", "alpha", "--home", str(instance.home)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=instance.environ(),
    )  # fmt: skip
    try:
        wait_until(lambda: any(inbox.glob("*-*.json")), what="the request written")
        instance.proc.send_signal(signal.SIGKILL)
        instance.proc.wait(10)
        _, err = command.communicate(timeout=30)
    finally:
        if command.poll() is None:
            command.kill()
            command.wait()
    assert command.returncode == 3
    assert "stopped before it answered" in err
    # nginx and supervisord follow hostd (their parent-death signal), their programs too
    wait_until(lambda: not instance.leftovers(), timeout=60, what="the daemons gone")


def test_the_inbox_takes_each_request_once_and_keeps_a_fresh_one(tmp_path: Path) -> None:
    prepare(tmp_path, os.getpid())
    inbox = tmp_path / ".reloads"
    (inbox / "1-a.json").write_text(json.dumps({"sites": ["blog"], "json": False}))
    (inbox / "2-b.json").write_text("{damaged")
    (inbox / "3-c.reply.json").write_text("{}")  # nobody waits for it any more
    old = inbox / "0-z.json"
    old.write_text(json.dumps({"sites": ["shop"]}))
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    prepare(tmp_path, os.getpid())  # a new daemon: what is stale goes, the fresh request stays
    assert sorted(p.name for p in inbox.iterdir()) == ["1-a.json", "2-b.json"]
    taken = list(pending(tmp_path))
    assert taken == [Request("1-a", ["blog"], False)]
    assert list(inbox.iterdir()) == []
    answer(tmp_path, taken[0], Reply(["blog: reloaded"], [], 0))
    assert json.loads((inbox / "1-a.reply.json").read_text())["out"] == ["blog: reloaded"]


def test_asking_a_process_that_replies_returns_its_reply(tmp_path: Path) -> None:
    """ask() against a stand-in daemon that answers on SIGUSR1."""
    prepare(tmp_path, os.getpid())
    script = (
        "import signal, sys, time\n"
        "from pathlib import Path\n"
        "from hostd.edges.reload_inbox import Reply, answer, pending\n"
        "run = Path(sys.argv[1])\n"
        "def on_usr1(*_):\n"
        "    for r in pending(run):\n"
        "        answer(run, r, Reply([' '.join(r.sites)], ['warn'], 1))\n"
        "signal.signal(signal.SIGUSR1, on_usr1)\n"
        "print('ready', flush=True)\n"
        "time.sleep(30)\n"
    )
    daemon = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert daemon.stdout is not None and daemon.stdout.readline() == "ready\n"
        reply = ask(tmp_path, daemon.pid, ["blog", "shop"], False, timeout=10)
        assert reply == Reply(["blog shop"], ["warn"], 1)
    finally:
        daemon.kill()
        daemon.wait()
        if daemon.stdout is not None:
            daemon.stdout.close()


def test_the_taker_names_the_daemon_that_takes_requests(tmp_path: Path) -> None:
    """Only a process whose command line names hostd is taken for the daemon; a
    restart in place (the same pid) keeps the taker, another daemon's start drops it."""
    stand_in = subprocess.Popen(["hostd-stand-in", "60"], executable=shutil.which("sleep"))
    try:
        cmdline = Path(f"/proc/{stand_in.pid}/cmdline")
        wait_until(lambda: cmdline.read_bytes().startswith(b"hostd-stand-in"), what="exec")
        prepare(tmp_path, stand_in.pid)
        assert daemon_taking_requests(tmp_path) is None  # said only once it takes them
        take_requests(tmp_path, os.getpid())  # this test's own process: not hostd
        assert daemon_taking_requests(tmp_path) is None
        take_requests(tmp_path, stand_in.pid)
        assert daemon_taking_requests(tmp_path) == stand_in.pid
        prepare(tmp_path, stand_in.pid)
        assert daemon_taking_requests(tmp_path) == stand_in.pid
        prepare(tmp_path, stand_in.pid + 1)
        assert not (tmp_path / ".reloads" / "taker").exists()
    finally:
        stand_in.kill()
        stand_in.wait()
