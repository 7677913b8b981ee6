"""Which file events say a site file arrived whole (and apply at once)."""

from __future__ import annotations

from watchdog.events import (
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
)

from hostd.edges.watcher import arrived_whole

ENV = "/srv/env/alpha.env"


def test_a_site_file_renamed_into_place_or_closed_after_writing_arrived_whole() -> None:
    assert arrived_whole(FileMovedEvent("/s/.alpha.yaml.tmp", "/s/alpha.yaml"), set())
    assert arrived_whole(FileClosedEvent("/s/alpha.yaml"), set())
    assert arrived_whole(FileMovedEvent("/srv/env/.alpha.env.new", ENV), {ENV})


def test_writes_in_progress_deletions_and_renames_away_did_not() -> None:
    assert not arrived_whole(FileCreatedEvent("/s/alpha.yaml"), set())
    assert not arrived_whole(FileModifiedEvent("/s/alpha.yaml"), set())
    assert not arrived_whole(FileDeletedEvent("/s/alpha.yaml"), set())  # rm -r: more to come
    assert not arrived_whole(FileMovedEvent("/s/alpha.yaml", "/s/alpha.yaml.bak"), set())
    assert not arrived_whole(FileClosedEvent("/s/.alpha.yaml.swp"), set())
