"""The plugin registry over HTTP: list with health, get, PATCH validated and applied."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from tests.integration.api.helpers import Api
from unity_core.storage import make_sessionmaker
from unity_core.storage.models import Plugin
from unity_core.storage.schedule import plan_schedule


def stored(api: Api, plugin_id: str) -> Plugin:
    with make_sessionmaker(api.context.engine)() as session:
        return session.scalars(select(Plugin).where(Plugin.plugin_id == plugin_id)).one()


def test_the_list_shows_each_plugin_with_its_health(api: Api) -> None:
    response = api.get("/api/v1/plugins")
    assert response.status_code == 200
    health = {p["plugin_id"]: p["status"]["health"] for p in response.json["plugins"]}
    assert health == {"disk": "disabled", "system": "ok"}


def test_one_plugin_and_an_unknown_one(api: Api) -> None:
    body = api.get("/api/v1/plugins/system").json
    assert body["enabled"] is True and body["plugin"] == "system" and body["interval"] == 60
    missing = api.get("/api/v1/plugins/nas9")
    assert missing.status_code == 404 and missing.json["message"] == "nas9: no such plugin"


def test_patch_disables_retimes_and_tags_in_one_change(api: Api) -> None:
    # When a plugin is disabled, retimed and tagged
    response = api.call(
        "PATCH", "/api/v1/plugins/system", scope="write",
        json={"enabled": False, "interval": "30s", "tags": {"rack": "r1"}},
    )  # fmt: skip
    # Then the answer and the registry (which the scheduler reads every tick) agree
    assert response.status_code == 200, response.json
    assert response.json["enabled"] is False and response.json["interval"] == 30
    assert response.json["status"]["health"] == "disabled"
    row = stored(api, "system")
    assert (row.enabled, row.interval_seconds, row.tags) == (False, 30, {"rack": "r1"})


def test_patch_config_is_validated_by_the_plugins_schema_all_or_nothing(api: Api) -> None:
    # When one good and one unknown option are sent
    response = api.call(
        "PATCH", "/api/v1/plugins/system", scope="admin",
        json={"interval": "2m", "config": {"no_such_option": 1}},
    )  # fmt: skip
    # Then nothing changes and the problem names the key
    assert response.status_code == 422
    assert any("config.no_such_option" in p for p in response.json["errors"]["problems"])
    assert stored(api, "system").interval_seconds is None


def test_patch_rejects_bad_framework_values_and_empty_bodies(api: Api) -> None:
    bad = api.call("PATCH", "/api/v1/plugins/system", scope="write", json={"interval": "soon"})
    assert bad.status_code == 422 and "interval" in str(bad.json)
    empty = api.call("PATCH", "/api/v1/plugins/system", scope="write", json={})
    assert empty.status_code == 422
    unknown = api.call("PATCH", "/api/v1/plugins/nas9", scope="write", json={"enabled": True})
    assert unknown.status_code == 404


def test_what_patch_changes_is_what_the_schedulers_next_tick_sees(api: Api) -> None:
    # Given beat's view of the registry (plan_schedule is what it reads on every tick)
    def due() -> dict[str, int]:
        now = datetime.now(UTC)
        with make_sessionmaker(api.context.engine)() as session:
            plan = plan_schedule(session, now, api.settings.collection)
        return {d.plugin_id: int(d.schedule.interval or 0) for d in plan.due}

    assert due() == {"system": 60}
    # When a plugin is disabled over HTTP, Then the next tick no longer dispatches it
    api.call("PATCH", "/api/v1/plugins/system", scope="write", json={"enabled": False})
    assert due() == {}
    # When another is enabled and retimed, Then the next tick dispatches it on that interval
    api.call("PATCH", "/api/v1/plugins/disk", scope="write", json={"enabled": True, "interval": 15})
    assert due() == {"disk": 15}
