"""A CloudQuery plugin built on CloudQuery's Python SDK (`cloudquery-plugin-sdk`), for entrasync's
tests under the real CLI. `cq_test_plugin.py destination serve …` is a destination that keeps
every table in Arrow IPC files under `spec.dir` (upserting by primary key, so it can be a state
backend); `cq_test_plugin.py source serve …` is a source with one incremental table, `py_items`,
read from the JSON list in `spec.items_file`, that emits only items whose id is above the cursor
it keeps in its state backend (through the SDK's state client)."""

import json
import os
import sys
from typing import Any, Dict, Generator, List

import pyarrow as pa
from cloudquery.sdk import message, plugin, schema
from cloudquery.sdk.plugin.plugin import Options
from cloudquery.sdk.scheduler import Scheduler, TableResolver
from cloudquery.sdk.schema.arrow import METADATA_TABLE_NAME
from cloudquery.sdk.serve import plugin as serve
from cloudquery.sdk.stateclient.stateclient import StateClientBuilder


class FileDestination(plugin.Plugin):
    def __init__(self) -> None:
        super().__init__("pyfile", "v1.0.0", opts=Options(team="test", kind="destination"))
        self._dir = None

    def set_logger(self, logger) -> None:
        self._logger = logger

    def init(self, spec, no_connection: bool = False):
        self._dir = json.loads(spec or b"{}").get("dir")

    def _path(self, table: str) -> str:
        return os.path.join(self._dir, table + ".arrow")

    def _load(self, table: str):
        path = self._path(table)
        if not os.path.exists(path):
            return None
        with pa.ipc.open_file(path) as f:
            return f.read_all()

    def write(self, writer: Generator[message.WriteMessage, None, None]) -> None:
        for msg in writer:
            if isinstance(msg, message.WriteInsertMessage):
                record = msg.record
                name = record.schema.metadata[METADATA_TABLE_NAME].decode()
                pk = [
                    f.name
                    for f in record.schema
                    if (f.metadata or {}).get(b"cq:extension:primary_key") == b"true"
                ]
                old = self._load(name)
                rows: Dict[Any, dict] = {}
                if old is not None:
                    for i, r in enumerate(old.to_pylist()):
                        rows[tuple(r[c] for c in pk) if pk else ("old", i)] = r
                for i, r in enumerate(record.to_pylist()):
                    rows[tuple(r[c] for c in pk) if pk else ("new", len(rows), i)] = r
                table = pa.Table.from_pylist(list(rows.values()), schema=record.schema)
                with pa.ipc.new_file(self._path(name), record.schema) as f:
                    f.write_table(table)
            elif isinstance(msg, (message.WriteMigrateTableMessage, message.WriteDeleteStale)):
                pass
            else:
                raise NotImplementedError(f"unknown message {type(msg)}")

    def read(self, table) -> Generator[message.ReadMessage, None, None]:
        data = self._load(table.name)
        if data is not None:
            for batch in data.to_batches():
                yield message.ReadMessage(batch)

    def close(self) -> None:
        pass


class Items(schema.Table):
    def __init__(self) -> None:
        super().__init__(
            name="py_items",
            title="Python items",
            description="Items of a Python-SDK source",
            is_incremental=True,
            columns=[
                schema.Column("id", pa.int64(), primary_key=True, not_null=True, incremental_key=True),
                schema.Column("name", pa.string()),
            ],
        )


class ItemsResolver(TableResolver):
    def __init__(self, table, items: List[dict], state) -> None:
        super().__init__(table=table)
        self._items = items
        self._state = state

    def resolve(self, client, parent_resource):
        cursor = int(self._state.get_key("py_items_cursor") or 0)
        newest = cursor
        for item in self._items:
            if item["id"] > cursor:
                newest = max(newest, item["id"])
                yield item
        self._state.set_key("py_items_cursor", str(newest))


class Client:
    def id(self):
        return "py"


class ItemsSource(plugin.Plugin):
    def __init__(self) -> None:
        super().__init__("pyitems", "v1.0.0", opts=Options(team="test", kind="source"))

    def set_logger(self, logger) -> None:
        self._logger = logger

    def init(self, spec, no_connection: bool = False):
        self._spec = json.loads(spec or b"{}")

    def get_tables(self, options) -> List[schema.Table]:
        return [Items()]

    def sync(self, options) -> Generator[message.SyncMessage, None, None]:
        state = StateClientBuilder.build(backend_options=options.backend_options)
        with open(self._spec["items_file"]) as f:
            items = json.load(f)
        scheduler = Scheduler(concurrency=10, queue_size=100, logger=self._logger)
        yield from scheduler.sync(Client(), [ItemsResolver(Items(), items, state)], False)
        state.flush()

    def close(self) -> None:
        pass


def main():
    role, args = sys.argv[1], sys.argv[2:]
    # The SDK's serve ignores `--network unix` (it binds `--address` as given, which grpc reads
    # as a TCP address); the CLI runs local plugins on unix sockets, so spell it for grpc.
    if "--network" in args and args[args.index("--network") + 1] == "unix":
        i = args.index("--address") + 1
        args[i] = "unix:" + args[i]
        j = args.index("--network")
        del args[j : j + 2]
    p = FileDestination() if role == "destination" else ItemsSource()
    serve.PluginCommand(p).run(args)


if __name__ == "__main__":
    main()
