# The two set-up commands of the README are `make run` and `make test`; CI runs `.ci/run`, which
# calls `make lint`, `make test` and `make fuzz`.
SHELL := /bin/bash
.PHONY: run test lint fmt bench bench-deliveries bench-import bench-operations fuzz

# The service on SQLite (./phonebook.db), nothing else to install.
run:
	cargo run --release -- serve

# Every test: unit tests and the integration suite, each integration test on SQLite and PostgreSQL.
# Without a reachable PostgreSQL (and outside CI) the PostgreSQL half is skipped, and said so here;
# likewise the tests that need Redis.
test:
	@if ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then \
		echo "NOTE: PostgreSQL is not reachable at 127.0.0.1:5432: PostgreSQL tests will be skipped" \
		     "(set PHONEBOOK_TEST_POSTGRES_URL, or start a server; CI fails instead of skipping)."; \
	fi
	@if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then \
		echo "NOTE: Redis is not reachable at 127.0.0.1:6379: the shared rate limiter's tests will be skipped" \
		     "(set PHONEBOOK_TEST_REDIS_URL, or start a server; CI fails instead of skipping)."; \
	fi
	cargo test --all-targets --locked

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets --locked -- -D warnings
	cargo clippy -p phonebook-bench --all-targets --locked -- -D warnings

fmt:
	cargo fmt --all

# schemathesis (pinned in fuzz/requirements.txt, installed into .venv-fuzz/) against the release
# server on a fresh SQLite database: every phase and check, a fixed seed, a few minutes; fails on
# any finding. FUZZ_SEED, FUZZ_EXAMPLES and FUZZ_MAX_TIME change the run (fuzz/run).
fuzz:
	fuzz/run

# The load benchmark (bench/README.md, about 15 minutes). `make bench BENCH_BEFORE=../before`
# instead compares W1–W3 side by side with the release service of another checkout.
bench:
	bench/run

# The webhook delivery benchmark (bench/README.md, "Deliveries", a few minutes): deliveries/s to a
# local receiver, and the service's memory while a million queued deliveries drain.
bench-deliveries:
	bench/deliveries

# `phonebook import` on generated files of 10,000 and 500,000 rows (bench/import): rows/s and the
# importer's peak RSS; BENCH_DATABASE_URL=postgres://… for PostgreSQL.
bench-import:
	bench/import

# The bulk path through `/operations` (bench/operations): 100,000 prospects × 5 numbers, 996
# operations a request, 4 in flight; resources/s and the service's peak RSS; BENCH_DATABASE_URL as above.
bench-operations:
	bench/operations
