# The test command of the README: static checks, then the whole test suite.
# `make fast` runs only the tests that start no server, with the small hypothesis profile.
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
	bash .ci/pytest --hypothesis-profile=fast -m "not (prometheus or registry or cosign or browser or e2e or r or slow or controlplane)" $(PYTEST_FLAGS)
