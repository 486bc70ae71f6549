"""Benchmark: N concurrent ModelRollouts driven by the real ``mlrollout controller`` on the real
control plane with kwok GPU nodes, and a leader failover mid-shift; prints JSON.

Run from the repository root with the control plane built (``tests/controlplane/build.sh``)::

    python benchmarks/reliability_scale.py [--rollouts 1000] [--output F]

**Scale.** In one namespace (restricted Pod Security), N models each get blue (live, kwok
pods) and green Deployments, a Service per environment, an HTTPRoute and a ModelRollout of a
new release: a canary through the HTTPRoute (25, 50, 75 %, then promotion). The rollouts skip
analysis and the signature gate (no metrics, no registry); the pod-security and GPU-capacity
gates run. One controller replica (a subprocess, authenticated with a ServiceAccount token
bound only to ``examples/deploy/rbac.yaml``) drives them all to a terminal phase. Measured:
reconcile duration p50/p99 from the controller's ``mlrollout_reconcile_duration_seconds``
histogram on its ``/metrics``; its API requests per reconcile pass and per rollout from the
API server's audit log; its resident memory from ``/proc`` (peak, and steady: the highest
sample while idle after every rollout ended); the time until every rollout was terminal.
To tell the controller's time from the API server's: passes by the phase they began in
(``mlrollout_reconcile_phase_duration_seconds``), the share of pass time spent waiting for
the API server (``mlrollout_reconcile_api_wait_seconds``), the pass time minus that wait
(``mlrollout_reconcile_own_seconds``), how long the API server took to answer the
controller's requests (audit log: received to completed) and the machine's load average.
Targets (issue 13): p99 < 1 s, steady memory < 500 MiB.

**Failover.** In a second namespace, two replicas share the Lease; rollouts with pauses
between weights are mid-shift when the leader is killed (SIGKILL, or frozen with SIGSTOP and
resumed after the takeover: ``--failover-signal``). Measured on the audit log (each replica
has a token of its own): the old leader's last Lease renewal, the new leader's Lease
acquisition and its first write that is not the Lease, from the kill and from the expiry of
the old Lease (last renewal + Lease duration); and every write of the old leader's token
after that expiry (there must be none). The successor may only act once the Lease expired,
so the target (issue 13: failover within the Lease duration, 15 s) is read as: the new
leader acts within one Lease duration of the old Lease's expiry.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import kubernetes  # noqa: E402

from controlplane.audit_scan import scan_user  # noqa: E402
from controlplane.cluster import ControlPlane, find_binaries  # noqa: E402
from controlplane.controller_process import (  # noqa: E402
    ControllerProcess,
    histogram_quantile,
    install_controller_rbac,
    parse_histogram,
)
from controlplane.fixtures import CRD_DIR, CRD_FILES, install_crd  # noqa: E402
from controlplane.fleet import Fleet, FleetShape, create_namespace  # noqa: E402
from mlrollout.kube import connect  # noqa: E402
from mlrollout.spec.status import Phase  # noqa: E402

MIB = 1024 * 1024
LEASE_DURATION_S = 15.0  # the controller's default LeaseSettings
HISTOGRAM = "mlrollout_reconcile_duration_seconds"
BY_PHASE = "mlrollout_reconcile_phase_duration_seconds"
API_WAIT = "mlrollout_reconcile_api_wait_seconds"
OWN = "mlrollout_reconcile_own_seconds"
_SERIES = re.compile(r"^(\w+)\{([^}]*)\} (\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')
TERMINAL = {p.value for p in Phase if p.terminal}


def _user(namespace: str) -> str:
    return f"system:serviceaccount:{namespace}:mlrollout-controller"


class MemorySampler:
    """Samples a process's resident memory every ``period`` s in a thread (and the machine's
    1-minute load average with it)."""

    def __init__(self, controller: ControllerProcess, period: float = 1.0) -> None:
        self.controller = controller
        self.period = period
        self.samples: list[tuple[float, int]] = []
        self.loads: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                rss, _ = self.controller.rss_bytes()
            except (OSError, KeyError):
                return
            self.samples.append((time.monotonic(), rss))
            self.loads.append((time.monotonic(), os.getloadavg()[0]))
            self._stop.wait(self.period)

    def start(self) -> MemorySampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def between(self, start: float, end: float) -> list[int]:
        return [rss for t, rss in self.samples if start <= t <= end]

    def load_between(self, start: float, end: float) -> dict[str, float] | None:
        loads = [load for t, load in self.loads if start <= t <= end]
        if not loads:
            return None
        return {
            "min": round(min(loads), 1),
            "median": round(statistics.median(loads), 1),
            "max": round(max(loads), 1),
        }


def _wait(condition: Any, *, what: str, timeout: float, period: float = 2.0) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(period)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")


def _progress(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def _latency(exposition: str, name: str = HISTOGRAM) -> dict[str, Any]:
    buckets, total, count = parse_histogram(exposition, name)
    p50, p99 = histogram_quantile(0.5, buckets), histogram_quantile(0.99, buckets)
    return {
        "passes": int(count),
        "mean_s": round(total / count, 4) if count else None,
        "p50_s": None if p50 is None else round(p50, 4),
        "p99_s": None if p99 is None else round(p99, 4),
        "buckets": {("+Inf" if le == float("inf") else f"{le:g}"): int(c) for le, c in buckets},
    }


def _by_phase(exposition: str, name: str) -> dict[str, tuple[list[tuple[float, float]], float]]:
    """Histogram ``name`` labelled by phase: per phase, the cumulative buckets and the sum."""
    out: dict[str, tuple[list[tuple[float, float]], float]] = {}
    for line in exposition.splitlines():
        match = _SERIES.match(line)
        if match is None:
            continue
        metric, labels, value = match.groups()
        named = dict(_LABEL.findall(labels))
        phase, le = named.get("phase"), named.get("le")
        if phase is None:
            continue
        buckets, total = out.get(phase, ([], 0.0))
        if metric == f"{name}_bucket" and le is not None:
            buckets.append((float(le), float(value)))
        elif metric == f"{name}_sum":
            total = float(value)
        out[phase] = (buckets, total)
    return {phase: (sorted(b), t) for phase, (b, t) in out.items() if b}


def _phases_profile(exposition: str) -> dict[str, Any]:
    """Per phase the pass began in: passes, p50/p99, passes over 1 s, and the share of the
    phase's pass time spent waiting for the API server."""
    waits = _by_phase(exposition, API_WAIT)
    out: dict[str, Any] = {}
    for phase, (buckets, total) in sorted(_by_phase(exposition, BY_PHASE).items()):
        count = buckets[-1][1]
        at_1s = next((c for le, c in buckets if le == 1.0), count)
        waited = waits.get(phase, ([], 0.0))[1]
        p50, p99 = histogram_quantile(0.5, buckets), histogram_quantile(0.99, buckets)
        out[phase] = {
            "passes": int(count),
            "mean_s": round(total / count, 4) if count else None,
            "p50_s": None if p50 is None else round(p50, 4),
            "p99_s": None if p99 is None else round(p99, 4),
            "over_1s": int(count - at_1s),
            "api_wait_share": round(waited / total, 3) if total else None,
        }
    return out


def _server_latency(took: list[float]) -> dict[str, Any]:
    """How long the API server took to answer the controller's requests (audit log)."""
    if not took:
        return {"requests": 0}
    ordered = sorted(took)

    def q(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))], 4)

    return {
        "requests": len(ordered),
        "median_s": q(0.5),
        "p90_s": q(0.9),
        "p99_s": q(0.99),
        "mean_s": round(statistics.fmean(ordered), 4),
    }


def _build_fleet(plane: ControlPlane, api: Any, namespace: str, shape: FleetShape) -> Fleet:
    admin = connect(kubeconfig=str(plane.admin_kubeconfig), timeout=60.0)
    create_namespace(api, namespace)
    install_controller_rbac(api, namespace)
    fleet = Fleet(admin, namespace, shape)
    start = time.monotonic()
    fleet.build()
    _wait(
        lambda: fleet.blue_ready() == shape.models,
        what=f"{shape.models} blue Deployments available",
        timeout=120 + shape.models,
    )
    _progress(f"{namespace}: {shape.models} models ready in {time.monotonic() - start:.0f}s")
    return fleet


def run_scale(
    plane: ControlPlane,
    api: Any,
    workdir: Path,
    *,
    rollouts: int,
    workers: int,
    idle_s: float,
    drive_timeout: float,
) -> dict[str, Any]:
    """N rollouts, one controller replica; the measurements."""
    namespace = "scale"
    shape = FleetShape(models=rollouts)
    fleet = _build_fleet(plane, api, namespace, shape)
    fleet.start_rollouts()
    controller = ControllerProcess(
        plane, api, namespace=namespace, identity="scale-a", workdir=workdir, workers=workers
    ).start()
    started = time.monotonic()
    sampler = MemorySampler(controller).start()
    try:
        controller.wait_leading(timeout=120)

        def all_terminal() -> bool:
            phases = fleet.phases()
            done = sum(1 for p in phases.values() if p in TERMINAL)
            _progress(f"{namespace}: {done}/{rollouts} terminal")
            return done == rollouts

        try:
            _wait(
                all_terminal,
                what="every rollout terminal",
                timeout=drive_timeout,
                period=max(5.0, rollouts / 100),
            )
            to_terminal: float | None = time.monotonic() - started
        except RuntimeError:  # measured as far as it got; the phases say how far
            to_terminal = None
            idle_s = 0.0
        driving = controller.metrics()
        _, peak_driving = controller.rss_bytes()
        idle_from = time.monotonic()
        _progress(f"{namespace}: all terminal after {to_terminal}s; idle {idle_s:.0f}s")
        time.sleep(idle_s)
        idle_to = time.monotonic()
        idle = controller.metrics()
        _, peak = controller.rss_bytes()
    finally:
        sampler.stop()
        controller.stop()
    phases = Counter(fleet.phases().values())
    steady = sampler.between(idle_from, idle_to)
    drive_latency = _latency(driving)
    own = _latency(driving, OWN)
    api_wait = _by_phase(driving, API_WAIT)
    waited = sum(total for _, total in api_wait.values())
    calls = scan_user(plane.audit_log, _user(namespace))
    driving_calls = [c for c in calls.calls if c.at.timestamp() <= _wall(idle_from)]
    steps = len(shape.steps) * rollouts
    passes = drive_latency["passes"] or 1
    idle_latency = _latency(idle)
    idle_passes = idle_latency["passes"] - drive_latency["passes"]
    idle_calls = len(calls.calls) - len(driving_calls)
    return {
        "rollouts": rollouts,
        "controller_workers": workers,
        "replicas_per_environment": shape.replicas,
        "steps_per_rollout": shape.steps,
        "kwok_nodes": shape.nodes,
        "phases": dict(phases),
        "time_to_all_terminal_s": None if to_terminal is None else round(to_terminal, 1),
        "drive_timeout_s": drive_timeout,
        "reconcile": drive_latency,
        "reconcile_by_phase": _phases_profile(driving),
        "reconcile_minus_api_wait": own,
        "api_wait_share": round(waited / (drive_latency["mean_s"] * passes), 3)
        if drive_latency["mean_s"]
        else None,
        "api_server_latency_while_driving": _server_latency(
            [c.took for c in driving_calls if c.verb != "watch"]
        ),
        "load_average_1m_while_driving": sampler.load_between(started, idle_from),
        "api_requests": {
            "while_driving": len(driving_calls),
            "per_reconcile_pass": round(len(driving_calls) / passes, 2),
            "per_rollout": round(len(driving_calls) / rollouts, 1),
            "per_canary_step": round(len(driving_calls) / steps, 1),
            "refused_401_403": sum(1 for c in calls.calls if c.code in (401, 403)),
            "by_verb_resource": Counter(
                f"{c.verb} {c.resource}" for c in driving_calls
            ).most_common(),
        },
        "idle": {
            "seconds": idle_s,
            "passes": idle_passes,
            "api_requests": idle_calls,
        },
        "rss_mib": {
            "peak": round(peak / MIB, 1),
            "peak_while_driving": round(peak_driving / MIB, 1),
            "steady_max": round(max(steady) / MIB, 1) if steady else None,
            "steady_median": round(statistics.median(steady) / MIB, 1) if steady else None,
        },
        "targets": {
            "p99_below_1s": drive_latency["p99_s"] is not None and drive_latency["p99_s"] < 1.0,
            "steady_rss_below_500MiB": bool(steady) and max(steady) < 500 * MIB,
        },
    }


_MONO_TO_WALL = time.time() - time.monotonic()


def _wall(monotonic: float) -> float:
    return monotonic + _MONO_TO_WALL


def run_failover(
    plane: ControlPlane, api: Any, workdir: Path, *, rollouts: int, how: str
) -> dict[str, Any]:
    """Two replicas; the leader killed (or frozen) mid-shift; the takeover from the audit
    log."""
    namespace = f"failover-{how}"
    shape = FleetShape(models=rollouts, pause_s=20)
    fleet = _build_fleet(plane, api, namespace, shape)
    a = ControllerProcess(plane, api, namespace=namespace, identity="replica-a", workdir=workdir)
    b = ControllerProcess(plane, api, namespace=namespace, identity="replica-b", workdir=workdir)
    a.start()
    try:
        a.wait_leading(timeout=120)
        b.start()
        b.wait_serving(timeout=120)
        fleet.start_rollouts()

        def mid_shift() -> bool:
            return all(p == Phase.PROGRESSING.value for p in fleet.phases().values())

        _wait(mid_shift, what="every rollout progressing", timeout=300, period=1)
        time.sleep(3)  # a pause under way, some weights moved
        killed_at = datetime.now(UTC)
        os.kill(a.pid, signal.SIGSTOP if how == "stop" else signal.SIGKILL)
        _progress(f"{namespace}: replica-a {how} at {killed_at:%H:%M:%S.%f}")
        b.wait_leading(timeout=120)
        if how == "stop":
            time.sleep(5)  # let the new leader act, then wake the old one up
            os.kill(a.pid, signal.SIGCONT)
            time.sleep(10)
        _wait(
            lambda: all(p in TERMINAL for p in fleet.phases().values()),
            what="every rollout terminal after the failover",
            timeout=600,
        )
        old_exit = a.child.process.poll() if a.child.process else None
    finally:
        a.kill()
        b.stop()
    phases = Counter(fleet.phases().values())
    calls = scan_user(plane.audit_log, _user(namespace)).calls
    a_id, b_id = a.credential_id, b.credential_id
    renewals = [
        c
        for c in calls
        if c.credential == a_id and c.resource == "leases" and c.write and 200 <= c.code < 300
    ]
    last_renewal = max(c.at for c in renewals)
    expiry = last_renewal + timedelta(seconds=LEASE_DURATION_S)
    old_writes_after_expiry = [
        f"{c.at.isoformat()} {c.verb} {c.resource} {c.name} {c.code}"
        for c in calls
        if c.credential == a_id and c.write and c.at > expiry
    ]
    old_writes_after_kill = [
        c for c in calls if c.credential == a_id and c.write and c.at > killed_at
    ]
    b_writes = [c for c in calls if c.credential == b_id and c.write and 200 <= c.code < 300]
    b_lease = [c for c in b_writes if c.resource == "leases"]
    acquired = b_lease[0].at if b_lease else None
    acts = [c for c in b_writes if c.resource != "leases"]
    first_act = acts[0].at if acts else None
    # Any request for a rollout (a read starts every pass): a pass may find nothing to
    # write, say while a pause runs.
    requests = [c for c in calls if c.credential == b_id and c.resource != "leases"]
    first_request = next((c.at for c in requests if acquired and c.at >= acquired), None)
    after_expiry = _seconds(expiry, first_act)
    return {
        "rollouts": rollouts,
        "signal": "SIGSTOP, SIGCONT after the takeover" if how == "stop" else "SIGKILL",
        "lease_duration_s": LEASE_DURATION_S,
        "phases": dict(phases),
        "old_leader_exit_code": old_exit,
        "old_leader_last_renewal": last_renewal.isoformat(),
        "old_leader_lease_expired": expiry.isoformat(),
        "kill_after_last_renewal_s": _seconds(last_renewal, killed_at),
        "new_leader_acquired_after_kill_s": _seconds(killed_at, acquired),
        "new_leader_acquired_after_expiry_s": _seconds(expiry, acquired),
        "new_leader_first_request_after_expiry_s": _seconds(expiry, first_request),
        "new_leader_first_write_after_kill_s": _seconds(killed_at, first_act),
        "new_leader_first_write_after_expiry_s": after_expiry,
        "new_leader_first_write": None if not acts else f"{acts[0].verb} {acts[0].resource}",
        "old_leader_writes_after_kill": len(old_writes_after_kill),
        "old_leader_writes_after_lease_expired": old_writes_after_expiry,
        # The successor may act only once the Lease has expired (one actor at a time), so
        # the failover time is at least the Lease duration after the old leader's last
        # renewal; the target is that it acts within one more Lease duration.
        "target_acts_within_lease_duration_of_expiry": after_expiry is not None
        and after_expiry <= LEASE_DURATION_S,
        "target_no_old_leader_write_after_expiry": not old_writes_after_expiry,
    }


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else round((end - start).total_seconds(), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rollouts", type=int, default=1000, help="scale run size (1000)")
    parser.add_argument("--workers", type=int, default=4, help="controller workers (4)")
    parser.add_argument("--idle", type=float, default=60.0, help="idle seconds measured (60)")
    parser.add_argument(
        "--drive-timeout",
        type=float,
        help="seconds to wait for every rollout to end (default 60 + 6 per rollout); after "
        "it the run is measured as far as it got (time_to_all_terminal_s null)",
    )
    parser.add_argument("--failover-rollouts", type=int, default=20, help="failover run (20)")
    parser.add_argument(
        "--failover-signal",
        choices=("kill", "stop", "both"),
        default="both",
        help="kill: SIGKILL the leader; stop: freeze it (SIGSTOP) past its Lease and resume "
        "it after the takeover; both (default): one run each",
    )
    parser.add_argument("--skip-scale", action="store_true", help="only the failover run")
    parser.add_argument("--skip-failover", action="store_true", help="only the scale run")
    parser.add_argument("--output", type=Path, help="also write the JSON here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    if args.rollouts < 1 or args.failover_rollouts < 1:
        parser.error("--rollouts and --failover-rollouts must be at least 1")
    binaries = find_binaries()
    if binaries is None:
        parser.error("control plane binaries not built (run tests/controlplane/build.sh)")
    workdir = Path(tempfile.mkdtemp(prefix="mlrollout-scale-"))
    plane = ControlPlane(binaries, workdir).start(timeout=180)
    api = kubernetes.config.new_client_from_config(config_file=str(plane.admin_kubeconfig))
    result: dict[str, Any] = {
        "benchmark": "reliability_scale",
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "load_average_1m": os.getloadavg()[0]},
        "control_plane": str(binaries),
    }
    try:
        for name in CRD_FILES:
            install_crd(api, CRD_DIR / name)
        install_crd(api, plane.httproute_crd)
        if not args.skip_scale:
            result["scale"] = run_scale(
                plane,
                api,
                workdir,
                rollouts=args.rollouts,
                workers=args.workers,
                idle_s=args.idle,
                drive_timeout=args.drive_timeout or 60 + 6 * args.rollouts,
            )
        if not args.skip_failover:
            signals = (
                ("kill", "stop") if args.failover_signal == "both" else (args.failover_signal,)
            )
            result["failover"] = [
                run_failover(plane, api, workdir, rollouts=args.failover_rollouts, how=how)
                for how in signals
            ]
    finally:
        result["machine"]["load_average_1m_end"] = os.getloadavg()[0]
        api.close()
        plane.stop()
        if not args.keep:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
        else:
            result["workdir"] = str(workdir)
    text = json.dumps(result, indent=2)
    print(text)
    if args.output:
        args.output.write_text(text + "\n")


if __name__ == "__main__":
    main()
