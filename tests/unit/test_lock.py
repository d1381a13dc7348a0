"""The lock files agree with pyproject.toml, and the environment is exactly what they say."""

from __future__ import annotations

import importlib.util
import shutil
import tomllib
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]


def load_lockfile_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lockfile", ROOT / "scripts" / "lockfile.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


lockfile = load_lockfile_module()


def pins(lock: Path) -> dict[str, tuple[str, Requirement]]:
    """Package → (locked version, requirement line with its environment marker)."""
    found: dict[str, tuple[str, Requirement]] = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        if not line or line[0] in "# " or "==" not in line:
            continue
        requirement = Requirement(line.split(" \\")[0].strip())
        (specifier,) = requirement.specifier
        found[canonicalize_name(requirement.name)] = (specifier.version, requirement)
    return found


def test_both_locks_were_made_from_this_pyproject() -> None:
    assert lockfile.problems() == []


@pytest.fixture
def copy_of_project(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for name in ("requirements.lock", "requirements-test.lock", "requirements-build.in"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def test_a_dependency_edited_without_relocking_fails_the_check(copy_of_project: Path) -> None:
    pyproject = copy_of_project / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    pyproject.write_text(text.replace('"Babel>=2.19,<3"', '"Babel>=2.18,<3"'), encoding="utf-8")

    problems = lockfile.problems(copy_of_project)

    assert len(problems) == 2
    assert all("run scripts/lock" in problem for problem in problems)


def test_reformatting_pyproject_does_not_fail_the_check(copy_of_project: Path) -> None:
    pyproject = copy_of_project / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    pyproject.write_text("# a comment\n" + text.replace(" = [", "=["), encoding="utf-8")

    assert lockfile.problems(copy_of_project) == []


def test_every_declared_range_admits_the_locked_version() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    project = pyproject["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    locked = pins(ROOT / "requirements-test.lock")
    for line in declared:
        requirement = Requirement(line)
        version, _ = locked[canonicalize_name(requirement.name)]
        assert requirement.specifier.contains(version, prereleases=True), (line, version)


def test_the_runtime_lock_takes_the_test_lock_versions() -> None:
    test = pins(ROOT / "requirements-test.lock")
    for name, (version, _) in pins(ROOT / "requirements.lock").items():
        assert test[name][0] == version, name


def test_the_installed_environment_is_the_test_lock() -> None:
    for name, (version, requirement) in pins(ROOT / "requirements-test.lock").items():
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        # Compared as PEP 440 versions: a package may spell its own "2.012", locked "2.12".
        assert Version(metadata.version(name)) == Version(version), name
