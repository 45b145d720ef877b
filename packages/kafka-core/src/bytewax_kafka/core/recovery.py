"""A pre-flight check of a bytewax recovery store, with errors that say what is wrong.

Bytewax 0.21 reports a missing store clearly, but an unwritable one only as
``called `Result::unwrap()` on an `Err` value: SqliteFailure(... "unable to
open database file")`` (no path), an uninitialised folder as "No recovery
partitions found on any worker", and it accepts the store of *another* flow
without a word: the flow then starts afresh (its steps have no state there)
and the two flows' states mix in one store.

Run the check before the flow, in the script that starts it::

    from bytewax_kafka.core.recovery import check_recovery_dir

    check_recovery_dir("/var/lib/flow/recovery", flow_id="orders")

or from a shell (exit status 1 and the reason on stderr when it fails)::

    python -m bytewax_kafka.core.recovery /var/lib/flow/recovery --flow-id orders
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bytewax_kafka.core.errors import KafkaConnectorError

__all__ = ["RecoveryStoreError", "check_recovery_dir"]


class RecoveryStoreError(KafkaConnectorError):
    """A bytewax recovery store that a flow cannot use; the message says why and what to do."""


def _init_hint(path: Path, verb: str = "create") -> str:
    return f"{verb} it with `python -m bytewax.recovery {path} N` (N partitions)"


def check_recovery_dir(path: str | os.PathLike[str], flow_id: str | None = None) -> int:
    """Check that ``path`` is a writable bytewax recovery store, for ``flow_id`` if given.

    Args:
        path: The folder passed to ``python -m bytewax.run -r``.
        flow_id: The flow's id (``Dataflow("<flow_id>")``); when given, the
            store must hold no state of another flow.

    Returns:
        The number of recovery partitions in the store.

    Raises:
        RecoveryStoreError: When the folder is missing, not a folder, not
            initialised, incomplete, not writable, not a bytewax store, or
            holds the state of another flow.
    """
    root = Path(path)
    if not root.exists():
        raise RecoveryStoreError(f"recovery directory {root} does not exist; {_init_hint(root)}")
    if not root.is_dir():
        raise RecoveryStoreError(f"recovery directory {root} is not a directory")
    parts = sorted(root.glob("part-*.sqlite3"))
    if not parts:
        raise RecoveryStoreError(
            f"recovery directory {root} holds no recovery partitions (part-*.sqlite3); "
            f"{_init_hint(root, 'initialise')}"
        )
    try:
        # sqlite writes journal files beside the database.
        with tempfile.TemporaryFile(dir=root):
            pass
    except OSError as exc:
        raise RecoveryStoreError(
            f"recovery directory {root} is not writable ({exc.strerror}): the flow could not "
            "commit its progress"
        ) from None
    count: int | None = None
    flows: set[str] = set()
    for part in parts:
        try:
            with part.open("r+b"):
                pass
        except OSError as exc:
            raise RecoveryStoreError(f"recovery partition {part} is not writable ({exc.strerror})") from None
        try:
            db = sqlite3.connect(f"file:{part}?mode=ro", uri=True)
            try:
                (part_count,) = db.execute("SELECT part_count FROM parts").fetchone()
                steps = [row[0] for row in db.execute("SELECT DISTINCT step_id FROM snaps")]
            finally:
                db.close()
        except (sqlite3.Error, TypeError) as exc:
            raise RecoveryStoreError(f"{part} is not a bytewax recovery partition ({exc})") from None
        if count is not None and part_count != count:
            raise RecoveryStoreError(
                f"recovery partitions in {root} disagree on their count ({count} and {part_count})"
            )
        count = int(part_count)
        flows.update(step.split(".", 1)[0] for step in steps)
    assert count is not None
    if len(parts) != count:
        raise RecoveryStoreError(
            f"recovery directory {root} holds {len(parts)} of its {count} partitions: some are missing"
        )
    if flow_id is not None:
        others = sorted(flows - {flow_id})
        if others:
            names = ", ".join(repr(f) for f in others)
            raise RecoveryStoreError(
                f"recovery directory {root} holds the state of flow {names}, not only of {flow_id!r}: "
                "give each flow its own store (bytewax would start this flow afresh and mix the two "
                "flows' states)"
            )
    return count


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bytewax_kafka.core.recovery DIR [--flow-id ID]``: exit 0 when usable, else 1."""
    parser = argparse.ArgumentParser(
        prog="python -m bytewax_kafka.core.recovery",
        description="Check that a bytewax recovery store exists, is writable and belongs to the flow.",
    )
    parser.add_argument("path", help="the recovery directory (python -m bytewax.run -r DIR)")
    parser.add_argument("--flow-id", help="the flow's id, Dataflow('<id>')")
    args = parser.parse_args(argv)
    try:
        n = check_recovery_dir(args.path, args.flow_id)
    except RecoveryStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.path}: {n} recovery partitions, usable")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
