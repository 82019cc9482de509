"""Keeping the desk running: health, alerts, maintenance, start-up and demo data.

    health        one snapshot of the pipeline (PostgreSQL, media store, RQ via rq_status)
    alerts        the alert rules, judged on a snapshot, shown and posted to a webhook
    verdicts      healthy, watch or act for each headline number, from the alert thresholds
    maintenance   stuck jobs, old failures, storage quota, previews, old alert history
    housekeeping  what every worker does between jobs: the alert check, hourly maintenance
    startup       settings checked and stores pinged before a process serves anyone
    run, embedded `narration-desk run`: embedded PostgreSQL and Redis, a worker, the dashboard
    demo_history  `seed-demo --rows N`: months of realistic history, loaded with COPY
    metrics       the Prometheus endpoints: each worker's, and the dashboard's queues and workers
    media_push    `media push`: a MEDIA_ROOT copied into the bucket STORAGE_URL names

Uses `workers.engine` (media, store, storage, encoding, the queue) and `workers.service` (the budget);
neither of them imports this package.
"""
