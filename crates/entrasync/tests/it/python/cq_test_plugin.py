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


def _ext(name: str) -> dict:
    return {b"ARROW:extension:name": name.encode(), b"ARROW:extension:metadata": (name + "-serialized").encode()}


def every_type_columns(big: bool):
    """(column, Arrow type, values of rows r0 and r1 (r1 all null), field metadata)."""
    import datetime as dt
    import decimal
    import uuid

    cols = [
        ("i8", pa.int8(), [-128, None]),
        ("i16", pa.int16(), [32767, None]),
        ("i32", pa.int32(), [-2147483648, None]),
        ("i64", pa.int64(), [9223372036854775807, None]),
        ("u8", pa.uint8(), [255, None]),
        ("u16", pa.uint16(), [65535, None]),
        ("u32", pa.uint32(), [4294967295, None]),
        ("u64", pa.uint64(), [9223372036854775807, None]),
        ("f32", pa.float32(), [1.5, None]),
        ("f64", pa.float64(), [0.1, None]),
        ("decimal", pa.decimal128(10, 3), [decimal.Decimal("-9999999.999"), None]),
        ("date32", pa.date32(), [dt.date(2024, 1, 1), None]),
        ("date64", pa.date64(), [dt.date(1969, 12, 31), None]),
        ("time32ms", pa.time32("ms"), [dt.time(12, 34, 56, 789000), None]),
        ("time64us", pa.time64("us"), [dt.time(23, 59, 59, 999999), None]),
        ("ts_s", pa.timestamp("s", tz="UTC"), [dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), None]),
        ("ts_ms", pa.timestamp("ms"), [dt.datetime(2024, 1, 1, 0, 0, 0, 123000), None]),
        ("ts_us", pa.timestamp("us", tz="UTC"), [dt.datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=dt.timezone.utc), None]),
        ("ts_ns", pa.timestamp("ns", tz="UTC"), [1704067200123456000, None]),
        ("dur_s", pa.duration("s"), [dt.timedelta(hours=1), None]),
        ("dur_us", pa.duration("us"), [dt.timedelta(microseconds=7), None]),
        ("dur_ns", pa.duration("ns"), [2000, None]),
        ("interval", pa.month_day_nano_interval(), [pa.scalar((1, 2, 3000), type=pa.month_day_nano_interval()).as_py(), None]),
        ("binary", pa.binary(), [b"\x00\x01\xff", None]),
        ("large_binary", pa.large_binary(), [b"hello", None]),
        ("utf8", pa.string(), ['héllo, "world"', None]),
        ("large_utf8", pa.large_string(), ["line\nbreak", None]),
        ("list_i64", pa.list_(pa.int64()), [[1, None, -9223372036854775808], None]),
        ("large_list_utf8", pa.large_list(pa.large_string()), [["x", "y"], None]),
        ("struct", pa.struct([("a", pa.int32()), ("b", pa.string())]), [{"a": 1, "b": "x"}, None]),
        ("map", pa.map_(pa.string(), pa.int64()), [[("k", 1)], None]),
        ("uuid", pa.binary(16), [uuid.UUID("6f1c2a4e-8b3d-4c5e-9f70-112233445566").bytes, None], _ext("uuid")),
        ("json", pa.binary(), [b'{"a":[1,2.5,"x"],"b":null}', None], _ext("json")),
        ("inet", pa.binary(), [b"192.168.0.1/24", None], _ext("inet")),
        ("mac", pa.binary(), [bytes([8, 0, 0x2B, 1, 2, 3]), None], _ext("mac")),
    ]
    if big:
        cols.append(("u64_big", pa.uint64(), [18446744073709551615, None]))
    return [c if len(c) == 4 else (*c, None) for c in cols]


def every_type_batch(big: bool) -> pa.RecordBatch:
    cols = every_type_columns(big)
    fields = [pa.field("id", pa.string(), nullable=False, metadata={b"cq:extension:primary_key": b"true", b"cq:extension:unique": b"true"})]
    fields += [pa.field(n, t, metadata=m) for n, t, _, m in cols]
    name = "py_types_big" if big else "py_types"
    schema = pa.schema(fields, metadata={b"cq:table_name": name.encode(), b"cq:table_description": b"", b"cq:table_title": b""})
    arrays = [pa.array(["r0", "r1"])] + [pa.array(v, type=t) for _, t, v, _ in cols]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


class EveryTypeSource(plugin.Plugin):
    """One table with one column of every Arrow type; `spec.big` adds a uint64 above i64::MAX."""

    def __init__(self) -> None:
        super().__init__("pytypes", "v1.0.0", opts=Options(team="test", kind="source"))

    def set_logger(self, logger) -> None:
        self._logger = logger

    def init(self, spec, no_connection: bool = False):
        self._big = bool(json.loads(spec or b"{}").get("big"))

    def get_tables(self, options) -> List[schema.Table]:
        return [schema.Table.from_arrow_schema(every_type_batch(self._big).schema)]

    def sync(self, options) -> Generator[message.SyncMessage, None, None]:
        batch = every_type_batch(self._big)
        yield message.SyncMigrateTableMessage(batch.schema)
        yield message.SyncInsertMessage(batch)

    def close(self) -> None:
        pass


def check_parquet(path: str, big: bool) -> None:
    """Exit 0 if the parquet file holds exactly the rows and types that were sent."""
    import pyarrow.parquet as pq

    sent = every_type_batch(big)
    got = pq.read_table(path)
    bad = []
    for f in sent.schema:
        col = got.column(f.name)
        want = sent.column(f.name)
        if f.name == "interval":
            # Parquet has no month-day-nano interval: stored as {months, days, nanoseconds}.
            v = want.to_pylist()[0]
            if col.to_pylist() != [{"months": v.months, "days": v.days, "nanoseconds": v.nanoseconds}, None]:
                bad.append(f"{f.name}: {col.to_pylist()}")
            continue
        # The parquet carries the types other readers understand: date64 as date32, seconds
        # as milliseconds (same values); extension types come back as their registered type.
        want_type = {pa.date64(): pa.date32()}.get(f.type, f.type)
        if pa.types.is_timestamp(f.type) and f.type.unit == "s":
            want_type = pa.timestamp("ms", tz=f.type.tz)
        got_type = col.type.storage_type if isinstance(col.type, pa.ExtensionType) else col.type
        if got_type != want_type or col.to_pylist() != want.to_pylist():
            bad.append(f"{f.name}: {got_type} {col.to_pylist()} != {want_type} {want.to_pylist()}")
    if got.num_rows != 2 or bad:
        print("parquet differs from what was sent:\n" + "\n".join(bad), file=sys.stderr)
        sys.stderr.flush()
        os._exit(1)
    # os._exit: the grpc library the SDK imports can abort in interpreter teardown.
    os._exit(0)


def main():
    if sys.argv[1] == "check-parquet":
        check_parquet(sys.argv[2], sys.argv[3] == "big")
        return
    role, args = sys.argv[1], sys.argv[2:]
    # The SDK's serve ignores `--network unix` (it binds `--address` as given, which grpc reads
    # as a TCP address); the CLI runs local plugins on unix sockets, so spell it for grpc.
    if "--network" in args and args[args.index("--network") + 1] == "unix":
        i = args.index("--address") + 1
        args[i] = "unix:" + args[i]
        j = args.index("--network")
        del args[j : j + 2]
    # The CLI stops plugins with SIGINT (then SIGTERM): exit at once, instead of leaving the
    # gRPC server's threads (and the CLI's pipes) alive.
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: os._exit(0))
    p = {"destination": FileDestination, "source": ItemsSource, "types": EveryTypeSource}[role]()
    serve.PluginCommand(p).run(args)


if __name__ == "__main__":
    main()
