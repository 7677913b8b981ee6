"""What the views use from hostd, kept in `app.extensions["hostd"]`."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from hostd.dashboard.backend import Backend
from hostd.dashboard.users import UserStore


@dataclass(frozen=True)
class Services:
    backend: Backend
    users: UserStore


def services() -> Services:
    found: Services = current_app.extensions["hostd"]
    return found
