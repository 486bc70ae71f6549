"""Benchmark: chaos trials on the real control plane, checked against ground truth and the
audit log; prints JSON.

Run from the repository root after ``tests/controlplane/build.sh``:
``python benchmarks/reliability.py [--trials 100] [--parallel 3] [--seed 13] [--out FILE]``.
It starts one control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
kwok; ``tests/controlplane``) and runs each trial in a namespace of its own, on kwok GPU
nodes of its own, a few at a time. The trials cycle through:

- ``promote-sigkill:<point>``: ``mlrollout promote`` (as the controller's ServiceAccount) is
  SIGKILLed at a named crash point (``MLROLLOUT_CRASH_AT``), then run again;
- ``controller-sigkill:<point>``: the in-cluster controller (``mlrollout controller``, a
  subprocess) is SIGKILLed at a crash point and started again, as its Deployment would be;
- ``failover-kill`` / ``failover-pause``: two controller replicas; mid-shift the leader is
  SIGKILLed, or SIGSTOPped past its Lease and then continued;
- ``faults``: the controller talks to the API server through the fault proxy with a random
  mix of 409s, 429 + Retry-After, 500s, resets, delays and watch drops (seeded);
- ``prometheus-restart``: ``promote`` with an analysis step on a real Prometheus that is
  stopped and started again mid-analysis (it holds no data for the release: the
  fail-safe end is a rollback).

Every trial is checked on the API server's audit log (weights sum to 100, traffic only to
Deployments with available pods, nothing deployed or moved before the gates passed, no
write after a lost Lease) and against ground truth (the phase the trial must end in; for a
promotion every step 25 -> 50 -> 100 % in order and the candidate at full size). A trial
whose rollout does not reach its terminal phase within ``--deadline`` seconds is lost.
Targets (issue 13): 100 trials, 0 invariant violations, 0 lost rollouts.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]

from controlplane.cluster import find_binaries  # noqa: E402
from controlplane.faults import FaultProxy  # noqa: E402
from controlplane.fixtures import ControlPlaneSession, TestBed, control_plane_session, open_bed  # noqa: E402
from controlplane.processes import die_with_parent  # noqa: E402
from controlplane.promote import (  # noqa: E402
    canary_shares,
    create_promote_rollout,
    promote_env,
    run_promote,
)
from controlplane.rollouts import check_audit, check_fenced, read_rollout  # noqa: E402
from controlplane.workloads import build_model  # noqa: E402
from mlrollout.controller.effects import CRASH_POINTS  # noqa: E402
from mlrollout.kube.kinds import DEPLOYMENTS, LEASES, NODES  # noqa: E402
from mlrollout.spec.status import Phase  # noqa: E402
from support.prometheus import PrometheusServer, start_prometheus  # noqa: E402

# The default Lease (``LeaseSettings``): a standby takes over after 15 s. ``promote`` runs
# with it too, not with the tests' 2 s Lease: its fence stops writing a third of the Lease
# before expiry, and a third of 2 s is shorter than a request can take on a loaded machine.
CONTROLLER_LEASE = timedelta(seconds=15)
PROMOTE_LEASE = {"MLROLLOUT_LEASE_SECONDS": str(int(CONTROLLER_LEASE.total_seconds()))}
# A loaded machine runs the trials slowly: ``promote`` gets the whole trial deadline.
SLOW = ("--timeout", "10m")
KINDS = (
    *(f"promote-sigkill:{p}" for p in CRASH_POINTS),
    *(f"controller-sigkill:{p}" for p in CRASH_POINTS),
    "failover-kill",
    "failover-pause",
    "faults",
    "faults",
    "prometheus-restart",
)


@dataclass
class Outcome:
    """One trial's result."""

    trial: int
    kind: str
    seconds: float = 0.0
    phase: str = ""
    lost: bool = False
    violations: list[str] = field(default_factory=list)
    error: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


class LostError(Exception):
    """The rollout did not reach its terminal phase in time."""


def _crash_hit(point: str) -> int:
    # Deploy and scale happen once in a promotion; the other points are passed many times.
    return 1 if point.endswith("scale") else 2


def _where(bed: TestBed) -> str:
    """Where the rollout stood (as stored) when its driver was killed."""
    status = read_rollout(bed.admin, bed.namespace).status
    applied = status.traffic.applied
    weight = "-" if applied is None else f"{applied.canary_percent:g}%"
    return f"{status.phase.value} step {status.current_step} weight {weight}"


def _mid_rollout(where: str) -> bool:
    phase = where.partition(" ")[0]
    return phase in {p.value for p in Phase if p is not Phase.PENDING and not p.terminal}


def _wait_terminal(bed: TestBed, deadline: float, tick: Callable[[], None] = lambda: None) -> str:
    while time.monotonic() < deadline:
        tick()
        stored = read_rollout(bed.admin, bed.namespace)
        if stored.status.phase.terminal:
            return stored.status.phase.value
        time.sleep(0.5)
    raise LostError(read_rollout(bed.admin, bed.namespace).status.message or "")


def _wait_mid_shift(bed: TestBed, deadline: float) -> None:
    while time.monotonic() < deadline:
        stored = read_rollout(bed.admin, bed.namespace)
        if stored.status.phase is Phase.PROGRESSING and (stored.status.current_step or 0) >= 1:
            return
        if stored.status.phase.terminal:
            return
        time.sleep(0.2)
    raise LostError("never reached the middle of the shift")


class Controller:
    """``mlrollout controller`` in a subprocess, restarted when it exits (as its Deployment's
    pod would be); the first start may carry a crash point."""

    def __init__(self, bed: TestBed, kubeconfig: Path, identity: str, crash: str = "") -> None:
        self.bed, self.kubeconfig, self.identity = bed, kubeconfig, identity
        self.log = bed.workdir / f"controller-{identity}.log"
        self.exits: list[int] = []
        self.process = self._start(crash)

    def _start(self, crash: str) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLROLLOUT_")}
        env["PYTHONPATH"] = str(ROOT / "src")
        if crash:
            env["MLROLLOUT_CRASH_AT"] = crash
        argv = [
            sys.executable,
            "-m",
            "mlrollout",
            "controller",
            "--namespace",
            self.bed.namespace,
            "--lease-namespace",
            self.bed.namespace,
            "--workers",
            "1",
            "--health-port",
            "0",
            "--health-host",
            "127.0.0.1",
            "--identity",
            self.identity,
            "--kubeconfig",
            str(self.kubeconfig),
        ]
        with self.log.open("ab") as out:
            return subprocess.Popen(
                argv, env=env, stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent
            )

    def supervise(self) -> None:
        """Start it again if it exited."""
        code = self.process.poll()
        if code is not None:
            self.exits.append(code)
            self.process = self._start("")

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the running process."""
        self.process.send_signal(signum)

    def stop(self) -> None:
        """SIGCONT (in case it is stopped), SIGTERM, then SIGKILL."""
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGCONT)
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _check_invariants(bed: TestBed, outcome: Outcome, *, lease: timedelta, by_agent: bool) -> None:
    user = bed.controller_user
    for name, check in (
        ("weights/ready/gates", lambda: check_audit(bed.audit, namespace=bed.namespace, user=user)),
        (
            "write after a lost Lease",
            lambda: check_fenced(
                bed.audit,
                namespace=bed.namespace,
                user=user,
                lease_duration=lease,
                by_agent=by_agent,
            ),
        ),
    ):
        try:
            check()
        except AssertionError as exc:
            outcome.violations.append(f"{name}: {exc}")


def _check_promoted(bed: TestBed, outcome: Outcome) -> None:
    """Ground truth of a release with no analysis: every step in order, then full size."""
    if outcome.phase != Phase.SUCCEEDED.value:
        outcome.violations.append(f"ground truth: ended {outcome.phase}, expected Succeeded")
    shares = canary_shares(bed.audit, bed.namespace, user=bed.controller_user)
    outcome.detail["shares"] = shares
    if [s for s in shares if s in (25, 50, 100)] != [25, 50, 100] or shares != sorted(shares):
        outcome.violations.append(f"ground truth: candidate shares {shares}")
    green = bed.admin.get(DEPLOYMENTS, "fraud-scorer-green", bed.namespace)["spec"]["replicas"]
    if green != 4:
        outcome.violations.append(f"ground truth: green has {green} replicas, expected 4")


# -- the trials --------------------------------------------------------------------------------


def _promote_until_terminal(
    bed: TestBed, env: dict[str, str], outcome: Outcome, deadline: float
) -> None:
    """Run ``promote`` again while it ends without a terminal phase (exit 6 when the loaded
    API server does not answer in time), as an operator or a CI job would, until
    ``deadline``; ``LostError`` if the rollout is still not finished then."""
    exits: list[int] = outcome.detail.setdefault("exits", [])
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise LostError(f"promote exits {exits}")
        done = run_promote(bed.namespace, env, *SLOW, timeout=max(30.0, left))
        exits.append(done.returncode)
        outcome.phase = read_rollout(bed.admin, bed.namespace).status.phase.value
        if Phase(outcome.phase).terminal:
            return
        outcome.detail["last_stderr"] = done.stderr[-300:]


def trial_promote_sigkill(bed: TestBed, outcome: Outcome, point: str, deadline: float) -> None:
    create_promote_rollout(bed.admin, bed.namespace)
    kubeconfig = bed.controller_kubeconfig()
    crash = f"{point}:{_crash_hit(point)}"
    env = promote_env(kubeconfig, MLROLLOUT_CRASH_AT=crash, **PROMOTE_LEASE)
    killed = run_promote(bed.namespace, env, *SLOW)
    outcome.detail["killed"] = killed.returncode == -signal.SIGKILL
    if outcome.detail["killed"]:
        outcome.detail["killed_in"] = _where(bed)
    outcome.detail["first_exit"] = killed.returncode
    _promote_until_terminal(bed, promote_env(kubeconfig, **PROMOTE_LEASE), outcome, deadline)
    _check_promoted(bed, outcome)
    _check_invariants(bed, outcome, lease=CONTROLLER_LEASE, by_agent=False)


def trial_controller_sigkill(bed: TestBed, outcome: Outcome, point: str, deadline: float) -> None:
    create_promote_rollout(bed.admin, bed.namespace)
    crash = f"{point}:{_crash_hit(point)}"
    controller = Controller(bed, bed.controller_kubeconfig(), "replica-a", crash)

    def tick() -> None:
        exits = len(controller.exits)
        controller.supervise()
        if len(controller.exits) > exits and controller.exits[-1] == -signal.SIGKILL:
            outcome.detail.setdefault("killed_in", _where(bed))

    try:
        outcome.phase = _wait_terminal(bed, deadline, tick)
    finally:
        controller.stop()
    outcome.detail["exits"] = controller.exits
    outcome.detail["killed"] = -signal.SIGKILL in controller.exits
    _check_promoted(bed, outcome)
    _check_invariants(bed, outcome, lease=CONTROLLER_LEASE, by_agent=False)


def _leader(bed: TestBed) -> str:
    lease = bed.admin.get(LEASES, "mlrollout-controller", bed.namespace)
    return str(lease["spec"].get("holderIdentity") or "")


def trial_failover(bed: TestBed, outcome: Outcome, pause: bool, deadline: float) -> None:
    create_promote_rollout(bed.admin, bed.namespace)
    replicas = {}
    for identity in ("replica-a", "replica-b"):
        proxy = bed.fault_proxy(user_agent=identity)  # no rules: it names the replica
        replicas[identity] = Controller(bed, bed.controller_kubeconfig(through=proxy), identity)
    try:
        _wait_mid_shift(bed, deadline)
        leader = _leader(bed)
        outcome.detail["leader"] = leader
        if leader in replicas:
            replicas[leader].signal(signal.SIGSTOP if pause else signal.SIGKILL)
            if pause:  # past its Lease: the other replica has taken over meanwhile
                time.sleep(CONTROLLER_LEASE.total_seconds() + 5)
                replicas[leader].signal(signal.SIGCONT)

        def tick() -> None:
            for identity, replica in replicas.items():
                if identity != leader or pause:
                    replica.supervise()

        outcome.phase = _wait_terminal(bed, deadline, tick)
        outcome.detail["successor"] = _leader(bed)
    finally:
        for replica in replicas.values():
            replica.stop()
    outcome.detail["exits"] = {i: r.exits for i, r in replicas.items()}
    _check_promoted(bed, outcome)
    _check_invariants(bed, outcome, lease=CONTROLLER_LEASE, by_agent=True)


def _random_faults(proxy: FaultProxy, rng: random.Random) -> list[str]:
    menu: list[dict[str, Any]] = [
        {"path": r"/modelrollouts/[^/]+/status$", "status": 409, "probability": 0.3},
        {"path": r"/deployments", "status": 429, "retry_after": 1, "probability": 0.2},
        {"status": 500, "probability": 0.1},
        {"status": 503, "probability": 0.1, "path": r"/apis/"},
        {"reset": True, "probability": 0.05},
        {"delay": 0.4, "probability": 0.2},
        {"path": r"watch=true", "drop_after": 1},
    ]
    chosen = rng.sample(menu, k=rng.randint(2, 4))
    for rule in chosen:
        proxy.add(times=None, **rule)
    return [json.dumps(rule, sort_keys=True) for rule in chosen]


def trial_faults(bed: TestBed, outcome: Outcome, seed: int, deadline: float) -> None:
    create_promote_rollout(bed.admin, bed.namespace)
    proxy = bed.fault_proxy(seed=seed, user_agent="replica-a")
    outcome.detail["rules"] = _random_faults(proxy, random.Random(seed))
    controller = Controller(bed, bed.controller_kubeconfig(through=proxy), "replica-a")
    try:
        outcome.phase = _wait_terminal(bed, deadline, controller.supervise)
    finally:
        controller.stop()
    outcome.detail["exits"] = controller.exits
    proxy.clear()
    _check_promoted(bed, outcome)
    _check_invariants(bed, outcome, lease=CONTROLLER_LEASE, by_agent=True)


def trial_prometheus(bed: TestBed, outcome: Outcome, deadline: float) -> None:
    create_promote_rollout(bed.admin, bed.namespace, analysis=True)
    directory = bed.workdir / "prometheus"
    server: PrometheusServer = start_prometheus(directory)
    holder: list[PrometheusServer] = [server]

    def bounce() -> None:
        _wait_mid_shift(bed, deadline)
        phase = read_rollout(bed.admin, bed.namespace).status.phase
        outcome.detail["stopped_in"] = phase.value  # where the rollout was when it went
        holder[0].stop()
        time.sleep(3)
        port = holder[0].url.rsplit(":", 1)[1]
        holder[0] = _restart_prometheus(directory, port)

    thread = threading.Thread(target=bounce, daemon=True)
    thread.start()
    try:
        env = promote_env(
            bed.controller_kubeconfig(), MLROLLOUT_PROMETHEUS_URL=server.url, **PROMOTE_LEASE
        )
        _promote_until_terminal(bed, env, outcome, deadline)
        thread.join(30)
    finally:
        holder[0].stop()
    # Ground truth: Prometheus holds no data for the release, so nothing is evidence of its
    # health: never promoted, traffic back on the stable environment.
    if outcome.phase == Phase.SUCCEEDED.value:
        outcome.violations.append("ground truth: promoted without metrics")
    shares = canary_shares(bed.audit, bed.namespace, user=bed.controller_user)
    outcome.detail["shares"] = shares
    if shares[-1] != 0:
        outcome.violations.append(f"ground truth: candidate keeps {shares[-1]} % of replicas")
    _check_invariants(bed, outcome, lease=CONTROLLER_LEASE, by_agent=False)


def _restart_prometheus(directory: Path, port: str) -> PrometheusServer:
    """Prometheus again on the same port and data directory."""
    log = directory / "prometheus.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                "/usr/bin/prometheus",
                f"--config.file={directory / 'prometheus.yml'}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )
    return PrometheusServer(f"http://127.0.0.1:{port}", directory / "data", process, log)


# -- running -----------------------------------------------------------------------------------


@contextmanager
def _bed(session: ControlPlaneSession, trial: int, workdir: Path) -> Iterator[TestBed]:
    directory = workdir / f"trial-{trial}"
    directory.mkdir()
    with open_bed(session, f"chaos-{trial}", directory) as bed:
        try:
            yield bed
        finally:
            for i in range(2):  # build_model's kwok nodes
                with suppress(Exception):  # best effort; the namespace goes anyway
                    bed.admin.delete(NODES, f"{bed.namespace}-gpu-{i}")


def run_trial(
    session: ControlPlaneSession, trial: int, kind: str, seed: int, workdir: Path, limit: float
) -> Outcome:
    """One trial in a namespace of its own."""
    outcome = Outcome(trial, kind)
    start = time.monotonic()
    deadline = start + limit
    try:
        with _bed(session, trial, workdir) as bed:
            build_model(bed.admin, bed.namespace)
            name, _, point = kind.partition(":")
            if name == "promote-sigkill":
                trial_promote_sigkill(bed, outcome, point, deadline)
            elif name == "controller-sigkill":
                trial_controller_sigkill(bed, outcome, point, deadline)
            elif name.startswith("failover"):
                trial_failover(bed, outcome, name == "failover-pause", deadline)
            elif name == "faults":
                trial_faults(bed, outcome, seed, deadline)
            else:
                trial_prometheus(bed, outcome, deadline)
    except LostError as exc:
        outcome.lost = True
        outcome.error = str(exc)[-300:]
    except Exception:
        outcome.error = traceback.format_exc()[-1500:]
    outcome.seconds = round(time.monotonic() - start, 1)
    verdict = "LOST" if outcome.lost else "ERROR" if outcome.error else "ok"
    verdict = f"VIOLATION {outcome.violations}" if outcome.violations else verdict
    print(f"trial {trial} {kind}: {outcome.phase} {verdict} {outcome.seconds}s", file=sys.stderr)
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--parallel", type=int, default=3)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--deadline", type=float, default=300.0, help="seconds per trial")
    parser.add_argument(
        "--only", default="", help="run only kinds starting with one of these (comma-separated)"
    )
    parser.add_argument(
        "--budget", type=float, default=0.0, help="start no trial after this many seconds (0: none)"
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    binaries = find_binaries()
    if binaries is None:
        raise SystemExit("control plane binaries not built: run tests/controlplane/build.sh")
    prefixes = tuple(p for p in args.only.split(",") if p)
    kinds = [k for k in KINDS if not prefixes or k.startswith(prefixes)] or list(KINDS)
    plan = [(i, kinds[i % len(kinds)], args.seed * 1000 + i) for i in range(args.trials)]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mlrollout-chaos-") as tmp:
        workdir = Path(tmp)
        with (
            control_plane_session(binaries, workdir / "controlplane") as session,
            ThreadPoolExecutor(max_workers=args.parallel) as pool,
        ):

            def one(t: tuple[int, str, int]) -> Outcome | None:
                if args.budget and time.monotonic() - started > args.budget:
                    return None  # out of time: not started, reported as not run
                return run_trial(session, t[0], t[1], t[2], workdir, args.deadline)

            ran = list(pool.map(one, plan))
    outcomes = [o for o in ran if o is not None]
    violated = [o for o in outcomes if o.violations]
    lost = [o for o in outcomes if o.lost]
    broken = [o for o in outcomes if o.error and not o.lost]
    by_kind: Counter[str] = Counter(o.kind.partition(":")[0] for o in outcomes)
    result = {
        "benchmark": "reliability-chaos",
        "seed": args.seed,
        "parallel": args.parallel,
        "trials_planned": len(plan),
        "trials": len(outcomes),
        "trials_by_kind": dict(sorted(by_kind.items())),
        "invariant_violations": sum(len(o.violations) for o in outcomes),
        "trials_with_violations": len(violated),
        "lost_rollouts": len(lost),
        "harness_errors": len(broken),
        "crashes_delivered": sum(1 for o in outcomes if o.detail.get("killed")),
        "crashes_mid_rollout": sum(
            1
            for o in outcomes
            if o.detail.get("killed") and _mid_rollout(o.detail.get("killed_in", ""))
        ),
        "crashes_by_place": dict(
            Counter(
                f"{o.kind} -> {o.detail['killed_in']}"
                for o in outcomes
                if o.detail.get("killed_in")
            ).most_common()
        ),
        "phases": dict(Counter(o.phase for o in outcomes)),
        "wall_seconds": round(time.monotonic() - started, 1),
        "targets": {"trials": 100, "invariant_violations": 0, "lost_rollouts": 0},
        "outcomes": [o.__dict__ for o in outcomes],
    }
    text = json.dumps(result, indent=2, default=str)
    if args.out is not None:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
