"""The design card's layout: one import namespace, and dependencies that point one way."""

from __future__ import annotations

import ast
import subprocess
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
    # System site-packages give the dependencies already installed for the tests; our package
    # itself is installed fresh, and imported from outside the source tree.
    venv.EnvBuilder(system_site_packages=True, with_pip=True).create(where)
    return where / "bin" / "python"


@pytest.mark.parametrize("editable", [False, True], ids=["pip-install", "pip-install-editable"])
def test_installed_package_imports_under_one_namespace(tmp_path, editable):
    python = _venv_with_our_dependencies(tmp_path / "venv")
    target = ["-e", str(ROOT)] if editable else [str(ROOT)]
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", *target], check=True, cwd=tmp_path)
    probe = ("import dcmrecv_cluster.shared, dcmrecv_cluster.workers, dcmrecv_cluster.supervisor, "
             "dcmrecv_cluster.loadtest, importlib.util, sys\n"
             "bare = [n for n in ('shared', 'workers', 'supervisor', 'loadtest') if importlib.util.find_spec(n)]\n"
             "assert not bare, bare\n"
             "import dcmrecv_cluster.supervisor.cli, dcmrecv_cluster.workers.main\n"
             "print(dcmrecv_cluster.shared.__file__)")
    result = subprocess.run([python, "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    location = Path(result.stdout.strip())
    assert (location.is_relative_to(ROOT)) == editable
    if not editable:
        wheel_dir = tmp_path / "wheel"
        subprocess.run([python, "-m", "pip", "wheel", "-q", "--no-deps", "-w", wheel_dir, str(ROOT)], check=True,
                       cwd=tmp_path)
        names = zipfile.ZipFile(next(wheel_dir.glob("*.whl"))).namelist()
        packages = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
        assert packages == {"dcmrecv_cluster"}, packages
