"""The transaction in memory: every branch of the reconciler against the fakes of
`hostd.testing`, in milliseconds. The same branches run against the real nginx,
supervisord and gunicorn in tests/integration."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hostd.apply.reconciler import Reconciler
from hostd.core.builtin import Builtin
from hostd.core.generation import nginx_site_path
from hostd.core.layout import system_layout
from hostd.core.report import Outcome
from hostd.core.site import Site, parse_site
from hostd.edges.supervisor_rpc import options_of
from hostd.errors import SiteError
from hostd.testing import MEMORY, FakePorts, in_memory_reconciler


def site(name: str, version: str = "1", *domains: str) -> Site:
    text = (
        f"domains: [{', '.join(domains or (f'{name}.test',))}]\n"
        f"app:\n  root: /srv/apps/{name}\n  wsgi: {name}:app\n"
        f"  env: {{VERSION: '{version}'}}\n"
    )
    return parse_site(MEMORY / "sites.d" / f"{name}.yaml", text)


def refused(name: str) -> SiteError:
    return SiteError("unknown key", file=MEMORY / "sites.d" / f"{name}.yaml", line=4, key="colour")


@pytest.fixture
def fakes() -> FakePorts:
    return FakePorts.empty()


@pytest.fixture
def reconciler(fakes: FakePorts) -> Reconciler:
    """An in-memory instance serving alpha and beta at version 1."""
    reconciler = in_memory_reconciler(fakes)
    fakes.sites.files.update(alpha=site("alpha"), beta=site("beta"))
    assert reconciler.apply().ok
    return reconciler


def live_version(reconciler: Reconciler, name: str) -> str | None:
    live = reconciler.live()
    assert live is not None
    entry = live.sites.get(name)
    return dict(entry.app.env)["VERSION"] if entry else None


def outcomes(report: object) -> dict[str, Outcome]:
    return {result.name: result.outcome for result in getattr(report, "sites", [])}


def test_new_sites_go_live_in_one_generation(fakes: FakePorts, reconciler: Reconciler) -> None:
    """Both sites are added, started, verified, and nginx is reloaded to serve them."""
    live = reconciler.live()
    assert live is not None and set(live.sites) == {"alpha", "beta"}
    assert set(fakes.supervisor.programs) == {"alpha", "beta"}
    assert fakes.apps.verified[-1] == ["alpha", "beta"]
    assert fakes.nginx.served == fakes.nginx.reloads[-1]
    assert outcomes(fakes.journal.reports[-1]) == {"alpha": Outcome.ADDED, "beta": Outcome.ADDED}


def test_nothing_changed_touches_nothing(fakes: FakePorts, reconciler: Reconciler) -> None:
    """An apply with the same files writes no generation and reloads nothing."""
    generations, reloads = len(fakes.generations.generations), len(fakes.nginx.reloads)
    report = reconciler.apply()
    assert report.ok and outcomes(report) == {"alpha": Outcome.UNCHANGED,
                                              "beta": Outcome.UNCHANGED}  # fmt: skip
    assert len(fakes.generations.generations) == generations
    assert len(fakes.nginx.reloads) == reloads


def test_a_refused_site_is_held_while_the_others_go_live(
    fakes: FakePorts, reconciler: Reconciler
) -> None:
    """beta's file is refused: beta keeps serving version 1, alpha's change goes live."""
    fakes.sites.files.update(alpha=site("alpha", "2"), beta=refused("beta"))
    before = fakes.supervisor.programs["beta"].pid
    report = reconciler.apply()
    assert not report.ok
    assert outcomes(report) == {"alpha": Outcome.CHANGED, "beta": Outcome.REJECTED}
    beta = report.result("beta")
    assert beta is not None and beta.held and "colour: unknown key" in beta.detail
    assert (live_version(reconciler, "alpha"), live_version(reconciler, "beta")) == ("2", "1")
    assert fakes.supervisor.programs["beta"].pid == before  # never restarted


def test_a_refused_candidate_is_narrowed_to_the_culprit(
    fakes: FakePorts, reconciler: Reconciler
) -> None:
    """Both change, nginx refuses the whole: each change is tried on its own, beta's is
    refused by name, alpha's goes live."""
    fakes.checker.refused.add("bad.test")
    fakes.sites.files.update(alpha=site("alpha", "2"), beta=site("beta", "2", "bad.test"))
    report = reconciler.apply()
    assert outcomes(report) == {"alpha": Outcome.CHANGED, "beta": Outcome.REJECTED}
    beta = report.result("beta")
    assert beta is not None and beta.held
    assert beta.detail.endswith('refused by the server: nginx: [emerg] refused "bad.test" in '
                                f"{MEMORY}/check/{nginx_site_path('beta')}")  # fmt: skip
    assert (live_version(reconciler, "alpha"), live_version(reconciler, "beta")) == ("2", "1")
    assert len(fakes.checker.checked) >= 3  # the whole, the base, then each change


def test_an_app_that_does_not_start_goes_back(fakes: FakePorts, reconciler: Reconciler) -> None:
    """alpha's new version does not come up: it is reverted to version 1 and reported
    failed with the app's reason, while beta's change stays live."""
    fakes.apps.failure = lambda s: "app did not start (FATAL)" if s.app.env[0][1] == "2" else None
    fakes.sites.files.update(alpha=site("alpha", "2"), beta=site("beta", "3"))
    report = reconciler.apply()
    assert outcomes(report) == {"alpha": Outcome.FAILED, "beta": Outcome.CHANGED}
    alpha = report.result("alpha")
    assert alpha is not None and alpha.held and alpha.detail == "app did not start (FATAL)"
    assert (live_version(reconciler, "alpha"), live_version(reconciler, "beta")) == ("1", "3")
    assert options_of(fakes.supervisor.running["alpha"]) == options_of(
        reconciler.live().files["supervisor/programs/alpha.conf"]  # type: ignore[union-attr]
    )


def test_a_new_version_failing_its_gate_leaves_the_live_slot_untouched(
    fakes: FakePorts, reconciler: Reconciler
) -> None:
    """Version 2 starts in slot b beside version 1 and fails: slot b is removed, slot a
    was never stopped and still gets the traffic, the reason is reported."""
    fakes.apps.failure = lambda s: f"app did not start (version {s.app.env[0][1]})"
    fakes.sites.files["alpha"] = site("alpha", "2")
    report = reconciler.apply()
    alpha = report.result("alpha")
    assert alpha is not None and alpha.outcome is Outcome.FAILED and alpha.held
    assert alpha.detail == "app did not start (version 2)"
    assert "early alpha.slot-b" in fakes.supervisor.calls
    assert "remove alpha" not in fakes.supervisor.calls
    assert "remove alpha.slot-b" in fakes.supervisor.calls
    assert fakes.sockets.pointed["alpha"] == "a" and "alpha:b" not in fakes.sockets.switches
    assert live_version(reconciler, "alpha") == "1"


def test_a_change_starts_the_other_slot_switches_then_drains_the_old(
    fakes: FakePorts, reconciler: Reconciler
) -> None:
    """Each change that needs new processes moves the site to its other slot: the new
    program is added before the socket is switched and the old one removed."""
    fakes.sites.files["alpha"] = site("alpha", "2")
    assert outcomes(reconciler.apply()) == {"alpha": Outcome.CHANGED, "beta": Outcome.UNCHANGED}
    calls = fakes.supervisor.calls
    assert calls.index("early alpha.slot-b") < calls.index("remove alpha")
    assert fakes.sockets.switches == ["alpha:a", "beta:a", "alpha:b"]
    assert set(fakes.supervisor.running) == {"alpha.slot-b", "beta"}
    fakes.sites.files["alpha"] = site("alpha", "3")
    assert reconciler.apply().ok
    assert fakes.sockets.pointed["alpha"] == "a"
    assert set(fakes.supervisor.running) == {"alpha", "beta"}


def test_a_restart_after_a_cut_short_switch_leaves_one_live_slot(
    fakes: FakePorts, reconciler: Reconciler
) -> None:
    """hostd stopped after the new generation went live but before the switch: on
    resume the socket follows the generation and the other slot is removed."""
    fakes.sites.files["alpha"] = site("alpha", "2")
    assert reconciler.apply().ok
    fakes.sockets.pointed["alpha"] = "a"  # as if stopped before the switch and drain
    fakes.supervisor.running["alpha"] = "the old slot, still running"
    assert reconciler.resume() == []
    assert fakes.sockets.pointed["alpha"] == "b"
    assert set(fakes.supervisor.running) == {"alpha.slot-b", "beta"}


def test_nginx_refusing_rolls_everything_back(fakes: FakePorts, reconciler: Reconciler) -> None:
    """nginx does not take the new generation: the old one is live again, its programs
    run again, and every change is reported as rolled back."""
    before = reconciler.live()
    assert before is not None
    fakes.nginx.refusing = True
    fakes.sites.files.update(alpha=site("alpha", "2"), gamma=site("gamma"))
    report = reconciler.apply()
    assert report.rolled_back and not report.ok and report.generation == before.id
    assert reconciler.live() == before
    assert set(fakes.supervisor.running) == {"alpha", "beta"}
    assert options_of(fakes.supervisor.running["alpha"]) == options_of(
        before.files["supervisor/programs/alpha.conf"]
    )
    assert outcomes(report) == {"alpha": Outcome.FAILED, "beta": Outcome.UNCHANGED,
                                "gamma": Outcome.FAILED}  # fmt: skip
    assert report.result("gamma").held is False  # type: ignore[union-attr]
    assert fakes.events.named("rollback")


def test_a_named_unchanged_site_gets_its_code_reloaded(
    fakes: FakePorts, reconciler: Reconciler
) -> None:
    """`hostd reload alpha` without a config change starts alpha anew in its other
    slot and switches to it, nothing else; new code failing its gate is held."""
    report = reconciler.apply({"alpha"})
    assert outcomes(report) == {"alpha": Outcome.RELOADED}
    assert fakes.sockets.switches[-1] == "alpha:b"
    assert set(fakes.supervisor.running) == {"alpha.slot-b", "beta"}
    fakes.apps.failure = lambda s: "app did not start (ImportError: boom)"
    failed = reconciler.apply({"alpha"}).result("alpha")
    assert failed is not None and failed.outcome is Outcome.FAILED and failed.held
    assert "failed its health gate" in failed.detail and "ImportError: boom" in failed.detail
    assert fakes.sockets.pointed["alpha"] == "b"
    assert set(fakes.supervisor.running) == {"alpha.slot-b", "beta"}


def test_other_sites_wait_when_some_are_named(fakes: FakePorts, reconciler: Reconciler) -> None:
    """`hostd reload alpha` leaves beta's pending change for later."""
    fakes.sites.files.update(alpha=site("alpha", "2"), beta=site("beta", "2"))
    assert outcomes(reconciler.apply({"alpha"})) == {"alpha": Outcome.CHANGED}
    assert (live_version(reconciler, "alpha"), live_version(reconciler, "beta")) == ("2", "1")


def test_boot_starts_without_sites_the_last_good_ones_no_longer_validate(
    fakes: FakePorts, reconciler: Reconciler
) -> None:
    """Under new settings (another port) nginx refuses what was live: hostd starts with
    no site rather than not at all, and says so."""
    fakes.checker.refused.add("alpha.test")
    moved = Reconciler(fakes.ports(), replace(reconciler.facts, http_port=9090),
                       reconciler.builtin)  # fmt: skip
    generation = moved.boot()
    assert generation.sites == {} and moved.live() == generation
    assert "listen 127.0.0.1:9090" in generation.files["nginx/default.conf"]
    assert fakes.events.named("boot-without-sites")


def test_boot_keeps_a_generation_that_still_renders_the_same(
    fakes: FakePorts, reconciler: Reconciler
) -> None:
    live = reconciler.live()
    assert reconciler.boot() == live


def test_a_failing_disk_is_reported_and_recorded(fakes: FakePorts, reconciler: Reconciler) -> None:
    """A full disk stops the apply as a whole: nothing switches, the report says why,
    and it is recorded and logged."""
    before = reconciler.live()
    fakes.generations.failing = "No space left on device"
    fakes.sites.files["alpha"] = site("alpha", "2")
    report = reconciler.apply()
    assert report.error is not None and "No space left on device" in report.error
    assert not report.ok and reconciler.live() == before
    assert fakes.journal.reports[-1] is report
    assert fakes.events.named("apply-error")


def test_a_record_that_cannot_be_written_is_logged(
    fakes: FakePorts, reconciler: Reconciler
) -> None:
    fakes.journal.failing = True
    fakes.sites.files["alpha"] = site("alpha", "2")
    assert reconciler.apply().ok
    assert fakes.events.named("state-not-recorded")


def test_a_missing_user_refuses_the_site(fakes: FakePorts, reconciler: Reconciler) -> None:
    """In system mode a site's program runs as its user; one the machine lacks refuses
    the site, not the apply."""
    system = replace(reconciler.facts, layout=system_layout(MEMORY / "root"))
    other = Reconciler(fakes.ports(), system, Builtin(system.layout.config_file))
    fakes.sites.files["alpha"] = replace(site("alpha", "2"), app=replace(
        site("alpha").app, user="nobody-here"))  # fmt: skip
    report = other.apply()
    alpha = report.result("alpha")
    assert alpha is not None and alpha.outcome is Outcome.REJECTED
    assert "user 'nobody-here' does not exist on this machine" in alpha.detail


def test_the_dashboard_comes_from_the_runtime_not_from_hostd_toml(
    fakes: FakePorts, reconciler: Reconciler
) -> None:
    """The builtin site the runtime hands over goes live like any other; taking it
    away removes it."""
    config = Path(MEMORY / "home" / "hostd.toml")
    text = "domains: [dash.test]\napp: {root: /srv/hostd, wsgi: 'hostd.dashboard:create_app()'}\n"
    dashboard = parse_site(MEMORY / "hostd-dashboard.yaml", text)
    reconciler.builtin = Builtin(config, site=dashboard)
    assert outcomes(reconciler.apply())["hostd-dashboard"] is Outcome.ADDED
    reconciler.builtin = Builtin(config)
    assert outcomes(reconciler.apply())["hostd-dashboard"] is Outcome.REMOVED


def with_release(name: str, version: str) -> Site:
    return replace(site(name, version), release="flask db upgrade")


def test_a_release_runs_once_per_new_version_and_a_failing_one_holds_the_site(
    fakes: FakePorts, reconciler: Reconciler
) -> None:
    """`release:` runs before a new version starts, not for an unchanged site; when it
    fails, no new slot starts, the live version serves on, and the output is logged."""
    fakes.sites.files["alpha"] = with_release("alpha", "2")
    assert reconciler.apply().ok
    assert fakes.releases.ran == ["alpha"]
    assert reconciler.apply().ok
    assert fakes.releases.ran == ["alpha"]  # nothing new: no release
    fakes.releases.failing["alpha"] = "migrating...\nOperationalError: no such table\n"
    fakes.sites.files["alpha"] = with_release("alpha", "3")
    calls = len(fakes.supervisor.calls)
    report = reconciler.apply()
    alpha = report.result("alpha")
    assert alpha is not None and alpha.outcome is Outcome.FAILED and alpha.held
    assert "release command failed" in alpha.detail and "OperationalError" in alpha.detail
    assert live_version(reconciler, "alpha") == "2"
    assert not [c for c in fakes.supervisor.calls[calls:] if c.startswith("add")]
    logged = fakes.events.named("release-failed")
    assert logged and "no such table" in str(logged[-1])
    failed = reconciler.apply({"alpha"}).result("alpha")  # tried again, held again
    assert failed is not None and failed.outcome is Outcome.FAILED
    assert fakes.releases.ran == ["alpha", "alpha", "alpha"]


def test_a_change_of_worker_processes_only_leaves_the_web_program_in_its_slot(
    fakes: FakePorts, reconciler: Reconciler
) -> None:
    """Processes have no slots: adding one starts it, taking it out again stops it,
    and gunicorn stays where it is."""
    fakes.sites.files["alpha"] = replace(site("alpha"), processes=(("worker", "rq worker"),))
    assert reconciler.apply().ok
    assert "add alpha.worker" in fakes.supervisor.calls
    fakes.sites.files["alpha"] = site("alpha")
    assert reconciler.apply().ok
    assert "remove alpha.worker" in fakes.supervisor.calls
    assert set(fakes.supervisor.running) == {"alpha", "beta"}
    assert "alpha:b" not in fakes.sockets.switches
    slot_b = ("remove alpha", "add alpha.slot-b", "early alpha.slot-b")
    assert not [c for c in fakes.supervisor.calls if c in slot_b]


def test_a_new_site_starts_before_its_checks_and_keeps_that_program(
    fakes: FakePorts, reconciler: Reconciler
) -> None:
    """gamma's web program starts before its checks run (it boots meanwhile); the
    generation that names it finds it unchanged, so it is gated, not started again."""
    fakes.supervisor.calls.clear()
    checked_before = len(fakes.checker.checked)
    fakes.sites.files["gamma"] = site("gamma")
    report = reconciler.apply()
    assert outcomes(report)["gamma"] is Outcome.ADDED
    assert fakes.supervisor.calls == ["early gamma"]
    assert len(fakes.checker.checked) > checked_before  # checked after it started
    assert ["gamma"] in fakes.apps.verified
    assert fakes.sockets.pointed["gamma"] == "a"


def test_an_early_started_site_that_is_refused_is_stopped(
    fakes: FakePorts, reconciler: Reconciler
) -> None:
    fakes.checker.refused.add("bad.test")
    fakes.supervisor.calls.clear()
    fakes.sites.files["gamma"] = site("gamma", "1", "bad.test")
    report = reconciler.apply()
    assert outcomes(report)["gamma"] is Outcome.REJECTED
    assert fakes.supervisor.calls == ["early gamma", "remove gamma"]
    assert "gamma" not in fakes.supervisor.running


def test_a_new_site_with_a_release_command_starts_after_it(
    fakes: FakePorts, reconciler: Reconciler
) -> None:
    fakes.supervisor.calls.clear()
    fakes.sites.files["gamma"] = with_release("gamma", "1")
    assert reconciler.apply().ok
    assert fakes.releases.ran == ["gamma"]
    assert fakes.supervisor.calls == ["add gamma"]
