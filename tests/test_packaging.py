"""A built wheel, installed in a fresh virtual environment, runs and finds its resources."""

import json
import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # the whole module: see `make test-fast`

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(REPO)],
        check=True,
        capture_output=True,
        text=True,
    )
    (built,) = out.glob("labeler-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv with only the wheel installed in it; its dependencies are borrowed read-only
    from the development environment through a .pth line (which does not bring our editable
    install along: .pth files on an added path are not processed)."""
    env_dir = tmp_path_factory.mktemp("fresh-venv")
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
        text=True,
    )
    site_packages = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site_packages, "borrowed-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env_dir


def run(env_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_wheel_holds_every_module_and_resource(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder, package in [
        ("labeler", "labeler"),
        ("trainer", "trainer"),
        ("resources", "labeler/resources"),
    ]:
        for path in (REPO / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                assert f"{package}/{path.relative_to(REPO / folder).as_posix()}" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "labeler = labeler.cli:main" in text
    assert "labeler-train = trainer.cli:main" in text


def test_the_installed_wheel_runs_and_finds_its_resources(installed, tmp_path):
    bin_dir = installed / "bin"
    where = run(installed, str(bin_dir / "python"), "-c", "import labeler; print(labeler.__file__)", cwd=tmp_path)
    assert where.stdout.strip().startswith(str(installed)), where
    assert run(installed, str(bin_dir / "labeler"), "--version", cwd=tmp_path).stdout.startswith("labeler ")
    assert run(installed, str(bin_dir / "labeler-train"), "--version", cwd=tmp_path).returncode == 0
    for module in ("labeler", "trainer"):
        result = run(installed, str(bin_dir / "python"), "-m", module, "--version", cwd=tmp_path)
        assert result.returncode == 0, result.stderr

    # `init` stores the bundled guidelines: it fails unless the resources were installed.
    created = run(installed, str(bin_dir / "labeler"), "init", "p.db", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    stats = run(installed, str(bin_dir / "labeler"), "stats", "p.db", "--json", cwd=tmp_path)
    assert json.loads(stats.stdout)["counts"]["prompts"] == 0

    demo = run(
        installed,
        str(bin_dir / "python"),
        "-c",
        "from pathlib import Path; from labeler.demo import build_demo_project; "
        "from labeler.store import open_store; build_demo_project(Path('demo.db')); "
        "print(open_store('demo.db').stats().prompts)",
        cwd=tmp_path,
    )
    assert demo.returncode == 0, demo.stderr
    assert int(demo.stdout) >= 40
