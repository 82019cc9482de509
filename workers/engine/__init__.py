"""The job engine: a queued row in, mastered and checked audio out.

    worker        the RQ worker: several jobs at once on threads, heartbeat, reconciler
    jobs          the job: claim the row, narrate, encode, store, finish (`synthesize`)
    narrate       plan a row's chunks, synthesize the missing ones in parallel, join them
    redo          narrate passages of a completed narration again beside its audio
    chunking      split text where a narrator would pause, to each model's request limit
    providers/    OpenAI, ElevenLabs and the local Piper voice behind one interface
    gates, slots  requests in flight per provider: in this process, and per account in Redis
    mastering     one loudness, trimmed passages, pauses (pauses), fades, limited peaks
    qc, true_peak quality checks: loudness, peaks, what looks wrong
    listen_back   the optional listen-back check (with word_errors)
    encoding      WAV, MP3, FLAC or Ogg/Opus, and the preview
    validation    what a row must be before anything is paid for (submit asks it too)
    catalogue     providers, models, voices, their limits and prices: data
    budget, costs the month's spend against MONTHLY_BUDGET_USD, priced from the catalogue (submit
                  and a fallback both ask it)
    fallback      a project's fallback voice, when the voice asked for fails for account reasons
    media         stored paths checked (and resolved inside MEDIA_ROOT), before any read, write or delete
    store         MEDIA_ROOT or an S3 bucket (STORAGE_URL): atomic writes, reads, deletes, listings
    storage       audio file names, and deleting a narration's files
    queue         the three priority queues and `enqueue`
    reconcile     rows nobody is working on, handed back or enqueued
    lease         this worker's advisory lock and heartbeat connection
    metrics       what a worker tells Prometheus: jobs, requests, failures, characters billed

Imports `db`, `workers.redis_connection` and itself only: never `workers.service` or
`workers.operations`, which build on it.
"""
