"""The figures as text: `hostd stats SITE` and a frame of `hostd top`. Pure: they
format what the daemon's /figures.json answered (`hostd.core.figures`)."""

from __future__ import annotations

from typing import Any

from hostd.core.figures import CLASSES

WINDOW_NAMES = (("minute", "last minute"), ("hour", "last hour"), ("day", "last day"))


def seconds(value: float | None) -> str:
    """A latency for people: `12ms`, `1.40s`, or `-` when there is none."""
    if value is None:
        return "-"
    return f"{value * 1000:.0f}ms" if value < 1 else f"{value:.2f}s"


def size(count: int) -> str:
    for unit, scale in (("G", 1 << 30), ("M", 1 << 20), ("k", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.1f}{unit}"
    return str(count)


def certificate(site: dict[str, Any]) -> str:
    left = site.get("cert_days_left")
    return "-" if left is None else f"{left:.0f} days left"


def stats_text(name: str, site: dict[str, Any]) -> str:
    """`hostd stats SITE`: program, rates now, and each window's figures."""
    program, rate = site["program"], site["rate"]
    pid = f" pid {program['pid']}" if program.get("pid") else ""
    lines = [
        f"{name}: {program['state']}{pid}; restarts {program['restarts']}; "
        f"crash loops {program['crash_loops']}; certificate: {certificate(site)}",
        f"now: {rate['requests']:.1f} req/s, {rate['5xx']:.1f} 5xx/s, "
        f"p95 {seconds(rate['p95'])}",
        f"{'':<12} {'requests':>9} " + " ".join(f"{c:>6}" for c in CLASSES)
        + f" {'bytes':>7} {'p50':>7} {'p95':>7} {'p99':>7}",
    ]  # fmt: skip
    for key, label in WINDOW_NAMES:
        window = site["windows"][key]
        lines.append(
            f"{label:<12} {window['requests']:>9} "
            + " ".join(f"{window[c]:>6}" for c in CLASSES)
            + f" {size(window['bytes']):>7} {seconds(window['p50']):>7}"
            f" {seconds(window['p95']):>7} {seconds(window['p99']):>7}"
        )
    return "\n".join(lines)


def top_text(figures: dict[str, Any], width: int = 100) -> str:
    """One frame of `hostd top`: a header, then one line per site, busiest first."""
    health = figures.get("health", {})
    sites: dict[str, Any] = figures.get("sites", {})
    total = sum(site["rate"]["requests"] for site in sites.values())
    errors = sum(site["rate"]["5xx"] for site in sites.values())
    ok = health.get("last_apply_ok")
    lines = [
        f"hostd top: {len(sites)} sites, {total:.1f} req/s, {errors:.1f} 5xx/s",
        f"generation {health.get('generation') or '-'}; "
        f"last apply {'-' if ok is None else 'ok' if ok else 'with problems'}; "
        f"{health.get('applies', 0)} applies, {health.get('nginx_reloads', 0)} nginx reloads",
        "",
        f"{'SITE':<24} {'REQ/S':>8} {'5XX/S':>7} {'P95':>7} {'REQ/H':>8} {'5XX/H':>6} "
        f"{'PROGRAM':<9} {'PID':>7} {'RESTARTS':>8} {'CERT':>6}",
    ]
    busiest = sorted(sites.items(), key=lambda item: (-item[1]["rate"]["requests"], item[0]))
    for name, site in busiest:
        rate, hour, program = site["rate"], site["windows"]["hour"], site["program"]
        left = site.get("cert_days_left")
        lines.append(
            f"{name[:24]:<24} {rate['requests']:>8.1f} {rate['5xx']:>7.1f} "
            f"{seconds(rate['p95']):>7} {hour['requests']:>8} {hour['5xx']:>6} "
            f"{program['state'][:9]:<9} {program.get('pid') or '-':>7} "
            f"{program['restarts']:>8} {'-' if left is None else f'{left:.0f}d':>6}"
        )
    return "\n".join(line[:width] for line in lines)
