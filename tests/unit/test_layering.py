"""The import rules of the layout: storage sees only the domain, channels never see it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_packages(path: Path) -> set[str]:
    """The top-level packages (and `bot.x` subpackages) a module imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            found.add(parts[0])
            if parts[0] == "bot" and len(parts) > 1:
                found.add(f"bot.{parts[1]}")
    return found


def modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("path", modules("storage"), ids=lambda p: p.name)
def test_storage_imports_only_the_domain_of_ours(path: Path) -> None:
    assert not imported_packages(path) & {"bot", "tests"}


@pytest.mark.parametrize("path", modules("bot/channels"), ids=lambda p: p.name)
def test_channel_adapters_never_decide_what_to_ask(path: Path) -> None:
    assert "intake" not in imported_packages(path)
