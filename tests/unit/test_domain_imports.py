"""The domain stays pure: no database, web, channel or I/O module is imported in `intake/`."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

INTAKE = Path(__file__).resolve().parents[2] / "intake"

FORBIDDEN = frozenset(
    {
        # our own outer layers
        "bot",
        "storage",
        # web, database, channels, scheduling, files
        "aiohttp",
        "sqlalchemy",
        "alembic",
        "aiosqlite",
        "asyncpg",
        "telegram",
        "twilio",
        "apscheduler",
        "jinja2",
        "pydicom",
        "cryptography",
        "dotenv",
        "requests",
        "httpx",
        # standard-library I/O, processes and event loops
        "asyncio",
        "socket",
        "ssl",
        "selectors",
        "select",
        "sqlite3",
        "dbm",
        "shelve",
        "http",
        "urllib",
        "ftplib",
        "smtplib",
        "subprocess",
        "multiprocessing",
        "concurrent",
        "os",
        "shutil",
        "tempfile",
        "logging",
    }
)

# Small pure libraries the design allows in the domain; everything else must be stdlib.
ALLOWED_THIRD_PARTY = frozenset({"intake", "holidays", "babel", "phonenumbers"})


def domain_modules() -> list[Path]:
    return sorted(INTAKE.rglob("*.py"))


def imported_roots(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name | ast.Attribute)
            and (getattr(node.func, "id", None) or getattr(node.func, "attr", None))
            in ("__import__", "import_module")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.lineno, node.args[0].value.split(".")[0]


def test_the_domain_package_has_modules_to_check() -> None:
    assert (INTAKE / "__init__.py").exists()
    assert len(domain_modules()) > 1


@pytest.mark.parametrize("path", domain_modules(), ids=lambda p: p.name)
def test_domain_modules_import_no_io_web_database_or_channel_code(path: Path) -> None:
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    offenders = [(line, root) for line, root in imported_roots(tree) if root in FORBIDDEN]
    assert offenders == [], f"{path.name} imports forbidden modules: {offenders}"


@pytest.mark.parametrize("path", domain_modules(), ids=lambda p: p.name)
def test_domain_modules_import_only_the_stdlib_and_allowed_pure_libraries(path: Path) -> None:
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    strangers = [
        (line, root)
        for line, root in imported_roots(tree)
        if root not in sys.stdlib_module_names and root not in ALLOWED_THIRD_PARTY
    ]
    assert strangers == [], f"{path.name} imports unexpected packages: {strangers}"


def test_the_import_check_catches_a_forbidden_import() -> None:
    source = "import os.path\nfrom storage.tables import Case\n__import__('asyncio')\n"
    roots = {root for _, root in imported_roots(ast.parse(source))}
    assert {"os", "storage", "asyncio"} <= roots & FORBIDDEN


def test_the_import_check_ignores_relative_imports() -> None:
    roots = [root for _, root in imported_roots(ast.parse("from . import prompts\n"))]
    assert roots == []
