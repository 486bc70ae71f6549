"""``mlrollout admission`` as a process: bad input exits 2 in one line; run for real, it
serves reviews over TLS with policies from the cluster (the real control plane, as cluster
admin) and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from controlplane.fixtures import TestBed, open_bed
from controlplane.policies import GOVERNED, label, own_policy, release_policies
from gates.real_registry import free_port
from mlrollout.cli.app import main

from .certs import write_tls_files
from .reviews import pod_spec, review, workload

SRC = Path(__file__).resolve().parents[2] / "src"


def test_missing_certificate_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tls = write_tls_files(tmp_path)
    args = ["admission", "--tls-cert-file", str(tmp_path / "no.crt")]
    with pytest.raises(SystemExit) as info:
        main([*args, "--tls-private-key-file", str(tls.key)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err == f"mlrollout: {tmp_path / 'no.crt'}: --tls-cert-file: no such file\n"


@pytest.mark.slow
@pytest.mark.controlplane
def test_served_by_the_cli_process(tmp_path: Path, cp: TestBed) -> None:
    label(cp, cp.namespace, GOVERNED)
    with (
        open_bed(cp.session, f"{cp.namespace}-sandbox", tmp_path / "sandbox") as sandbox,
        release_policies(cp.api) as policies,
    ):
        policies.create(own_policy(cp, namespaces=[cp.namespace, sandbox.namespace]))
        _serve_and_stop(tmp_path, cp, prod=cp.namespace, sandbox=sandbox.namespace)


def _serve_and_stop(tmp_path: Path, cp: TestBed, *, prod: str, sandbox: str) -> None:
    kubeconfig_path = cp.session.plane.admin_kubeconfig
    tls = write_tls_files(tmp_path)
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "mlrollout",
        "admission",
        f"--tls-cert-file={tls.cert}",
        f"--tls-private-key-file={tls.key}",
        f"--port={port}",
        "--host=127.0.0.1",
        f"--kubeconfig={kubeconfig_path}",
    ]
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    log = tmp_path / "admission.log"
    with log.open("w") as sink:
        process = subprocess.Popen(command, env=env, stderr=sink)
    context = ssl.create_default_context(cafile=str(tls.ca))
    base = f"https://127.0.0.1:{port}"
    try:
        with httpx.Client(verify=context, timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get(f"{base}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "admission did not start"
                time.sleep(0.2)
            tag_only = workload("Pod", pod_spec("nginx:1.27"))
            answers = [
                client.post(
                    f"{base}/validate", content=json.dumps(review("Pod", tag_only, namespace=ns))
                ).json()["response"]
                for ns in (prod, sandbox)
            ]
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
        stderr = log.read_text()
    assert answers[0]["allowed"] is False
    assert answers[0]["status"]["message"].startswith(
        "spec.containers[0].image: UNPINNED_REFERENCE"
    )
    assert answers[1]["allowed"] is True
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert f"denied {prod}/Pod" in stderr
