"""PostgreSQL data layer: migrations, named queries, connections, the job queue and the store.

``migrations/`` and ``queries.sql`` hold all SQL; ``connector`` makes connections that work
directly and through pgbouncer; ``embedded`` runs PostgreSQL locally when DATABASE_URL is unset;
``queue.JobQueue`` and ``store.DocumentStore`` are what the application uses.
"""
