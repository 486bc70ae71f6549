"""The controller image's Dockerfile, read rather than built (no container engine runs in the
test suite): every property SAFETY.md asks of an image, checked on the file itself, and the
hash-locked requirements checked against pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .cli_lines import check_command_line
from .dockerfile import Stage, parse_dockerfile

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
LOCKS = ROOT / "requirements"
CONTROLLER = ROOT / "examples" / "deploy" / "controller.yaml"
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
# What a name of a build argument or environment variable holding a secret looks like.
SECRET_NAME = re.compile(r"TOKEN|PASSW|SECRET|CREDENTIAL|API_?KEY|PRIVATE|AUTH", re.IGNORECASE)
# The image's interpreter: distroless Debian 12 runs CPython 3.11 on x86_64 Linux.
IMAGE_PYTHON = {
    **default_environment(),
    "python_version": "3.11",
    "python_full_version": "3.11.2",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE)


def _runs(stages: list[Stage]) -> list[str]:
    return [run.args for stage in stages for run in stage.all("RUN")]


def _pip_installs(stages: list[Stage]) -> list[str]:
    commands = [c.strip() for run in _runs(stages) for c in run.split("&&")]
    return [c for c in commands if re.search(r"\bpip3?\b.*\binstall\b", c)]


def test_multi_stage_with_every_base_image_pinned_by_digest(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    names = {s.name for s in stages if s.name}
    for stage in stages:
        if stage.base in names:
            continue
        assert DIGEST.search(stage.base), f"Dockerfile:{stage.line}: {stage.base} not pinned"
    final = stages[-1]
    assert final.base != stages[0].base
    # The final stage only receives files: no RUN (it has no shell), no pip.
    assert final.all("RUN") == []
    assert [c.args.split()[0] for c in final.all("COPY")] == [f"--from={stages[0].name}"]


def test_builder_python_matches_the_runtime_and_the_lock(stages: list[Stage]) -> None:
    builder, final = stages[0], stages[-1]
    assert re.search(r"/python:3\.11[.-]", builder.base), builder.base
    assert "python3-debian12" in final.base  # Debian 12: CPython 3.11
    [entrypoint] = final.all("ENTRYPOINT")
    assert entrypoint.exec_form() == ["/usr/bin/python3.11", "-m", "mlrollout"]
    assert (ROOT / "src" / "mlrollout" / "__main__.py").is_file()
    [command] = final.all("CMD")
    default = command.exec_form()
    assert default is not None
    check_command_line(default)
    script = (LOCKS / "compile.sh").read_text()
    for flag in ("--generate-hashes", "--python-version 3.11", "--only-binary :all:"):
        assert flag in script


def test_dependencies_install_only_from_hash_locked_files(stages: list[Stage]) -> None:
    installs = _pip_installs(stages)
    locked = [c for c in installs if "--require-hashes" in c]
    assert len(locked) == 2
    files = []
    for command in locked:
        assert "--no-deps" in command.split()
        assert "--only-binary=:all:" in command.split()
        [lock] = re.findall(r"-r (\S+)", command)
        files.append(lock)
    assert sorted(files) == ["requirements/build.txt", "requirements/controller.txt"]
    # The one other install is the project's own wheel, built in the image, from a file.
    [own] = [c for c in installs if c not in locked]
    assert {"--no-deps", "--no-index"} <= set(own.split())
    assert own.split()[-1] == "/build/dist/mlrollout-*.whl"
    assert not any(re.search(r"\b(apt-get|apk|uv|conda|curl|wget)\b", r) for r in _runs(stages))


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    hashes: tuple[str, ...]
    via: tuple[str, ...]


def _read_lock(path: Path) -> dict[str, Pin]:
    text = path.read_text()
    pins: dict[str, Pin] = {}
    for block in re.split(r"\n(?=\S)", text):
        first = block.splitlines()[0]
        if first.startswith("#"):
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+) \\", first)
        assert match, f"{path.name}: not pinned with == and hashes: {first!r}"
        hashes = tuple(re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
        via_lines = re.findall(r"#[ \t]+(?:via[ \t]+)?(\S.*)", block)
        via = tuple(v.strip() for v in via_lines if v.strip() != "via")
        name = canonicalize_name(match[1])
        pins[name] = Pin(name, match[2], hashes, via)
    return pins


@pytest.mark.parametrize("lock", ["controller.txt", "build.txt"])
def test_lock_pins_every_package_with_hashes(lock: str) -> None:
    text = (LOCKS / lock).read_text()
    assert text.startswith("# This file was autogenerated by uv via the following command:")
    assert "#    bash requirements/compile.sh" in text
    assert not re.search(r"^\s*(-e|--editable|--index-url|--extra-index-url|git\+|https?:)", text)
    pins = _read_lock(LOCKS / lock)
    assert pins
    for pin in pins.values():
        assert pin.hashes, f"{lock}: {pin.name} has no hash"


def test_controller_lock_matches_pyproject_runtime_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = [Requirement(r) for r in project["project"]["dependencies"]]
    pins = _read_lock(LOCKS / "controller.txt")
    for requirement in declared:
        if requirement.marker and not requirement.marker.evaluate(IMAGE_PYTHON):
            continue
        pin = pins.get(canonicalize_name(requirement.name))
        assert pin is not None, f"{requirement} is not in requirements/controller.txt"
        assert requirement.specifier.contains(pin.version, prereleases=True), (requirement, pin)
    # Nothing else: every other pin is pulled in by a pinned package (its "# via" names one).
    names = {canonicalize_name(r.name) for r in declared}
    for pin in pins.values():
        parents = {canonicalize_name(v.split()[0]) for v in pin.via if v.split()}
        if pin.name in names:
            assert "mlrollout" in parents, pin
        else:
            assert parents & set(pins), f"{pin.name} is pinned but nothing needs it: {pin.via}"


def test_build_lock_matches_the_build_system() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = _read_lock(LOCKS / "build.txt")
    for raw in project["build-system"]["requires"]:
        requirement = Requirement(raw)
        pin = pins[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(pin.version), (requirement, pin)


def test_bytecode_is_compiled_at_build_time_and_never_written(stages: list[Stage]) -> None:
    builder, final = stages[0], stages[-1]
    [compile_step] = [r for r in builder.all("RUN") if "compileall" in r.args]
    # unchecked-hash: the .pyc files are used without comparing source timestamps.
    assert re.search(r"compileall .*--invalidation-mode unchecked-hash /app/lib", compile_step.args)
    [copy] = final.all("COPY")
    assert copy.args.split()[1:] == ["/app/lib", "/app/lib"]
    env = {k: v for e in final.all("ENV") for k, v in e.pairs().items()}
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONPATH"] == "/app/lib"


def test_writable_paths_are_only_under_tmp(stages: list[Stage]) -> None:
    final = stages[-1]
    env = {k: v for e in final.all("ENV") for k, v in e.pairs().items()}
    for key in ("HOME", "TMPDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "MPLCONFIGDIR"):
        assert env[key] == "/tmp" or env[key].startswith("/tmp/"), key
    assert [w.args for w in final.all("WORKDIR")] == ["/tmp"]
    # The Deployment mounts an emptyDir there and makes the root filesystem read-only.
    pod = yaml.safe_load(CONTROLLER.read_text().split("\n---\n")[0])["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_runs_as_a_numeric_non_root_user(stages: list[Stage]) -> None:
    [user] = stages[-1].all("USER")
    match = re.fullmatch(r"(\d+):(\d+)", user.args)
    assert match, user
    uid, gid = int(match[1]), int(match[2])
    assert uid != 0
    assert gid != 0
    pod = yaml.safe_load(CONTROLLER.read_text().split("\n---\n")[0])["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == uid
    assert pod["securityContext"]["runAsGroup"] == gid


def test_no_secret_can_reach_a_layer(stages: list[Stage]) -> None:
    for stage in stages:
        for instruction in stage.all("ARG") + stage.all("ENV"):
            for name in instruction.pairs():
                assert not SECRET_NAME.search(name), f"Dockerfile:{instruction.line}: {name}"
        assert stage.all("ADD") == []  # no remote URLs or archives
        for copy in stage.all("COPY"):
            words = copy.args.split()
            if words[0].startswith("--from="):
                continue
            for source in words[:-1]:
                assert source.rstrip("/") in {
                    "requirements",
                    "pyproject.toml",
                    "README.md",
                    "analyses",
                    "src",
                }, source
        for run in stage.all("RUN"):
            assert "--mount=type=secret" not in run.args


def _dockerignore() -> list[str]:
    return [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]


def test_dockerignore_admits_only_what_the_image_copies(stages: list[Stage]) -> None:
    patterns = _dockerignore()
    assert patterns[0] == "*"  # an allow-list
    admitted = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    copied = {
        source.rstrip("/")
        for stage in stages
        for copy in stage.all("COPY")
        if not copy.args.startswith("--from=")
        for source in copy.args.split()[:-1]
    }
    assert admitted == copied | {"Dockerfile"}
    # Excluded again inside the admitted directories (after the ! lines, so they win).
    last_admit = max(i for i, p in enumerate(patterns) if p.startswith("!"))
    after = set(patterns[last_admit + 1 :])
    assert {"**/.env", "**/*.pem", "**/*.key", "**/*kubeconfig*", "**/__pycache__"} <= after


def test_build_context_holds_no_private_key() -> None:
    admitted = [p[1:].rstrip("/") for p in _dockerignore() if p.startswith("!")]
    for name in admitted:
        path = ROOT / name
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for file in files:
            if file.suffix in (".pyc",) or "__pycache__" in file.parts:
                continue
            data = file.read_bytes()
            assert b"PRIVATE KEY-----" not in data, file


def test_oci_labels_come_from_build_arguments(stages: list[Stage]) -> None:
    final = stages[-1]
    args = {k for a in final.all("ARG") for k in a.pairs()}
    labels = {k: v for label in final.all("LABEL") for k, v in label.pairs().items()}
    for key, arg in (
        ("org.opencontainers.image.source", "SOURCE_URL"),
        ("org.opencontainers.image.revision", "REVISION"),
    ):
        assert labels[key] == "${" + arg + "}"
        assert arg in args


def test_controller_reads_the_templates_shipped_in_the_image(stages: list[Stage]) -> None:
    env = {k: v for e in stages[-1].all("ENV") for k, v in e.pairs().items()}
    pod = yaml.safe_load(CONTROLLER.read_text().split("\n---\n")[0])["spec"]["template"]["spec"]
    [templates] = [a for a in pod["containers"][0]["args"] if a.startswith("--templates=")]
    assert templates == f"--templates={env['PYTHONPATH']}/mlrollout/analyses"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "analyses/*.yaml" in project["tool"]["setuptools"]["package-data"]["mlrollout"]
