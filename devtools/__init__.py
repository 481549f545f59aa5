"""Developer tools: real local registries for tests, benchmarks and the demo.

``devtools.registry.start_registry`` runs ``docker-registry`` on a free port of
127.0.0.1 (anonymous, htpasswd, or token auth from an in-process token server,
optionally over TLS); ``devtools.seed.Seeder`` fills it through the HTTP API and reads
back what it holds. Plain Python: no Qt, and nothing from ``core/``.
"""
