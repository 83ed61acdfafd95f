"""Dagster's Postgres storage, with the webserver's pooled connections tested before use.

In the webserver, dagster-postgres keeps one pooled connection per storage (runs, event logs,
schedules) and does not test it before use. After a Postgres restart, each dead connection
fails the request that draws it. That is a failed page load, or a ``launchRun`` that has
written the run but not its queue event, which leaves a run that never starts (both seen
here). SQLAlchemy's ``pool_pre_ping`` tests each connection as it leaves the pool and
replaces a dead one transparently, at the cost of one ``SELECT 1`` per checkout. The daemon
and run workers open a connection per use, so nothing changes for them.

deploy/dagster.yaml selects ``PrePingPostgresStorage`` as a custom storage.
"""

from __future__ import annotations

from dagster_postgres import DagsterPostgresStorage, PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage


def _ping_pooled_connections(storage) -> None:
    # dagster-postgres builds the webserver's pooled engine without pool_pre_ping; the pool reads the flag at
    # every checkout, so setting it on the new pool equals passing it at creation.
    storage._engine.pool._pre_ping = True


class PrePingRunStorage(PostgresRunStorage):
    def optimize_for_webserver(self, statement_timeout: int, pool_recycle: int, max_overflow: int) -> None:
        super().optimize_for_webserver(statement_timeout, pool_recycle, max_overflow)
        _ping_pooled_connections(self)


class PrePingEventLogStorage(PostgresEventLogStorage):
    def optimize_for_webserver(self, statement_timeout: int, pool_recycle: int, max_overflow: int) -> None:
        super().optimize_for_webserver(statement_timeout, pool_recycle, max_overflow)
        _ping_pooled_connections(self)


class PrePingScheduleStorage(PostgresScheduleStorage):
    def optimize_for_webserver(self, statement_timeout: int, pool_recycle: int, max_overflow: int) -> None:
        super().optimize_for_webserver(statement_timeout, pool_recycle, max_overflow)
        _ping_pooled_connections(self)


class PrePingPostgresStorage(DagsterPostgresStorage):
    @classmethod
    def from_config_value(cls, inst_data, config_value):
        # dagster-postgres builds a plain DagsterPostgresStorage here, whatever the subclass; the instance then
        # uses its three storages directly. Each subclass above adds one override and no state, so re-classing
        # the objects it built is the same as building the subclasses.
        storage = super().from_config_value(inst_data, config_value)
        storage._run_storage.__class__ = PrePingRunStorage
        storage._event_log_storage.__class__ = PrePingEventLogStorage
        storage._schedule_storage.__class__ = PrePingScheduleStorage
        return storage
