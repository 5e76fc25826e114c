"""keys/ never imports realtime/: providers are described to it, not looked up."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import keys

KEYS_DIR = Path(keys.__file__).parent
# A dotted path into realtime, as import_string or a setting would name it.
REALTIME_PATH = re.compile(r"^realtime(\.\w+)+$")


def sources() -> list[Path]:
    return sorted(KEYS_DIR.rglob("*.py"))


def realtime_references(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if node.level == 0 else []
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value] if REALTIME_PATH.match(node.value) else []
        else:
            continue
        found += [n for n in names if n == "realtime" or n.startswith("realtime.")]
    return found


def test_keys_sources_name_nothing_of_realtime():
    assert len(sources()) > 10
    offenders = {
        str(path.relative_to(KEYS_DIR)): refs
        for path in sources()
        if (refs := realtime_references(ast.parse(path.read_text())))
    }
    assert offenders == {}


def test_the_scan_would_catch_an_import():
    tree = ast.parse(
        "import realtime.providers\n"
        "from realtime import credentials\n"
        "x = import_string('realtime.providers.openai.OpenAIAdapter')\n"
    )
    assert realtime_references(tree) == [
        "realtime.providers",
        "realtime",
        "realtime.providers.openai.OpenAIAdapter",
    ]
