"""Planning: which version of each site goes live, and what going there changes."""

from __future__ import annotations

from pathlib import Path

from hostd.core.facts import HostFacts
from hostd.core.layout import embedded_layout
from hostd.core.plan import Change, SitePlan, make_plan, plan_diff
from hostd.core.render import render_generation
from hostd.core.selection import select_sites
from hostd.core.site import Site, parse_site
from hostd.errors import SiteError

INSTANCE = HostFacts(layout=embedded_layout(Path("/srv/hostd"), Path("/srv/sites")), cores=2)


def site(name: str, *domains: str, env: str = "") -> Site:
    """A site `name` serving `domains`; `env` tells versions of it apart."""
    text = (
        f"domains: [{', '.join(domains)}]\n"
        f"app:\n  root: /srv/apps/{name}\n  wsgi: {name}:app\n"
        f"  env: {{VERSION: '{env}'}}\n"
    )
    return parse_site(Path(f"/srv/sites/{name}.yaml"), text)


def refused(name: str) -> SiteError:
    return SiteError("unknown key", file=Path(f"/srv/sites/{name}.yaml"), line=3, key="colour")


def test_a_refused_site_keeps_its_live_version() -> None:
    """A typo in a live site's file leaves the last good version serving, and is reported."""
    live = {"blog": site("blog", "blog.com")}
    error = refused("blog")
    selection = select_sites({"blog": error}, live)
    assert selection.sites == live
    assert selection.rejected == {"blog": error}


def test_a_refused_sites_held_version_is_paused_and_resumed_as_its_error_carries() -> None:
    """`hostd pause` of a site whose file is refused pauses the last good version;
    resume lifts it; an error that does not know the record leaves it as it is."""
    live = {"blog": site("blog", "blog.com")}
    paused = select_sites({"blog": refused("blog").with_pause("Back soon")}, live)
    assert paused.sites["blog"].paused == "Back soon"
    resumed = select_sites({"blog": refused("blog").with_pause(None)}, paused.sites)
    assert resumed.sites["blog"].paused is None
    assert select_sites({"blog": refused("blog")}, paused.sites).sites == paused.sites


def test_a_refused_new_site_is_left_out() -> None:
    """A new site that does not load is reported and not served at all."""
    error = refused("shop")
    selection = select_sites({"shop": error}, {})
    assert selection.sites == {}
    assert selection.rejected == {"shop": error}


def test_a_changed_site_goes_live_in_its_new_version() -> None:
    """Each loaded site replaces its live version."""
    new = site("blog", "blog.com", env="2")
    selection = select_sites({"blog": new}, {"blog": site("blog", "blog.com", env="1")})
    assert selection.sites == {"blog": new}
    assert selection.rejected == {}


def test_only_the_named_sites_change() -> None:
    """`hostd reload alpha` takes alpha's new version and keeps every other at its live one."""
    live = {"alpha": site("alpha", "a.com", env="1"), "beta": site("beta", "b.com", env="1")}
    loaded: dict[str, Site | SiteError] = {
        "alpha": site("alpha", "a.com", env="2"),
        "beta": site("beta", "b.com", env="2"),
        "gamma": site("gamma", "c.com"),
    }
    selection = select_sites(loaded, live, only={"alpha"})
    assert selection.sites == {"alpha": loaded["alpha"], "beta": live["beta"]}
    assert selection.rejected == {}


def test_sites_outside_only_stay_even_when_their_file_is_gone() -> None:
    """A partial reload never removes a site it was not asked about."""
    live = {"alpha": site("alpha", "a.com"), "beta": site("beta", "b.com")}
    selection = select_sites({"alpha": live["alpha"]}, live, only=["alpha"])
    assert selection.sites == live


def test_a_deleted_site_file_drops_the_site() -> None:
    """Removing `beta.yaml` removes beta and nothing else."""
    live = {"alpha": site("alpha", "a.com"), "beta": site("beta", "b.com")}
    selection = select_sites({"alpha": live["alpha"]}, live)
    assert selection.sites == {"alpha": live["alpha"]}
    assert selection.rejected == {}


def test_a_live_domain_stays_with_its_holder() -> None:
    """A new site claiming a served domain is rejected, naming both files; the holder serves on."""
    live = {"blog": site("blog", "blog.com")}
    loaded: dict[str, Site | SiteError] = {
        "aaa": site("aaa", "aaa.com", "blog.com"),
        "blog": live["blog"],
    }
    selection = select_sites(loaded, live)
    assert selection.sites == live
    assert list(selection.rejected) == ["aaa"]
    message = str(selection.rejected["aaa"])
    assert message.startswith("/srv/sites/aaa.yaml:1: domains[1]:")
    assert "already served by site 'blog' (/srv/sites/blog.yaml)" in message


def test_a_live_site_claiming_anothers_domain_keeps_its_live_version() -> None:
    """A live site whose edit steals a domain stays at its last good version."""
    live = {"alpha": site("alpha", "a.com"), "beta": site("beta", "b.com", env="1")}
    loaded: dict[str, Site | SiteError] = {
        "alpha": live["alpha"],
        "beta": site("beta", "b.com", "a.com", env="2"),
    }
    selection = select_sites(loaded, live)
    assert selection.sites == live
    assert list(selection.rejected) == ["beta"]


def test_a_domain_moves_when_its_holder_lets_go_in_the_same_reload() -> None:
    """Dropping a domain from one site and adding it to another is a valid change."""
    live = {"alpha": site("alpha", "a.com", "move.com"), "beta": site("beta", "b.com")}
    loaded: dict[str, Site | SiteError] = {
        "alpha": site("alpha", "a.com"),
        "beta": site("beta", "b.com", "move.com"),
    }
    selection = select_sites(loaded, live)
    assert selection.sites == loaded
    assert selection.rejected == {}


def test_two_new_claimants_leave_the_domain_to_the_first_by_name() -> None:
    """Without a holder, the first site name in order keeps the domain."""
    loaded: dict[str, Site | SiteError] = {
        "zeta": site("zeta", "d.com"),
        "beta": site("beta", "d.com", "b.com"),
    }
    selection = select_sites(loaded, {})
    assert selection.sites == {"beta": loaded["beta"]}
    assert list(selection.rejected) == ["zeta"]
    assert "already served by site 'beta'" in selection.rejected["zeta"].message


def test_reverting_a_site_can_reject_another_in_turn() -> None:
    """beta falls back to its live version, which holds y, so gamma's claim on y fails too."""
    live = {"alpha": site("alpha", "x.com"), "beta": site("beta", "y.com")}
    loaded: dict[str, Site | SiteError] = {
        "alpha": live["alpha"],
        "beta": site("beta", "x.com", "z.com"),
        "gamma": site("gamma", "y.com"),
    }
    selection = select_sites(loaded, live)
    assert selection.sites == live
    assert sorted(selection.rejected) == ["beta", "gamma"]
    assert "site 'alpha'" in selection.rejected["beta"].message
    assert "site 'beta'" in selection.rejected["gamma"].message


LIVE_FILES = {
    "nginx/hostd.conf": "hostd",
    "nginx/default.conf": "default 1",
    "nginx/sites/same.conf": "same",
    "supervisor/programs/same.conf": "same",
    "nginx/sites/web.conf": "web 1",
    "supervisor/programs/web.conf": "web",
    "nginx/sites/app.conf": "app",
    "supervisor/programs/app.conf": "app 1",
    "nginx/sites/gone.conf": "gone",
    "supervisor/programs/gone.conf": "gone",
}
CANDIDATE_FILES = {
    **{k: v for k, v in LIVE_FILES.items() if "gone" not in k},
    "nginx/default.conf": "default 2",
    "nginx/sites/web.conf": "web 2",
    "supervisor/programs/app.conf": "app 2",
    "nginx/sites/new.conf": "new",
    "supervisor/programs/new.conf": "new",
}


def test_make_plan_tells_each_site_what_changes() -> None:
    """Added, changed, removed and unchanged sites, and which of their files changed."""
    plan = make_plan(
        LIVE_FILES,
        CANDIDATE_FILES,
        live_sites=["same", "web", "app", "gone"],
        sites=["same", "web", "app", "new"],
    )
    assert plan.sites == (
        SitePlan("app", Change.CHANGED, nginx_changed=False, program_changed=True),
        SitePlan("gone", Change.REMOVED, nginx_changed=True, program_changed=True),
        SitePlan("new", Change.ADDED, nginx_changed=True, program_changed=True),
        SitePlan("same", Change.UNCHANGED, nginx_changed=False, program_changed=False),
        SitePlan("web", Change.CHANGED, nginx_changed=True, program_changed=False),
    )
    assert (plan.nginx_changed, plan.shared_changed, plan.is_empty) == (True, True, False)
    assert plan.of(Change.CHANGED) == ["app", "web"]
    assert plan.touched == ["app", "new", "web"]


def test_a_program_only_change_does_not_touch_nginx() -> None:
    """Changing only a site's program leaves nginx alone."""
    candidate = {**LIVE_FILES, "supervisor/programs/app.conf": "app 2"}
    plan = make_plan(LIVE_FILES, candidate, ["app"], ["app"])
    assert (plan.nginx_changed, plan.shared_changed) == (False, False)
    assert plan.sites == (SitePlan("app", Change.CHANGED, False, True),)


def test_a_change_to_a_shared_file_is_shared_changed() -> None:
    """The main configs belong to no site; changing them is a change of its own."""
    candidate = {**LIVE_FILES, "supervisor/supervisord.conf": "new main config"}
    plan = make_plan(LIVE_FILES, candidate, ["same"], ["same"])
    assert (plan.nginx_changed, plan.shared_changed, plan.is_empty) == (False, True, False)
    assert plan.of(Change.UNCHANGED) == ["same"]


def test_identical_generations_make_an_empty_plan() -> None:
    """Nothing to do means no reload at all."""
    plan = make_plan(LIVE_FILES, dict(LIVE_FILES), ["same", "web"], ["same", "web"])
    assert plan.is_empty
    assert plan.touched == []


def test_an_env_change_plans_a_program_change_only() -> None:
    """Through real rendering: a new env value restarts one program and never reloads nginx."""
    live = {"blog": site("blog", "blog.com", env="1"), "shop": site("shop", "shop.com")}
    new = {**live, "blog": site("blog", "blog.com", env="2")}
    plan = make_plan(render_generation(live, INSTANCE), render_generation(new, INSTANCE), live, new)
    assert plan.sites == (
        SitePlan("blog", Change.CHANGED, nginx_changed=False, program_changed=True),
        SitePlan("shop", Change.UNCHANGED),
    )
    assert (plan.nginx_changed, plan.shared_changed) == (False, False)


def test_a_domain_change_plans_an_nginx_reload() -> None:
    """Through real rendering: a new domain changes the site's server block and the catch-all."""
    live = {"blog": site("blog", "blog.com")}
    new = {"blog": site("blog", "blog.com", "www.blog.com")}
    plan = make_plan(render_generation(live, INSTANCE), render_generation(new, INSTANCE), live, new)
    assert plan.sites == (SitePlan("blog", Change.CHANGED, True, False),)
    assert (plan.nginx_changed, plan.shared_changed) == (True, True)


def test_plan_diff_is_a_unified_diff_from_live_to_candidate() -> None:
    """Changed files diff line by line; new and removed files diff against /dev/null."""
    live = {"a.conf": "one\ntwo\n", "same.conf": "x\n", "old.conf": "bye"}
    candidate = {"a.conf": "one\n2\n", "same.conf": "x\n", "new.conf": "hi\n"}
    assert plan_diff(live, candidate) == (
        "--- live/a.conf\n"
        "+++ candidate/a.conf\n"
        "@@ -1,2 +1,2 @@\n"
        " one\n"
        "-two\n"
        "+2\n"
        "--- /dev/null\n"
        "+++ candidate/new.conf\n"
        "@@ -0,0 +1 @@\n"
        "+hi\n"
        "--- live/old.conf\n"
        "+++ /dev/null\n"
        "@@ -1 +0,0 @@\n"
        "-bye\n"
    )


def test_plan_diff_of_identical_files_is_empty() -> None:
    """`hostd plan` with nothing to do prints nothing."""
    assert plan_diff(LIVE_FILES, dict(LIVE_FILES)) == ""


def test_plan_diff_labels_the_live_side() -> None:
    """The label names what the candidate is compared with."""
    diff = plan_diff({"a": "1\n"}, {"a": "2\n"}, label="generation-7")
    assert diff.splitlines()[:2] == ["--- generation-7/a", "+++ candidate/a"]
