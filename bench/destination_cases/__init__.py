"""One module per destination benchmarked by bench/bench_destinations.py (see its docstring)."""


def as_a_sync_hands_them_over(rows: list, page: int = 10_000):
    """The rows as `Record`s the way an audience or profile sync makes them
    (orchestration/syncs/runner.py, `SyncRunner._stream`): a list of records per page of
    10,000 plan rows, made as the destination reads on, so the wrapping of the next page
    overlaps the requests. Message sends make each batch's records up front (`_deliver`):
    their cases build the list before calling `write`."""
    from connectors import Record

    for start in range(0, len(rows), page):
        yield from [Record(key, fields) for key, fields in rows[start:start + page]]
