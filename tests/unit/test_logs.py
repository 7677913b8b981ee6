"""Reading logs: dating lines, --since/--grep/-n, following across rotation, logrotate config."""

from __future__ import annotations

import re
import shutil
import tempfile
from datetime import datetime
from pathlib import Path

import pytest

from hostd.cli import build_parser, main
from hostd.core.layout import embedded_layout, system_layout
from hostd.core.logline import line_time, parse_since
from hostd.core.logrotate import logrotate_argv, render_logrotate, rotated_files
from hostd.edges.logfiles import (
    CHUNK,
    Follower,
    LogFilter,
    LogLine,
    Position,
    dated,
    error_event,
    last_error_event,
    last_matching,
    merged,
    read_history,
    site_log_folders,
)
from hostd.edges.logrotate import process_logs
from hostd.errors import SettingsError
from hostd.queries.status import last_error

T0 = datetime.fromisoformat("2024-05-01T13:55:36+00:00").timestamp()


def local(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


# -- dating lines -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "when"),
    [
        ('127.0.0.1 - - [01/May/2024:13:55:36 +0000] "GET / HTTP/1.1" 200 3 "-" "curl"', T0),
        ('::1 - bob [01/May/2024:15:55:36 +0200] "GET /x HTTP/1.1" 404 0 "-" "-"', T0),
        ("[2024-05-01 13:55:36 +0000] [42] [INFO] Booting worker with pid: 42", T0),
        ("[2024-05-01 08:55:36 -0500] [42] [ERROR] Exception in worker process", T0),
        ('{"ts": "2024-05-01T13:55:36+0000", "event": "site-added", "site": "blog"}', T0),
        ('{"ts": "2024-05-01T13:55:36Z", "event": "x"}', T0),
        ("2024/05/01 13:55:36 [error] 7#7: *1 connect() failed", local("2024-05-01T13:55:36")),
    ],
)
def test_line_time_reads_each_log_format(line: str, when: float) -> None:
    """nginx access and error logs, gunicorn and hostd.log lines each carry their time."""
    assert line_time(line) == when


@pytest.mark.parametrize(
    "line",
    [
        "probe: info for 123",
        "Traceback (most recent call last):",
        "[2024-13-01 13:55:36 +0000] [1] [INFO] no such month",
        "",
    ],
)
def test_lines_without_a_valid_stamp_have_no_time(line: str) -> None:
    """App output, tracebacks and impossible dates are undated."""
    assert line_time(line) is None


@pytest.mark.parametrize(
    ("text", "ago"),
    [("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400), ("1w", 604800), (" 5 m ", 300)],
)
def test_since_takes_durations_ago(text: str, ago: int) -> None:
    """`10m`, `2h`, `1d` mean that long before now."""
    assert parse_since(text, 1_000_000.0) == 1_000_000.0 - ago


def test_since_takes_iso_times_local_unless_zoned() -> None:
    """An ISO time with a zone is exact; without one it is local time; a date is midnight."""
    assert parse_since("2024-05-01T13:55:36+00:00", 0) == T0
    assert parse_since("2024-05-01T15:55:36+02:00", 0) == T0
    assert parse_since("2024-05-01 13:55", 0) == local("2024-05-01T13:55:00")
    assert parse_since("2024-05-01", 0) == local("2024-05-01T00:00:00")


@pytest.mark.parametrize("text", ["yesterday", "10 minutes", "-5m", "2024-05-32", ""])
def test_since_refuses_anything_else_saying_what_it_takes(text: str) -> None:
    """A value that is neither a duration nor an ISO time is an error listing both."""
    with pytest.raises(ValueError, match="10m, 2h, 1d"):
        parse_since(text, 0)


def test_undated_lines_follow_the_line_before() -> None:
    """A traceback's lines get the time of the gunicorn line that started it."""
    texts = [
        "orphan before any stamp",
        "[2024-05-01 13:55:36 +0000] [42] [ERROR] Error handling request",
        "Traceback (most recent call last):",
        "ValueError: boom",
        "[2024-05-01 13:55:40 +0000] [42] [INFO] ok",
    ]
    assert [line.time for line in dated(texts, "app")] == [None, T0, T0, T0, T0 + 4]
    assert [line.time for line in dated(texts[2:3], "app", before=5.0)] == [5.0]


# -- filtering and merging ------------------------------------------------------------


def lines(*pairs: tuple[str, float | None], source: str = "app") -> list[LogLine]:
    return [LogLine(source, text, when) for text, when in pairs]


def test_since_keeps_lines_at_or_after_it_and_drops_undated_ones() -> None:
    """--since compares each line's time; a line that cannot be dated is not shown."""
    keep = LogFilter(since=10.0)
    got = last_matching(lines(("old", 9.0), ("edge", 10.0), ("new", 11.0), ("?", None)), keep, None)
    assert [line.text for line in got] == ["edge", "new"]


def test_grep_is_a_regular_expression_searched_anywhere() -> None:
    """--grep keeps lines the pattern matches anywhere in them."""
    keep = LogFilter(pattern=re.compile(r"GET /a\d+ "))
    got = last_matching(lines(("GET /a1 x", 1), ("GET /b x", 2), ("x GET /a22 y", 3)), keep, None)
    assert [line.text for line in got] == ["GET /a1 x", "x GET /a22 y"]


def test_count_keeps_the_last_matching_lines() -> None:
    """-n N is the last N lines that pass the filter; 0 is none; None is all."""
    every = lines(*((f"line {i}", float(i)) for i in range(10)))
    odd = LogFilter(pattern=re.compile(r"[13579]$"))
    assert [line.text for line in last_matching(every, odd, 2)] == ["line 7", "line 9"]
    assert last_matching(every, LogFilter(), 0) == []
    assert len(last_matching(every, LogFilter(), None)) == 10


def test_logs_merge_in_time_order_keeping_each_logs_order() -> None:
    """Lines of several sources interleave by time; undated ones keep their place."""
    app = lines(("a1", 1.0), ("a3", 3.0), ("a3-tb", 3.0), source="app")
    access = lines(("x0", None), ("x2", 2.0), ("x3", 3.0), source="access")
    got = [line.text for line in merged([app, access])]
    assert got == ["x0", "a1", "x2", "a3", "a3-tb", "x3"]


# -- reading files --------------------------------------------------------------------


def test_history_gives_the_last_lines_of_each_log_and_where_it_ended(tmp_path: Path) -> None:
    """Plain -n reads the tail of each file, prefixed by source; a missing log is skipped."""
    app = tmp_path / "app.log"
    app.write_text("".join(f"a{i}\n" for i in range(100)))
    access = tmp_path / "access.log"
    access.write_text("x1\nx2\nunfinished")
    got, ends = read_history({"app": app, "access": access, "error": tmp_path / "no.log"}, 3)
    assert sorted(line.shown() for line in got) == sorted(
        ["app: a97", "app: a98", "app: a99", "access: x1", "access: x2", "access: unfinished"]
    )
    assert ends["app"] == Position(app.stat().st_ino, app.stat().st_size)
    assert set(ends) == {"app", "access"}


def test_history_counts_lines_across_many_chunks(tmp_path: Path) -> None:
    """A file far larger than one read chunk still yields exactly its last N lines."""
    log = tmp_path / "app.log"
    row = "x" * 99
    log.write_text("".join(f"{i:06d}{row}\n" for i in range(3 * CHUNK // 100)))
    got, _ = read_history({"app": log}, 1500)
    assert len(got) == 1500
    assert got[-1].text.startswith(f"{3 * CHUNK // 100 - 1:06d}")
    assert [line.text for line in read_history({"app": log}, 0)[0]] == []


def test_history_with_since_reads_the_rotated_copy_too(tmp_path: Path) -> None:
    """--since 1d right after a rotation still finds yesterday's lines in access.log.1."""
    log = tmp_path / "access.log"
    stamp = '127.0.0.1 - - [01/May/2024:13:55:{:02d} +0000] "GET /{} HTTP/1.1" 200 1 "-" "-"'
    (tmp_path / "access.log.1").write_text(f"{stamp.format(1, 'old')}\n{stamp.format(30, 'mid')}\n")
    log.write_text(f"{stamp.format(40, 'new')}\n")
    got, _ = read_history({"access": log}, None, LogFilter(since=T0 - 36 + 20))
    assert [line.text.split('"')[1] for line in got] == ["GET /mid HTTP/1.1", "GET /new HTTP/1.1"]


def test_history_with_grep_searches_the_whole_file(tmp_path: Path) -> None:
    """--grep finds a match far above the last N lines, and -n caps the matches."""
    log = tmp_path / "app.log"
    log.write_text("needle 1\n" + "hay\n" * 5000 + "needle 2\nhay\n")
    keep = LogFilter(pattern=re.compile("needle"))
    assert [line.text for line in read_history({"app": log}, None, keep)[0]] == [
        "needle 1",
        "needle 2",
    ]
    assert [line.text for line in read_history({"app": log}, 1, keep)[0]] == ["needle 2"]


def test_site_log_folders_are_those_hostd_wrote(tmp_path: Path) -> None:
    """Known sites are the log folders with an app.log or a hostd.log."""
    layout = embedded_layout(tmp_path)
    for site, name in (("blog", "app.log"), ("new", "hostd.log"), ("other", "x.log")):
        (layout.site_log_dir(site)).mkdir(parents=True)
        (layout.site_log_dir(site) / name).write_text("")
    assert site_log_folders(layout) == ["blog", "new"]


# -- following ------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def texts(follower: Follower) -> list[str]:
    return [line.shown() for line in follower.poll()]


def append(path: Path, text: str) -> None:
    with path.open("a") as handle:
        handle.write(text)


def test_follow_starts_where_history_ended(tmp_path: Path) -> None:
    """Lines written between reading the history and following are printed, once."""
    log = tmp_path / "access.log"
    log.write_text("old\n")
    shown, ends = read_history({"access": log}, 5)
    append(log, "between\n")
    follower = Follower({"access": log}, ends)
    try:
        append(log, "after\n")
        assert [line.text for line in shown] == ["old"]
        assert texts(follower) == ["access: between", "access: after"]
        assert texts(follower) == []
    finally:
        follower.close()


def test_follow_without_a_start_begins_at_the_end(tmp_path: Path) -> None:
    """Without a start position only lines written from now on are printed."""
    log = tmp_path / "app.log"
    log.write_text("before\n")
    follower = Follower({"app": log})
    try:
        append(log, "half")
        assert texts(follower) == []
        append(log, " and done\n")
        assert texts(follower) == ["app: half and done"]
    finally:
        follower.close()


def test_follow_survives_rotation_without_losing_late_lines(tmp_path: Path) -> None:
    """After a rename the old file is read until quiet: lines written late are not lost."""
    log = tmp_path / "access.log"
    log.write_text("")
    clock = Clock()
    follower = Follower({"access": log}, retire_after=2.0, clock=clock)
    try:
        append(log, "1\n")
        assert texts(follower) == ["access: 1"]
        log.rename(tmp_path / "access.log.1")
        log.write_text("")  # logrotate's `create`
        append(tmp_path / "access.log.1", "2 (nginx has not reopened yet)\n")
        append(log, "3\n")
        assert texts(follower) == ["access: 2 (nginx has not reopened yet)", "access: 3"]
        clock.now = 1.0
        append(tmp_path / "access.log.1", "4 (a worker still on the old file)\n")
        assert texts(follower) == ["access: 4 (a worker still on the old file)"]
        clock.now = 3.5
        assert texts(follower) == []
        assert follower.watches["access"].retired == []  # quiet long enough: closed
        append(log, "5\n")
        assert texts(follower) == ["access: 5"]
    finally:
        follower.close()


def test_follow_survives_truncation_and_a_file_that_appears_later(tmp_path: Path) -> None:
    """A truncated file is read from its start; a log created later is read from its start."""
    log = tmp_path / "app.log"
    log.write_text("a long first line\n")
    late = tmp_path / "error.log"
    follower = Follower({"app": log, "error": late})
    try:
        log.write_text("short\n")
        late.write_text("first error\n")
        assert sorted(texts(follower)) == ["app: short", "error: first error"]
    finally:
        follower.close()


def test_follow_closes_every_file(tmp_path: Path) -> None:
    """close() releases the current and the retired files alike."""
    log = tmp_path / "app.log"
    log.write_text("")
    follower = Follower({"app": log})
    log.rename(tmp_path / "app.log.1")
    log.write_text("")
    follower.poll()
    watch = follower.watches["app"]
    handles = [reader.handle for reader in [*watch.retired, watch.current] if reader]
    assert len(handles) == 2
    follower.close()
    assert all(handle.closed for handle in handles)


# -- errors for `hostd status` ---------------------------------------------------------


def test_error_events_are_the_lines_that_record_a_problem() -> None:
    """Rejections and failures give their detail; other errors their event and reason."""
    rejected = '{"ts": "2024-05-01T13:55:36+0000", "event": "site-rejected", "detail": "x: app.workers: no"}'  # noqa: E501
    loop = '{"ts": "2024-05-01T13:55:36+0000", "event": "crash-loop", "reason": "exit 3"}'
    added = '{"ts": "2024-05-01T13:55:36+0000", "event": "site-added", "generation": 3}'
    assert error_event(rejected) == (T0, "x: app.workers: no")
    assert error_event(loop) == (T0, "crash-loop: exit 3")
    assert error_event(added) is None
    assert error_event("not json") is None


def test_the_last_error_in_hostd_log_is_found(tmp_path: Path) -> None:
    """The newest error line wins, even with ordinary events after it."""
    log = tmp_path / "hostd.log"
    log.write_text(
        '{"ts": "2024-05-01T13:55:00+0000", "event": "site-failed", "detail": "first"}\n'
        '{"ts": "2024-05-01T13:55:36+0000", "event": "crash-loop", "reason": "second"}\n'
        '{"ts": "2024-05-01T13:56:00+0000", "event": "site-changed", "generation": 4}\n'
    )
    assert last_error_event(log) == (T0, "crash-loop: second")
    assert last_error_event(tmp_path / "missing.log") is None


def test_status_shows_the_newer_of_state_and_hostd_log() -> None:
    """state.json's last error stands unless hostd.log recorded a newer one."""
    record = {"last_error": "from state", "last_error_at": T0}
    assert last_error(record, (T0 + 1, "from log")) == ("from log", T0 + 1)
    assert last_error(record, (T0 - 1, "from log")) == ("from state", T0)
    assert last_error({}, None) == (None, None)
    assert last_error({}, (T0, "from log")) == ("from log", T0)


# -- the command line ------------------------------------------------------------------


def test_logs_options_parse_as_documented() -> None:
    """--source repeats, --since becomes a moment, --grep a compiled pattern, -n stays unset."""
    args = build_parser().parse_args(
        ["logs", "blog", "--source", "app", "--source", "access", "--since", "10m", "--grep", "a+"]
    )
    assert args.source == ["app", "access"] and args.lines is None
    assert isinstance(args.since, float) and args.grep.pattern == "a+"


@pytest.mark.parametrize(
    "argv",
    [["logs", "blog", "--since", "soon"], ["logs", "blog", "--grep", "("]],
)  # fmt: skip
def test_bad_logs_options_are_usage_errors(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad --since or --grep exits 2 with argparse's message."""
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)
    assert exited.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_a_source_is_a_log_of_the_site_or_of_one_of_its_processes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """--source takes app, access, error, hostd or a worker process's log; else exit 2."""
    tmp_path = Path(tempfile.mkdtemp(prefix="hd-logs-", dir="/tmp"))  # short: socket paths
    try:
        folder = tmp_path / "log" / "blog"
        folder.mkdir(parents=True)
        (folder / "app.log").write_text("")
        (folder / "worker.log").write_text("2026-01-01 00:00:00 worker says hi\n")
        home = ["--home", str(tmp_path)]
        assert main(["logs", "blog", "--source", "db", *home]) == 2
        assert "unknown log source 'db' (known here: app, access, error, hostd, worker)" in (
            capsys.readouterr().err
        )
        assert main(["logs", "blog", "--source", "worker", *home]) == 0
        assert "worker says hi" in capsys.readouterr().out
    finally:
        shutil.rmtree(tmp_path)


# -- the logrotate config -------------------------------------------------------------


def test_logrotate_config_rotates_every_sites_logs_daily_without_copytruncate() -> None:
    """Daily, compressed but the newest, 14 kept, created 0640, one shared reopen script."""
    layout = embedded_layout(Path("/srv/hostd"))
    conf = render_logrotate(layout, ["blog", "api", "blog"])
    for site in ("api", "blog"):
        for source in ("app", "access", "error", "hostd"):
            assert f"\n/srv/hostd/log/{site}/{source}.log\n" in conf
    body = conf[conf.index("{") :]
    for directive in ("daily", "rotate 14", "compress", "delaycompress", "create 0640",
                      "sharedscripts", "missingok", "notifempty", "maxsize 100M"):  # fmt: skip
        assert f"\n    {directive}\n" in body
    assert "copytruncate" not in conf
    assert "cat /srv/hostd/run/nginx.pid 2>/dev/null) && grep -qa nginx" in conf
    assert 'kill -USR1 "$pid"' in conf and 'kill -USR2 "$pid"' in conf
    assert "cat /srv/hostd/run/supervisord.pid" in conf
    assert conf.count("postrotate") == 1 and "endscript" in conf


def test_logrotate_config_for_system_mode_follows_debian() -> None:
    """System mode: /var/log/<site>/, files root:adm 0640, Debian's nginx and supervisord pids."""
    conf = render_logrotate(system_layout(), ["blog"])
    assert "\n/var/log/blog/access.log\n" in conf and "create 0640 root adm" in conf
    assert "cat /run/nginx.pid" in conf and "cat /run/supervisord.pid" in conf
    assert "nginx-error.log" not in conf


def test_logrotate_files_and_command() -> None:
    """Embedded mode also rotates hostd.log and its nginx's own error log, with its own state."""
    layout = embedded_layout(Path("/srv/hostd"))
    files = [str(path) for path in rotated_files(layout, ["blog"])]
    assert files[-2:] == ["/srv/hostd/log/hostd.log", "/srv/hostd/log/nginx-error.log"]
    assert logrotate_argv("/usr/sbin/logrotate", layout, force=True) == [
        "/usr/sbin/logrotate", "-s", "/srv/hostd/state/logrotate.status", "-f",
        "/srv/hostd/state/logrotate.conf",
    ]  # fmt: skip
    assert "-f" not in logrotate_argv("/usr/sbin/logrotate", layout, force=False)


def test_logrotate_rotates_the_logs_of_worker_processes_too(tmp_path: Path) -> None:
    """A site's NAME.log of each worker process is rotated with its own four logs."""
    layout = embedded_layout(Path("/srv/hostd"))
    files = [str(p) for p in rotated_files(layout, ["jobs"], {"jobs": ["worker", "beat"]})]
    assert "/srv/hostd/log/jobs/worker.log" in files and "/srv/hostd/log/jobs/beat.log" in files
    home = embedded_layout(tmp_path)
    (home.site_log_dir("jobs")).mkdir(parents=True)
    for name in ("app", "access", "worker"):
        (home.site_log_dir("jobs") / f"{name}.log").write_text("")
    (home.site_log_dir("jobs") / "worker.log.1").write_text("")
    assert process_logs(home, "jobs") == ["worker"]


def test_logrotate_config_refuses_unsafe_paths() -> None:
    """A path logrotate or the shell would misread never reaches the config."""
    with pytest.raises(SettingsError, match="logrotate"):
        render_logrotate(embedded_layout(Path('/srv/my "home"')), ["blog"])
