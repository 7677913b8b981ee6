"""Helpers of the stress tests: certificates on disk, wrk runs and what they report."""

from __future__ import annotations

import datetime
import os
import re
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(folder: Path, names: list[str]) -> tuple[Path, Path]:
    """A self-signed certificate for `names` as certbot lays it out: (fullchain, privkey)."""
    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    fullchain, privkey = folder / "fullchain.pem", folder / "privkey.pem"
    fullchain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    privkey.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    privkey.chmod(0o600)
    return fullchain, privkey


WRK = shutil.which("wrk")
# counts every status wrk sees, so "0 non-2xx" is shown, not inferred from a missing line
STATUS_SCRIPT = """\
local pause = tonumber(os.getenv("WRK_DELAY_MS") or "0")
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) counts = {} end
function response(status, headers, body) counts[status] = (counts[status] or 0) + 1 end
if pause > 0 then function delay() return pause end end
function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("counts")) do
      io.write(string.format("status %d %d\\n", status, n))
    end
  end
end
"""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    non_2xx: int
    socket_errors: dict[str, int]  # connect, read, write, timeout
    statuses: dict[int, int]
    requests_per_second: float
    latency: dict[int, float]  # percentile -> seconds (50, 75, 90, 99)
    output: str

    @property
    def errors(self) -> int:
        return sum(self.socket_errors.values())


def wrk_command(
    url: str, host: str, *, threads: int, connections: int, seconds: float, script: Path,
    close: bool = False,
) -> list[str]:  # fmt: skip
    """wrk's command line; `close`: a new connection for every request (no keep-alive)."""
    if WRK is None:
        raise RuntimeError("wrk is not installed")
    headers = ["-H", f"Host: {host}"] + (["-H", "Connection: close"] if close else [])
    return [WRK, f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency",
            "-s", str(script), *headers, url]  # fmt: skip


_UNIT = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def _statuses(output: str) -> dict[int, int]:
    """Status -> count, summed over wrk's threads (the script prints one line each)."""
    counts: dict[int, int] = {}
    for status, count in re.findall(r"^status (\d+) (\d+)$", output, re.M):
        counts[int(status)] = counts.get(int(status), 0) + int(count)
    return counts


def parse_wrk(output: str) -> WrkResult:
    """What wrk printed: requests, non-2xx/3xx, socket errors, statuses, requests/s."""
    requests = re.search(r"(\d+) requests in ", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if requests is None or rate is None:
        raise AssertionError(f"unexpected wrk output:\n{output}")
    names = ("connect", "read", "write", "timeout")
    return WrkResult(
        requests=int(requests.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors={n: int(errors.group(i + 1)) if errors else 0 for i, n in enumerate(names)},
        statuses=_statuses(output),
        requests_per_second=float(rate.group(1)),
        latency={
            int(q): float(value) * _UNIT[unit]
            for q, value, unit in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s)$", output, re.M)
        },
        output=output,
    )


def start_wrk(
    url: str, host: str, folder: Path, *, threads: int = 1, connections: int = 4,
    seconds: float = 10, close: bool = False, pause_ms: int = 0,
) -> subprocess.Popen[str]:  # fmt: skip
    """wrk in the background; `finish_wrk` collects what it reports (or `stop_wrk`).

    `pause_ms`: each connection waits this long between requests (a steady, lighter load).

    wrk runs in a session of its own, as the clients it stands for are apart from the
    box: a kernel that schedules by session (autogroup) would otherwise share one
    slice of the CPU between wrk's threads and whatever else this process starts
    (hostd's commands, a gunicorn timed on its own).
    """
    script = folder / "statuses.lua"
    script.write_text(STATUS_SCRIPT)
    argv = wrk_command(
        url, host, threads=threads, connections=connections, seconds=seconds, script=script,
        close=close,
    )  # fmt: skip
    env = {**os.environ, "WRK_DELAY_MS": str(pause_ms)}
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip


def finish_wrk(proc: subprocess.Popen[str], timeout: float = 120) -> WrkResult:
    """What wrk reports once its duration is over."""
    output, _ = proc.communicate(timeout=timeout)
    return parse_wrk(output)


def stop_wrk(proc: subprocess.Popen[str]) -> WrkResult:
    """Stop wrk now (SIGINT: it prints its figures as at the end of a run)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    return finish_wrk(proc, timeout=30)
