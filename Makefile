# The test command of the README: static checks, then the whole test suite.
# `make fast` runs only the tests that start no server, with the small hypothesis profile,
# in two processes (one per core of the CI machine).
PYTEST_FLAGS ?=

.PHONY: check static test fast

check: static test

static:
	ruff check src tests benchmarks
	ruff format --check src tests benchmarks
	mypy src
	lint-imports

test:
	bash .ci/pytest $(PYTEST_FLAGS)

fast:
	bash .ci/pytest-shards 2 --hypothesis-profile=fast -m "not (prometheus or registry or cosign or browser or e2e or r or slow or controlplane)" $(PYTEST_FLAGS)
