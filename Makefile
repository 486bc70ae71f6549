# The test command of the README: static checks, then the whole test suite.
# `make test` is the tests that need no Go-built binary (`test-portable`), then those that
# run cosign or the Kubernetes control plane (`test-go`): the two marker expressions are
# complements, so together they are exactly the whole suite. `.ci/run` runs `test-portable`
# while the Go builds are still running, and `test-go` once they are done.
# `make fast` runs only the tests that start no server, with the small hypothesis profile.
# Every pytest run here is two processes (.ci/pytest-shards: whole test files dealt to one
# per core of the CI machine, balanced by the recorded times of the tests each run selects,
# tests/support/durations.json; `make durations` runs the whole suite and records each
# test's time there).
PYTEST_FLAGS ?=
GO_MARKERS := cosign or controlplane
SERVER_MARKERS := prometheus or registry or cosign or browser or e2e or r or slow or controlplane

.PHONY: check static test test-portable test-go fast durations

check: static test

static:
	ruff check src tests benchmarks
	ruff format --check src tests benchmarks
	mypy src
	lint-imports

test: test-portable test-go

test-portable:
	bash .ci/pytest-shards 2 -m "not ($(GO_MARKERS))" $(PYTEST_FLAGS)

test-go:
	bash .ci/pytest-shards 2 -m "$(GO_MARKERS)" $(PYTEST_FLAGS)

# Three processes on the two cores: about a fifth of the fast tests' time is waiting
# (subprocess start-ups, sockets, the controller's unreachable-server log), which a third
# process fills (idle machine: 36 s wall with two, 27 s with three).
fast:
	bash .ci/pytest-shards 3 --hypothesis-profile=fast -m "not ($(SERVER_MARKERS))" $(PYTEST_FLAGS)

durations:
	bash .ci/pytest-shards 2 --record-durations=tests/support/durations.json $(PYTEST_FLAGS)
