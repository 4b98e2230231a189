"""The one queue: a Celery app, its tasks, publishing helpers and the durability sweeper."""
