"""run.json's one writer and reader, and the part rule (which file of a worker a reader takes)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from tracereplay import rundir
from tracereplay.errors import InputError


def test_what_the_writer_writes_the_reader_reads_back(tmp_path) -> None:
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    meta = rundir.RunMeta(target="http://127.0.0.1:9", started=started, workers=2, config={"users": 3})
    path = rundir.write_run_json(tmp_path, meta)
    data = json.loads(path.read_text())
    assert data["format"] == rundir.FORMAT and data["version"] == rundir.VERSION
    assert data["exit_reason"] == rundir.RUNNING and data["python"] and data["tracereplay"]
    back = rundir.read_run_json(tmp_path)
    assert back is not None and back.started == started and back.workers == 2 and not back.finished
    assert not [p.name for p in tmp_path.iterdir() if p.name != "run.json"]  # no temporary left behind


@pytest.mark.parametrize(
    ("document", "says"),
    [
        ('{"format": "tracereplay-run",', "line 1"),
        ("[1, 2]", "expected a JSON object"),
        ('{"format": "other", "started": "2026-01-01T00:00:00"}', "format 'other'"),
        ('{"version": 9, "started": "2026-01-01T00:00:00"}', "version 9 is newer"),
        ('{"target": "x"}', "field 'started' is missing"),
        ('{"started": "yesterday"}', "field 'started' is 'yesterday'"),
        ('{"started": "2026-01-01T00:00:00", "workers": "two"}', "field 'workers' is str"),
        ('{"started": "2026-01-01T00:00:00", "requests": -1}', "field 'requests' is -1"),
        ('{"started": "2026-01-01T00:00:00", "totals": []}', "field 'totals' is list"),
        ('{"started": "2026-01-01T00:00:00", "requests": true}', "field 'requests' is bool"),
        ('{"started": "2026-01-01T00:00:00", "lost_workers": {}}', "field 'lost_workers' is dict"),
        ('{"started": "2026-01-01T00:00:00", "lost_workers": [{"at_s": 1}]}', "'lost_workers' item 0"),
    ],
)
def test_a_damaged_run_json_is_one_error_naming_the_file_and_field(tmp_path, document, says) -> None:
    (tmp_path / "run.json").write_text(document)
    with pytest.raises(InputError) as caught:
        rundir.read_run_json(tmp_path)
    text = str(caught.value)
    assert "run.json" in text and says in text and "\n" not in text


def test_report_on_a_damaged_run_json_exits_1_with_one_line(tmp_path) -> None:
    stream = rundir.StreamWriter(tmp_path, rundir.REQUESTS, 0, rundir.REQUEST_SCHEMA)
    stream.finish()
    (tmp_path / "run.json").write_text('{"started": "2026-01-01T00:00:00", "workers": -3}')
    done = subprocess.run(
        [sys.executable, "-m", "tracereplay", "report", str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "run.json" in done.stderr and "'workers'" in done.stderr


def test_the_part_rule_prefers_parquet_then_the_stream_then_old_parts(tmp_path) -> None:
    table = pa.table({"x": [1]})
    for name in (
        "requests-0.parquet",
        "requests-0.arrows",  # a crash between the conversion's rename and the stream's removal
        "requests-1.arrows",  # a crashed worker
        "requests-2.part000000.parquet",  # a run written before the streams
        "requests-2.part000001.parquet",
        "users-1.arrows",
        ".requests-3.parquet.123.partial",  # a conversion cut short
        "requests-4.arrows",  # killed before its first bytes
    ):
        path = tmp_path / name
        if name.endswith(".arrows") and "4" not in name:
            with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
                writer.write_table(table)
        else:
            path.write_bytes(b"" if "4" in name else b"x")
    names = [p.name for p in rundir.worker_files(tmp_path, rundir.REQUESTS)]
    assert names == [
        "requests-0.parquet",
        "requests-1.arrows",
        "requests-2.part000000.parquet",
        "requests-2.part000001.parquet",
    ]
    assert [p.name for p in rundir.worker_files(tmp_path, rundir.USERS)] == ["users-1.arrows"]


def test_a_finished_stream_becomes_parquet_with_large_row_groups(tmp_path) -> None:
    import pyarrow.parquet as pq

    writer = rundir.StreamWriter(tmp_path, rundir.USERS, 5, rundir.USERS_SCHEMA)
    row = [
        pa.array([v], type=f.type) for v, f in zip((1, 5, 1, 1, 0, 0, 1, 0), rundir.USERS_SCHEMA, strict=True)
    ]
    for _ in range(300):  # 300 seconds
        writer.write(pa.Table.from_arrays(row, schema=rundir.USERS_SCHEMA))
    path = writer.finish()
    assert path.name == "users-5.parquet" and not (tmp_path / "users-5.arrows").exists()
    parquet = pq.ParquetFile(path)
    assert parquet.metadata.num_rows == 300 and parquet.metadata.num_row_groups == 1


def test_unknown_fields_of_the_same_version_are_tolerated(tmp_path) -> None:
    """A newer tracereplay may add fields within version 1; an older reader keeps what it knows."""
    document = {"started": "2026-01-01T00:00:00Z", "workers": 2, "future_field": {"x": 1}, "ended": None}
    (tmp_path / "run.json").write_text(json.dumps(document))
    meta = rundir.read_run_json(tmp_path)
    assert meta is not None and meta.workers == 2 and meta.started.tzinfo is not None and meta.ended is None


def test_no_run_json_is_none_and_a_folder_in_its_place_is_an_error(tmp_path) -> None:
    assert rundir.read_run_json(tmp_path) is None
    (tmp_path / "run.json").mkdir()
    with pytest.raises(InputError, match=r"run\.json"):
        rundir.read_run_json(tmp_path)


def _users_rows(worker: int, n: int) -> pa.Table:
    now = datetime(2026, 1, 2, tzinfo=UTC)
    rows = [
        {"ts": now, "worker": worker, "active_users": i, "sessions_started": i, "sessions_dropped": 0,
         "sessions_late": 0, "requests": i, "errors": 0}
        for i in range(n)
    ]  # fmt: skip
    return pa.Table.from_pylist(rows, schema=rundir.USERS_SCHEMA)


def test_shipped_stream_bytes_make_the_file_the_worker_would_have_written(tmp_path) -> None:
    """A remote worker's StreamBytes, appended piece by piece by the parent, read as one stream."""
    shipped = rundir.StreamBytes(rundir.USERS_SCHEMA)
    received = rundir.ReceivedStream(tmp_path, rundir.USERS, 3, rundir.USERS_SCHEMA)
    for n in (2, 0, 5):
        shipped.write(_users_rows(3, n))
        received.append(shipped.take())
    assert [b.num_rows for b in rundir.stream_batches(received.path) if b.num_rows] == [2, 5]
    shipped.finish()
    received.append(shipped.take())  # the end-of-stream marker
    path = received.finish()
    assert path == tmp_path / "users-3.parquet" and not received.path.exists()
    assert pa.parquet.read_table(path).column("active_users").to_pylist() == [0, 1, 0, 1, 2, 3, 4]


def test_a_lost_workers_received_stream_keeps_every_whole_second(tmp_path) -> None:
    shipped = rundir.StreamBytes(rundir.USERS_SCHEMA)
    received = rundir.ReceivedStream(tmp_path, rundir.USERS, 1, rundir.USERS_SCHEMA)
    shipped.write(_users_rows(1, 4))
    received.append(shipped.take())
    shipped.write(_users_rows(1, 9))  # written, never shipped: the worker was lost
    path = received.finish()  # no end-of-stream marker ever came
    assert path is not None and pa.parquet.read_table(path).num_rows == 4
    nothing = rundir.ReceivedStream(tmp_path, rundir.REQUESTS, 2, rundir.REQUEST_SCHEMA)
    assert nothing.finish() is None and not list(tmp_path.glob("requests-2.*"))


def test_lost_workers_round_trip_through_run_json(tmp_path) -> None:
    lost = [{"worker": 1, "where": "tcp://127.0.0.1:4000", "at_s": 2.5, "lost_s": 5.5, "users": 4}]
    meta = rundir.RunMeta(target="http://127.0.0.1:9", started=datetime.now(UTC), lost_workers=lost)
    rundir.write_run_json(tmp_path, meta)
    back = rundir.read_run_json(tmp_path)
    assert back is not None and back.lost_workers == lost
