"""The package layout holds: the library (slimmable) never imports the research package, no module
takes anything but ``main`` from a module that exists only to be run, and every ``python3 -m``
command that the docs and the docstrings give names a module that answers ``--help``."""
import ast
import contextlib
import importlib
import io
import re
from pathlib import Path

import pytest

TRAINING = Path(__file__).resolve().parents[1]
REPO = TRAINING.parent
LIBRARY, RESEARCH = "slimmable", "research"
# Modules that only parse options and run: the code they run lives in library modules, so another
# module may run them (import their ``main``) but takes nothing else from them.
RUN_ONLY = {"slimmable.train_detector", "slimmable.export.__main__", "slimmable.export.latency_only", "slimmable.repro.__main__"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(TRAINING).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(package: str) -> list[Path]:
    return sorted((TRAINING / package).rglob("*.py"))


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, relative imports resolved to absolute names."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            found.add(source)
            found.update(f"{source}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return found


def is_within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


@pytest.mark.parametrize("path", modules(LIBRARY), ids=lambda p: module_name(p))
def test_the_library_never_imports_the_research_package(path: Path) -> None:
    assert not [m for m in imported_modules(path) if is_within(m, RESEARCH)], f"{module_name(path)} imports research"


@pytest.mark.parametrize("path", modules(LIBRARY) + modules(RESEARCH), ids=lambda p: module_name(p))
def test_no_module_takes_helpers_from_a_run_only_module(path: Path) -> None:
    taken = {m for m in imported_modules(path) if m.rpartition(".")[0] in RUN_ONLY and not m.endswith(".main")}
    assert not taken, f"{module_name(path)} imports {sorted(taken)}"


def test_the_import_resolution_sees_relative_and_absolute_imports() -> None:
    assert {"slimmable.detector_eval", "slimmable.scenes.TEST_SEED"} <= imported_modules(TRAINING / "slimmable" / "cascade.py")
    assert "slimmable.export.__main__.main" in imported_modules(TRAINING / "research" / "export.py")
    assert "research.crops" in imported_modules(TRAINING / "research" / "crowding.py")
    assert "slimmable.checkpoint" in imported_modules(TRAINING / "research" / "crowding.py")


def documented_commands() -> set[str]:
    """The modules of every ``python3 -m`` command in docs/ and in the training code's docstrings."""
    texts = [p.read_text() for p in sorted((REPO / "docs").rglob("*.md"))]
    texts += [p.read_text() for p in modules(LIBRARY) + modules(RESEARCH)]
    return {m for text in texts for m in re.findall(r"python3 -m ((?:slimmable|research)(?:\.\w+)+)", text)}


def test_the_documented_commands_include_the_research_clis() -> None:
    commands = documented_commands()
    assert {"research.cascade_probes", "research.crowding", "research.diagnose_detector", "research.naming_ceiling",
            "research.step_timing", "research.train_naming_probe", "research.export"} <= commands
    assert not any(c.startswith("slimmable.") and c.split(".")[1] in {"cascade_probes", "crowding", "diagnose_detector", "naming_ceiling",
                                                                       "step_timing", "crop_teacher"} for c in commands)


@pytest.mark.parametrize("command", sorted(documented_commands()))
def test_every_documented_command_answers_help(command: str) -> None:
    module = importlib.import_module(command)
    main = getattr(module, "main", None) or getattr(importlib.import_module(f"{command}.__main__"), "main")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0 and "usage:" in out.getvalue()
