"""A local Microsoft 365 sandbox: Graph calendar and places endpoints, a token endpoint and an
admin-consent page, seeded with a demo organisation. It stands in for Microsoft 365 on machines
that cannot reach it, and in tests and benchmarks (with fault and latency injection)."""
