"""The RQ entry point at its stable dotted path, `workers.jobs.synthesize`.

RQ stores a job's function by name in Redis and imports it when a worker takes the job. Jobs queued
before the engine moved into `workers/engine/` name this path, and while an upgrade rolls out a
dashboard of one version enqueues for workers of the other. So `workers.engine.queue.enqueue` keeps
naming this path and both paths import the same function: old jobs run on new workers, and new
jobs on workers not yet upgraded. Keep it while any deployment may hold jobs or workers from
before the move; the function itself lives in `workers/engine/jobs.py`.
"""

from workers.engine.jobs import synthesize

__all__ = ["synthesize"]
