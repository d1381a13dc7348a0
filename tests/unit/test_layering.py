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


# The capability packages of `bot/`: each names what it may not reach for.
PAGES_AND_CHANNELS = {"bot.web", "bot.channels", "bot.handlers"}


@pytest.mark.parametrize("path", modules("bot/documents"), ids=lambda p: p.name)
def test_documents_never_import_a_channel_or_a_page(path: Path) -> None:
    assert not imported_packages(path) & PAGES_AND_CHANNELS


@pytest.mark.parametrize("path", modules("bot/imaging"), ids=lambda p: p.name)
def test_imaging_reads_files_and_knows_no_conversation(path: Path) -> None:
    assert not imported_packages(path) & (PAGES_AND_CHANNELS | {"bot.messaging", "bot.journey"})


@pytest.mark.parametrize("path", modules("bot/access"), ids=lambda p: p.name)
def test_access_rules_depend_only_on_the_clock_and_storage(path: Path) -> None:
    ours = {p for p in imported_packages(path) if p.startswith("bot.")}
    assert ours <= {"bot.clock", "bot.access"}


@pytest.mark.parametrize("path", modules("bot/messaging"), ids=lambda p: p.name)
def test_the_message_flow_never_imports_a_page(path: Path) -> None:
    assert "bot.web" not in imported_packages(path)


@pytest.mark.parametrize("path", modules("bot/operations"), ids=lambda p: p.name)
def test_operations_never_import_a_channel_or_a_page(path: Path) -> None:
    assert not imported_packages(path) & PAGES_AND_CHANNELS


def test_bot_keeps_only_the_composition_and_its_infrastructure_at_the_top() -> None:
    """Everything else lives in a package named for what it does."""
    top = sorted(p.stem for p in (ROOT / "bot").glob("*.py"))
    assert top == ["__init__", "__main__", "app", "cli", "clock", "keys", "logs", "settings"]
