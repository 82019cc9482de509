"""Everything between the database and the pages: the job engine, the staff-facing service and the
desk's operations, in one subpackage each, and the `narration-desk` command that starts them.

    engine/       a queued row in, mastered and checked audio out: the RQ worker and its job,
                  chunking, providers/, mastering, quality and listen-back checks, encoding, the
                  reconciler and lease, the queue, the catalogue of voices, media paths and storage
    service/      what staff do through the dashboard: sign_in (with throttle and sessions),
                  roles and access (who may act), submit, bulk, actions, samples, budget and costs
    operations/   keeping the desk running: health, alerts and verdicts, maintenance and the
                  workers' housekeeping, start-up checks, `narration-desk run` with embedded
                  servers, demo history
    cli.py              the `narration-desk` command (pyproject's console script)
    redis_connection.py the one Redis connection of a process, shared by all three
    jobs.py             `workers.jobs.synthesize`, the RQ entry point's stable path (see there why)

Imports go one way: `dashboard` → `workers` → `db`, never back. Inside `workers`, `operations`
may use `service` and `engine`, `service` may use `engine`, and `engine` imports neither: what a
worker does for operations between jobs is handed to it (`engine.worker.Housekeeping`).
"""
