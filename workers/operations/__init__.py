"""Keeping the desk running: health, alerts, maintenance, start-up and demo data.

    health        one snapshot of the pipeline (PostgreSQL, media folder, RQ via rq_status)
    alerts        the alert rules, judged on a snapshot, shown and posted to a webhook
    verdicts      healthy, watch or act for each headline number, from the alert thresholds
    maintenance   stuck jobs, old failures, storage quota, previews, old alert history
    housekeeping  what every worker does between jobs: the alert check, hourly maintenance
    startup       settings checked and stores pinged before a process serves anyone
    run, embedded `narration-desk run`: embedded PostgreSQL and Redis, a worker, the dashboard
    demo_history  `seed-demo --rows N`: months of realistic history, loaded with COPY
    metrics       the Prometheus endpoints: each worker's, and the dashboard's queues and workers

Uses `workers.engine` (media, storage, encoding, the queue) and `workers.service` (the budget);
neither of them imports this package.
"""
