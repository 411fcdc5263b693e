"""File outbox: one file per batch, replaced (not duplicated) on rerun."""

import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from connectors import ConfigurationError, Operation, Record, create


def rows(count):
    return [Record(f"k{i}", {"email": f"r{i}@example.com", "properties": {"tier": "gold"}, "n": i})
            for i in range(count)]


@pytest.mark.parametrize("file_format, read", [("parquet", pq.read_table), ("csv", pa_csv.read_csv)])
def test_batches_become_files(tmp_path, file_format, read):
    env = {"THROUGHLINE_OUTBOX_DIR": str(tmp_path), "THROUGHLINE_OUTBOX_FORMAT": file_format,
           "THROUGHLINE_OUTBOX_BATCH_SIZE": "4"}
    with create("file_outbox", env) as outbox:
        assert outbox.check().ok
        result = outbox.write(Operation.ADD_AUDIENCE_MEMBERS, rows(10), target="vip")
        outbox.write(Operation.ADD_AUDIENCE_MEMBERS, rows(10), target="vip")  # rerun
    assert result.counts()["accepted"] == 10
    files = sorted((tmp_path / "add_audience_members" / "vip").glob(f"*.{file_format}"))
    assert len(files) == 3
    table = read(files[0]) if file_format == "csv" else read(str(files[0]))
    assert set(table.column_names) == {"key", "email", "properties", "n"}
    assert sum(read(str(f)).num_rows for f in files) == 10


def test_unknown_format_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError):
        create("file_outbox", {"THROUGHLINE_OUTBOX_DIR": str(tmp_path), "THROUGHLINE_OUTBOX_FORMAT": "xlsx"})
