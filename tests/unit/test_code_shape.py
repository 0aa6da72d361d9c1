"""No function in ``src/`` runs over ``MAX_LINES`` lines without a comment saying why.

A long function is usually several steps that want names of their own; when one
really reads best whole (a table of cases, a SQL builder), a ``# long: <reason>``
comment right above its ``def`` (or its decorators), or in its body before the
first statement after the docstring, says so and lets it pass. The complexity
bound is ruff's (C90 in pyproject.toml); this test bounds what ruff does not: length.

Lines are counted from the ``def`` to the last line of the body, docstring left
out: a docstring that says why is never a reason to split.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
MAX_LINES = 50
REASON = "# long:"

#: Functions being split by other engineers (issue #12); the lead empties this at merge.
BEING_SPLIT: frozenset[str] = frozenset()

Function = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(frozen=True)
class Measured:
    where: str
    lines: int
    has_reason: bool


def _functions(tree: ast.AST, prefix: str = "") -> Iterator[tuple[str, Function]]:
    """Every function of ``tree`` with its dotted name, nested ones included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield prefix + node.name, node
            yield from _functions(node, f"{prefix}{node.name}.")
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, f"{prefix}{node.name}.")
        else:
            yield from _functions(node, prefix)


def _docstring_lines(node: Function) -> int:
    first = node.body[0]
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return (first.end_lineno or first.lineno) - first.lineno + 1
    return 0


def _has_reason(node: Function, lines: list[str]) -> bool:
    """A ``# long:`` comment just above the function, or opening its body."""
    top = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1  # 0-based
    above = top - 1
    while above >= 0 and lines[above].strip().startswith("#"):
        if lines[above].strip().startswith(REASON):
            return True
        above -= 1
    skip = 1 if _docstring_lines(node) else 0
    statements = node.body[skip:]
    first_statement = statements[0].lineno - 1 if statements else len(lines)
    return any(line.strip().startswith(REASON) for line in lines[node.lineno : first_statement])


def measure(path: Path, root: Path = SRC) -> Iterator[Measured]:
    """Every function of the module at ``path``, named from ``root``."""
    source = path.read_text()
    lines = source.splitlines()
    module = path.relative_to(root).as_posix()
    for name, node in _functions(ast.parse(source)):
        length = (node.end_lineno or node.lineno) - node.lineno + 1 - _docstring_lines(node)
        yield Measured(f"{module}:{name}", length, _has_reason(node, lines))


def _all_measured() -> list[Measured]:
    return [m for path in sorted(SRC.rglob("*.py")) for m in measure(path)]


def test_no_long_function_without_a_reason() -> None:
    unexplained = [
        f"{m.where} ({m.lines} lines)"
        for m in _all_measured()
        if m.lines > MAX_LINES and not m.has_reason and m.where not in BEING_SPLIT
    ]
    assert not unexplained, (
        f"over {MAX_LINES} lines without a '{REASON} <why>' comment: " + ", ".join(unexplained)
    )


def test_the_being_split_list_names_only_long_functions() -> None:
    """Once a listed function is split (or gone), its entry must go too."""
    long_now = {m.where for m in _all_measured() if m.lines > MAX_LINES}
    assert long_now >= BEING_SPLIT, f"no longer long, remove: {sorted(BEING_SPLIT - long_now)}"


def test_the_measure_sees_length_docstrings_and_reasons(tmp_path: Path) -> None:
    """The check itself: a long body fails, a docstring does not count, a reason passes."""
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_LINES))
    doc = '    """' + "\n    why\n" * 30 + '    """\n'
    source = (
        f"def long():\n{body}\n"
        f"def documented():\n{doc}    pass\n\n"
        f"# {REASON[2:]} a table of cases reads best whole\ndef above():\n{body}\n"
        f"class C:\n    async def inside(self):\n        {REASON} one SQL statement\n"
        + body.replace("    ", "        ")
    )
    path = tmp_path / "uno" / "m.py"
    path.parent.mkdir()
    path.write_text(source)
    found = {m.where.split(":")[1]: m for m in measure(path, tmp_path)}
    assert found["long"].lines == MAX_LINES + 1 and not found["long"].has_reason
    assert found["documented"].lines == 2
    assert found["above"].has_reason
    assert found["C.inside"].has_reason and found["C.inside"].lines > MAX_LINES
