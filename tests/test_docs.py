"""Every Python code block of README.md and docs/*.md runs as written: the blocks of one file run
in order in one namespace (as a reader follows them), in a scratch directory, with matplotlib
drawing to files only."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(path: Path) -> list[str]:
    return BLOCK.findall(path.read_text())


def test_the_documents_have_python_blocks():
    assert len(python_blocks(ROOT / "README.md")) >= 4


@pytest.mark.parametrize("path", [p for p in DOCUMENTS if python_blocks(p)], ids=lambda p: p.name)
def test_every_python_block_runs_as_written(path, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    for number, source in enumerate(python_blocks(path), start=1):
        code = compile(source, f"{path.name} block {number}", "exec")
        exec(code, namespace)  # noqa: S102 - the project's own documentation
    # What the blocks say they write (figures, model files) is there.
    written = set(re.findall(r'"([\w.-]+\.(?:png|safetensors))"', "\n".join(python_blocks(path))))
    assert written <= set(os.listdir(tmp_path)), written - set(os.listdir(tmp_path))
