"""The design card's layout: one import namespace, and dependencies that point one way."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("shared", "workers", "supervisor", "loadtest")
# Who may import whom: supervisor -> shared <- workers; loadtest imports nothing of ours.
ALLOWED = {"shared": {"shared"}, "workers": {"shared", "workers"},
           "supervisor": {"shared", "supervisor"}, "loadtest": {"loadtest"}}


def _our_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "dcmrecv_cluster" and len(parts) > 1:
                found.add(parts[1])
            elif parts[0] in FOLDERS:
                found.add(f"bare:{parts[0]}")
    return found


@pytest.mark.parametrize("folder", FOLDERS)
def test_dependencies_point_one_way(folder):
    for path in (ROOT / folder).rglob("*.py"):
        imported = _our_imports(path)
        assert not {i for i in imported if i.startswith("bare:")}, f"{path} imports a bare folder name"
        assert imported <= ALLOWED[folder], f"{path} imports {imported - ALLOWED[folder]}"


def _venv_with_our_dependencies(where: Path) -> Path:
    """A fresh venv that sees the test run's own dependencies, never the system's site-packages.

    A .pth file lists this interpreter's site-packages directories as plain paths: those are added
    to sys.path without their own .pth files being run, so the editable install of the running
    test environment (a .pth finder) does not leak in, and dcmrecv_cluster is not importable yet.
    pip and the build backend (setuptools, wheel: the test extra) come the same way: no network.
    """
    venv.EnvBuilder(system_site_packages=False, with_pip=False).create(where)
    python = where / "bin" / "python"
    own = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                         capture_output=True, text=True, check=True).stdout.strip()
    ours = [p for p in sys.path if p.endswith("-packages") and Path(p).is_dir()]
    assert ours, sys.path
    Path(own, "test-dependencies.pth").write_text("".join(f"{p}\n" for p in ours))
    return python


def _probe(python: Path, code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize("editable", [False, True], ids=["pip-install", "pip-install-editable"])
def test_installed_package_imports_under_one_namespace(tmp_path, editable):
    python = _venv_with_our_dependencies(tmp_path / "venv")
    before = _probe(python, "import importlib.util, zmq, pydicom, pynetdicom\n"
                            "print(importlib.util.find_spec('dcmrecv_cluster'))", tmp_path)
    assert before.returncode == 0, before.stderr
    assert before.stdout.strip() == "None", "dcmrecv_cluster importable before the install: " + before.stdout
    source = ROOT if editable else _copy_of_the_sources(tmp_path / "src")
    target = ["-e", str(source)] if editable else [str(source)]
    pip = [python, "-m", "pip", "-q", "--disable-pip-version-check", "--no-input"]
    subprocess.run([*pip, "install", "--no-deps", "--no-build-isolation", "--no-index", *target], check=True,
                   cwd=tmp_path)
    probe = ("import dcmrecv_cluster.shared, dcmrecv_cluster.workers, dcmrecv_cluster.supervisor, "
             "dcmrecv_cluster.loadtest, importlib.util, sys\n"
             "bare = [n for n in ('shared', 'workers', 'supervisor', 'loadtest') if importlib.util.find_spec(n)]\n"
             "assert not bare, bare\n"
             "import dcmrecv_cluster.supervisor.cli, dcmrecv_cluster.workers.main\n"
             "for name in ('shared', 'workers', 'supervisor', 'loadtest'):\n"
             "    print(sys.modules['dcmrecv_cluster.' + name].__file__)")
    result = _probe(python, probe, tmp_path)
    assert result.returncode == 0, result.stderr
    locations = [Path(line) for line in result.stdout.splitlines()]
    assert len(locations) == 4
    if editable:
        assert locations == [ROOT / folder / "__init__.py" for folder in FOLDERS], locations
    else:
        site = Path(_probe(python, "import sysconfig; print(sysconfig.get_path('purelib'))", tmp_path).stdout.strip())
        assert locations == [site / "dcmrecv_cluster" / folder / "__init__.py" for folder in FOLDERS], locations
        wheel_dir = tmp_path / "wheel"
        subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", wheel_dir,
                        str(source)], check=True, cwd=tmp_path)
        names = zipfile.ZipFile(next(wheel_dir.glob("*.whl"))).namelist()
        packages = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
        assert packages == {"dcmrecv_cluster"}, packages


def _copy_of_the_sources(where: Path) -> Path:
    """What a build of the worktree reads, so that it leaves no build/ or egg-info in the worktree."""
    where.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, where / name)
    for folder in FOLDERS:
        shutil.copytree(ROOT / folder, where / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return where
