"""One test sync in a process of its own, for the tests that kill it or race two of them.

    python tests/syncs/run_sync.py messages twilio 50      # kind, destination, batch size
    python tests/syncs/run_sync.py audience meta 100

The warehouse and the destinations come from the environment, as in production;
THROUGHLINE_SYNC_CRASH_AT makes the process SIGKILL itself at a chosen phase.
Exit status: 0 done, 3 incomplete (the next run resumes), -9 killed."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import audience_spec, message_spec  # noqa: E402

from orchestration.syncs.runner import SyncIncomplete, run_sync  # noqa: E402

kind, destination, batch_size = sys.argv[1], sys.argv[2], int(sys.argv[3])
if kind == "messages":
    spec = message_spec(destination, batch_size=batch_size)
else:
    spec = audience_spec(name=f"champions_to_{destination}", destination=destination, batch_size=batch_size)
try:
    report = run_sync(spec)
except SyncIncomplete as incomplete:
    print(json.dumps(incomplete.report.tally()))
    sys.exit(3)
print(json.dumps(report.tally()))
