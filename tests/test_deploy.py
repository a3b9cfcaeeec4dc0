"""Static checks of deploy/: files parse, images are pinned, versions agree, options exist.

No Docker, gcloud, kubectl or network: the Dockerfiles are read with a small parser, shell
scripts with `bash -n`, and every pipeline option the files pass is looked up in the options Beam
and docexit register (Beam silently drops an option it does not know).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import apache_beam
import pytest

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"

BEAM_VERSION = apache_beam.__version__
TORCH_VERSION = "2.13.0"  # Makefile TORCH_VERSION

# Options the deploy files use that docexit does not provide yet (see deploy/README.md, "For the
# pipeline"). Remove an entry once docexit has the option: the xfail below is strict.
PENDING_DOCEXIT_OPTIONS: set[str] = set()

# Flags of tools other than Beam/docexit that appear in deploy/ (loose scan only).
TOOL_FLAGS = {
    # gcloud (dataflow flex-template, scheduler)
    "--additional-experiments", "--attempt-deadline", "--headers", "--http-method", "--image",
    "--location", "--max-workers", "--message-body", "--metadata-file",
    "--oauth-service-account-email", "--oauth-token-scope", "--parameters", "--project",
    "--region", "--schedule", "--sdk-language", "--staging-location", "--temp-location",
    "--template-file-gcs-location", "--time-zone", "--uri", "--worker-machine-type",
    # docker, apt-get, pip, tesseract
    "--build-arg", "--no-install-recommends", "--index-url", "--exclude-editable",
    "--disable-pip-version-check", "--version",
    # Beam's Flink job server (Java FlinkJobServerDriver)
    "--flink-master", "--job-host", "--job-port", "--artifact-port", "--expansion-port",
    "--artifacts-dir",
    # Beam SDK container boot program
    "--worker_pool",
}  # fmt: skip

DOCKER_INSTRUCTIONS = {
    "FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
    "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
}  # fmt: skip

FLAG = re.compile(r"(?<![-\w])--[A-Za-z][-\w]*")


def deploy_files(*suffixes: str) -> list[Path]:
    return sorted(
        p for p in DEPLOY.rglob("*") if p.is_file() and any(p.name.endswith(s) for s in suffixes)
    )


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


# --- registered options ---------------------------------------------------------------------


@cache
def registered_flags() -> tuple[frozenset[str], frozenset[str]]:
    """(Beam's option flags, docexit's option flags), exactly as spelled on a command line."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from docexit.pipeline.options import DocexitOptions

    beam, docexit = argparse.ArgumentParser(add_help=False), argparse.ArgumentParser(add_help=False)
    # The classes PipelineOptions.get_all_options() parses with (its direct subclasses).
    for cls in PipelineOptions.__subclasses__():
        cls._add_argparse_args(docexit if cls is DocexitOptions else beam)
    all_dests = set(PipelineOptions([]).get_all_options())
    parsed_dests = {a.dest for p in (beam, docexit) for a in p._actions}
    assert all_dests <= parsed_dests, all_dests - parsed_dests

    def flags(parser: argparse.ArgumentParser) -> frozenset[str]:
        return frozenset(f for f in parser._option_string_actions if f.startswith("--"))

    return flags(beam), flags(docexit)


def shell_array_flags(path: Path) -> list[str]:
    """Flags inside `PIPELINE_ARGS=(...)`, `DOCEXIT_ARGS+=(...)`, `params=(...)`-style arrays whose
    name ends in _ARGS: what the script passes to `docexit run`."""
    text = path.read_text()
    flags = []
    for match in re.finditer(r"\b[A-Z_]*_ARGS\+?=\((.*?)\)\n", text, flags=re.S):
        for token in shlex.split(match.group(1), comments=True):
            if token.startswith("--"):
                flags.append(token.split("=", 1)[0])
    return flags


def template_parameter_names() -> dict[str, list[str]]:
    """Flex template parameter names: metadata.json and the scheduler's launch request."""
    metadata = json.loads((DEPLOY / "dataflow" / "metadata.json").read_text())
    launch = json.loads((DEPLOY / "dataflow" / "nightly-launch.json").read_text())
    return {
        "deploy/dataflow/metadata.json": [p["name"] for p in metadata["parameters"]],
        "deploy/dataflow/nightly-launch.json": list(launch["launchParameter"]["parameters"]),
    }


def option_problems(flags: list[str], beam: frozenset[str], docexit: frozenset[str]) -> list[str]:
    return [f for f in flags if f not in beam and f not in docexit]


def template_name_to_flag(name: str, beam: frozenset[str], docexit: frozenset[str]) -> str:
    """The flag flex_main.py turns a template parameter into."""
    hyphenated = "--" + name.replace("_", "-")
    return hyphenated if hyphenated in docexit | PENDING_DOCEXIT_OPTIONS else f"--{name}"


def used_pipeline_options() -> dict[str, list[str]]:
    """Every pipeline option deploy/ passes to docexit/Beam, by file."""
    beam, docexit = registered_flags()
    used = {rel(p): shell_array_flags(p) for p in deploy_files(".sh")}
    for name, params in template_parameter_names().items():
        used[name] = [template_name_to_flag(n, beam, docexit) for n in params]
    return used


def test_docexit_and_beam_register_options() -> None:
    beam, docexit = registered_flags()
    assert {"--runner", "--no_auth", "--sdk_container_image", "--flink_version"} <= beam
    assert {"--input", "--output", "--model", "--num-shards", "--model-copies"} <= docexit


def test_shell_scripts_pass_options_through_arrays() -> None:
    # The strict check below only sees flags in *_ARGS arrays: make sure the launch scripts use them.
    for name in ("dataflow/launch.sh", "flink/submit.sh"):
        flags = shell_array_flags(DEPLOY / name)
        assert "--runner=DataflowRunner" not in flags and "--runner" in flags, name
        assert {"--input", "--output", "--model"} <= set(flags), name


def test_pipeline_options_exist_in_beam_or_docexit() -> None:
    beam, docexit = registered_flags()
    problems = {
        name: bad
        for name, flags in used_pipeline_options().items()
        if (
            bad := [
                f for f in option_problems(flags, beam, docexit) if f not in PENDING_DOCEXIT_OPTIONS
            ]
        )
    }
    assert not problems, f"unknown pipeline options (Beam would drop them silently): {problems}"


def test_pending_docexit_options_now_exist() -> None:
    # Plain test while PENDING_DOCEXIT_OPTIONS is empty; mark it xfail(strict=True) again when
    # the deploy files start to use an option docexit does not have yet.
    _, docexit = registered_flags()
    assert docexit >= PENDING_DOCEXIT_OPTIONS
    assert "--skip-existing" in docexit


def test_pending_options_are_really_used() -> None:
    used = {f for flags in used_pipeline_options().values() for f in flags}
    assert used >= PENDING_DOCEXIT_OPTIONS


def test_every_flag_in_deploy_is_known() -> None:
    """Loose scan of every flag-looking token (scripts, manifests, Dockerfiles, cron)."""
    beam, docexit = registered_flags()
    known = beam | docexit | TOOL_FLAGS | PENDING_DOCEXIT_OPTIONS
    unknown = {}
    for path in deploy_files(".sh", ".yaml", ".json", "Dockerfile", "crontab"):
        text = "\n".join(
            line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")
        )
        bad = sorted({f for f in FLAG.findall(text) if f not in known})
        if bad:
            unknown[rel(path)] = bad
    assert not unknown, unknown


# --- files parse ----------------------------------------------------------------------------


def test_json_files_parse() -> None:
    files = deploy_files(".json")
    assert files
    for path in files:
        json.loads(path.read_text())


def test_yaml_files_parse_as_kubernetes_objects() -> None:
    yaml = pytest.importorskip("yaml")
    files = deploy_files(".yaml", ".yml")
    assert files
    kinds = []
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            assert {"apiVersion", "kind", "metadata"} <= set(doc), rel(path)
            assert doc["metadata"].get("name"), rel(path)
            kinds.append(doc["kind"])
    assert {"Deployment", "Service", "CronJob"} <= set(kinds)


def test_shell_scripts_parse() -> None:
    files = deploy_files(".sh")
    assert files
    for path in files:
        result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, f"{rel(path)}: {result.stderr}"
        assert path.stat().st_mode & 0o111, f"{rel(path)} is not executable"
        assert "set -euo pipefail" in path.read_text(), rel(path)


def test_crontab_lines() -> None:
    lines = [
        line
        for line in (DEPLOY / "flink" / "crontab").read_text().splitlines()
        if line.strip() and not line.startswith("#") and "=" not in line.split()[0]
    ]
    assert lines
    for line in lines:
        fields = line.split(None, 5)
        assert len(fields) == 6 and all(re.fullmatch(r"[\d*/,-]+", f) for f in fields[:5]), line
        assert "submit.sh" in fields[5] and "%" not in fields[5].replace("\\%", ""), line


# --- Dockerfiles ----------------------------------------------------------------------------


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        keyword, _, args = pending.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    assert not pending, f"{rel(path)}: dangling line continuation"
    return instructions


def dockerfiles() -> list[Path]:
    files = deploy_files("Dockerfile")
    assert len(files) == 3, files
    return files


def image_reference_is_pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag not in ("", "latest") and "$" not in image


@pytest.mark.parametrize("path", dockerfiles(), ids=rel)
def test_dockerfile_parses_and_pins_its_base(path: Path) -> None:
    instructions = dockerfile_instructions(path)
    defaults = dict(a.split("=", 1) for k, a in instructions if k == "ARG" and "=" in a)
    keywords = [k for k, _ in instructions]
    assert set(keywords) <= DOCKER_INSTRUCTIONS, set(keywords) - DOCKER_INSTRUCTIONS
    assert next(k for k in keywords if k != "ARG") == "FROM"
    froms = [args.split()[0] for k, args in instructions if k == "FROM"]
    assert all(image_reference_is_pinned(image) for image in froms), froms
    for keyword, args in instructions:
        if keyword in ("ENTRYPOINT", "CMD") and args.startswith("["):
            json.loads(args)  # exec form must be valid JSON
        if keyword == "COPY" and not args.startswith("--from"):
            *sources, _ = shlex.split(args)
            for source in sources:
                source = re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], source)
                assert (ROOT / source).exists(), f"{rel(path)}: COPY source {source} missing"
        if keyword == "RUN" and "pip install" in args and "torch==" in args:
            assert "${TORCH_VERSION}" in args  # torch pinned by the ARG checked below
    assert defaults.get("TORCH_VERSION") == TORCH_VERSION
    # torch is installed, pinned, before the project.
    runs = [a for k, a in instructions if k == "RUN"]
    torch_step = next(i for i, a in enumerate(runs) if "torch==" in a)
    project_step = next(i for i, a in enumerate(runs) if "/opt/docexit/src" in a)
    assert torch_step < project_step
    assert "pip check" in runs[project_step]
    assert "-c /opt/docexit/constraints.txt" in runs[project_step]


@pytest.mark.parametrize("name", ["worker.Dockerfile", "worker-gpu.Dockerfile"])
def test_worker_images(name: str) -> None:
    instructions = dockerfile_instructions(DEPLOY / "docker" / name)
    froms = [a for k, a in instructions if k == "FROM"]
    assert froms == [f"apache/beam_python3.11_sdk:{BEAM_VERSION}"]
    assert ("ENTRYPOINT", '["/opt/apache/beam/boot"]') in instructions
    runs = " ".join(a for k, a in instructions if k == "RUN")
    assert "tesseract-ocr" in runs
    cpu_index = "download.pytorch.org/whl/cpu" in runs
    assert cpu_index == (name == "worker.Dockerfile")  # the GPU image takes PyPI's CUDA build
    env = " ".join(a for k, a in instructions if k == "ENV")
    assert "OMP_THREAD_LIMIT=1" in env


def test_launcher_image() -> None:
    instructions = dockerfile_instructions(DEPLOY / "dataflow" / "launcher.Dockerfile")
    (base,) = [a for k, a in instructions if k == "FROM"]
    assert base.startswith("gcr.io/dataflow-templates-base/python311-template-launcher-base:")
    env = " ".join(a for k, a in instructions if k == "ENV")
    assert "FLEX_TEMPLATE_PYTHON_PY_FILE=/template/flex_main.py" in env
    assert ("COPY", "deploy/dataflow/flex_main.py /template/flex_main.py") in instructions


# --- pinned images and versions -------------------------------------------------------------


def test_kubernetes_images_are_pinned() -> None:
    yaml = pytest.importorskip("yaml")
    images = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "image":
                    images.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    for path in deploy_files(".yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            walk(doc)
    assert images
    assert all(image_reference_is_pinned(i) for i in images), images


def test_no_latest_tags_anywhere() -> None:
    for path in deploy_files(".sh", ".yaml", ".json", "Dockerfile", ".md", "crontab"):
        assert not re.search(r":latest\b", path.read_text()), rel(path)


def test_flink_versions_agree_with_beam() -> None:
    from apache_beam.options.pipeline_options import FlinkRunnerOptions

    manifest = (DEPLOY / "flink" / "flink-cluster.yaml").read_text()
    flink_images = set(re.findall(r"image: flink:(\d+\.\d+)\.\d+-scala_[\d.]+-java\d+", manifest))
    job_servers = set(re.findall(r"image: apache/beam_flink([\d.]+)_job_server:([\d.]+)", manifest))
    submitted = set(
        re.findall(r"--flink_version=([\d.]+)", (DEPLOY / "flink/submit.sh").read_text())
    )
    assert len(flink_images) == 1 and len(job_servers) == 1 and len(submitted) == 1
    (flink,) = flink_images
    assert job_servers == {(flink, BEAM_VERSION)}
    assert submitted == {flink}
    assert flink in FlinkRunnerOptions.PUBLISHED_FLINK_VERSIONS
    assert "--worker_pool" in manifest and "containerPort: 50000" in manifest
    assert "--environment_config=localhost:50000" in (DEPLOY / "flink/submit.sh").read_text()


def test_constraints_pin_every_dependency() -> None:
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins = {}
    for line in (DEPLOY / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version and "+" not in version, line
            pins[canonicalize_name(name)] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not pinned in deploy/constraints.txt"
        assert requirement.specifier.contains(pins[name], prereleases=True), (spec, pins[name])
    assert pins["apache-beam"] == BEAM_VERSION
    assert pins["torch"] == TORCH_VERSION


# --- the flex template entry point ----------------------------------------------------------


@cache
def flex_main() -> ModuleType:
    spec = importlib.util.spec_from_file_location("flex_main", DEPLOY / "dataflow" / "flex_main.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("flex_main", module)
    spec.loader.exec_module(module)
    return module


def test_flex_main_refuses_unknown_options_with_exit_code_2(
    capsys: pytest.CaptureFixture,
) -> None:
    assert flex_main().main(["--outptu=gs://r/out", "--input=gs://r/in/*"]) == 2
    assert "--outptu=gs://r/out (did you mean --output?)" in capsys.readouterr().err


def test_flex_main_translates_template_parameters() -> None:
    module = flex_main()
    docexit_flags, beam_flags = module.option_flags()
    now = datetime.datetime(2026, 1, 31, 2, 0, 5, tzinfo=datetime.UTC)
    argv = [
        "--input=gs://a/x/*.tif,gs://b/y/**",
        "--output=gs://r/nightly/{run_date}/pages-{run_id}",
        "--num_shards=16",
        "--model_copies=1",
        "--no_summary=false",
        "--runner=DataflowRunner",
        "--sdk_container_image=eu-docker.pkg.dev/p/docexit/worker-gpu:0.1.0",
        "--dataflow_service_options=worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver",
    ]
    assert module.translate_args(argv, docexit_flags, beam_flags, now=now) == [
        "--input=gs://a/x/*.tif",
        "--input=gs://b/y/**",
        "--output=gs://r/nightly/2026-01-31/pages-20260131-020005",
        "--num-shards=16",
        "--model-copies=1",
        "--runner=DataflowRunner",
        "--sdk_container_image=eu-docker.pkg.dev/p/docexit/worker-gpu:0.1.0",
        "--dataflow_service_options=worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver",
    ]
    assert module.translate_args(["--no_summary=true"], docexit_flags, beam_flags) == [
        "--no-summary"
    ]
    with pytest.raises(SystemExit, match="neither docexit nor Beam"):
        module.translate_args(["--not_an_option=1"], docexit_flags, beam_flags)
    with pytest.raises(SystemExit, match="true or false"):
        module.translate_args(["--no_summary=maybe"], docexit_flags, beam_flags)
    translate = module.translate_args
    assert translate(["--skip_existing=true"], docexit_flags, beam_flags) == ["--skip-existing"]
    assert translate(["--skip_existing=false"], docexit_flags, beam_flags) == []
    assert translate(["--skip_existing=gs://r/n/**"], docexit_flags, beam_flags) == [
        "--skip-existing=gs://r/n/**"
    ]


def test_template_parameter_regexes_accept_examples() -> None:
    params = {
        p["name"]: p
        for p in json.loads((DEPLOY / "dataflow/metadata.json").read_text())["parameters"]
    }
    good = {
        "input": ["gs://archive/scans/*.tif", "gs://archive/a/**,gs://other-b/c/*.pdf"],
        "output": ["gs://results/docexit/2026-01-31/pages", "gs://res/nightly/{run_date}/pages"],
        "model": ["/opt/docexit/model"],
        "skip_existing": ["true", "false"],
        "threshold": ["0.9", "0.8,0.85,0.9", "3"],
        "device": ["cuda", "cuda:1", "cpu", "auto"],
        "dataflow_service_options": [
            "worker_accelerator=type:nvidia-l4;count:1;install-nvidia-driver"
        ],
    }
    bad = {
        "input": ["/local/path/*", "gs://", "s3://bucket/x", "gs://Bucket/x"],
        "output": ["gs://results/", "gs://results/x/*", "out/pages"],
        "model": ["gs://models/m"],
        "skip_existing": ["yes"],
        "device": ["gpu"],
    }
    for name, values in good.items():
        for value in values:
            assert any(re.fullmatch(r, value) for r in params[name]["regexes"]), (name, value)
    for name, values in bad.items():
        for value in values:
            assert not any(re.fullmatch(r, value) for r in params[name]["regexes"]), (name, value)
    for param in params.values():
        assert param["label"] and param["helpText"], param
        for regex in param.get("regexes", []):
            re.compile(regex)
    assert [n for n, p in params.items() if not p.get("isOptional")] == ["input", "output"]
