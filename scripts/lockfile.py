"""The lock's fingerprint of pyproject.toml, and the check that the two agree.

`requirements.lock` and `requirements-test.lock` are pinned, hashed requirement files made
by `scripts/lock` (uv pip compile). Each starts with a line `# inputs-sha256: …`: the hash
of everything in pyproject.toml that decides the resolution (Python version, dependencies,
the test extra and the build backend). Editing any of those without refreshing the lock
changes the hash, and `python3 scripts/lockfile.py check` (run by both README commands
before installing) fails. Only the standard library is used: it runs before anything is
installed.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCKS = (ROOT / "requirements.lock", ROOT / "requirements-test.lock")
MARK = "# inputs-sha256: "


def fingerprint(root: Path = ROOT) -> str:
    """Hash of the resolution inputs, independent of formatting and order in the file."""
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    project = pyproject["project"]
    inputs = {
        "requires-python": project.get("requires-python", ""),
        "dependencies": sorted(project.get("dependencies", [])),
        "optional-dependencies": {
            name: sorted(values)
            for name, values in sorted(project.get("optional-dependencies", {}).items())
        },
        "build-system": sorted(pyproject.get("build-system", {}).get("requires", [])),
        "build-lock": (root / "requirements-build.in").read_text(encoding="utf-8"),
    }
    encoded = json.dumps(inputs, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


def recorded(lock: Path) -> str | None:
    """The fingerprint a lock file was made from, or None when it carries none."""
    for line in lock.read_text(encoding="utf-8").splitlines():
        if line.startswith(MARK):
            return line[len(MARK) :].strip()
    return None


def problems(root: Path = ROOT) -> list[str]:
    """Why the locks do not match pyproject.toml (empty when they do)."""
    expected = fingerprint(root)
    found: list[str] = []
    for lock in LOCKS:
        lock = root / lock.relative_to(ROOT)
        if not lock.is_file():
            found.append(f"{lock.relative_to(root)} is missing; run scripts/lock")
        elif recorded(lock) != expected:
            found.append(
                f"{lock.relative_to(root)} was not made from this pyproject.toml; run scripts/lock"
            )
    return found


def main(argv: list[str]) -> int:
    """`check` exits 1 when a lock disagrees; `fingerprint` prints the current hash."""
    if argv[1:] == ["fingerprint"]:
        sys.stdout.write(fingerprint() + "\n")
        return 0
    if argv[1:] == ["check"]:
        found = problems()
        for problem in found:
            sys.stderr.write(problem + "\n")
        return 1 if found else 0
    sys.stderr.write("usage: lockfile.py check|fingerprint\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
