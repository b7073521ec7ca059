"""`.ci/run` runs the README's own set-up and test commands, so CI proves what users run."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL)


def _commands(script: str) -> list[str]:
    lines = [line.strip() for line in script.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_ci_runs_the_readmes_install_and_test_commands_from_a_fresh_venv() -> None:
    # given: the README's set-up line (venv, install, start the demo) and its test command
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = _bash_blocks(readme)
    setup = next(b for b in blocks if "python3 -m venv .venv" in b).strip()
    test_command = next(b for b in blocks if "-m pytest" in b).strip()
    make_venv, install, _start = (part.strip() for part in setup.split("&&"))
    assert make_venv == "python3 -m venv .venv"
    assert test_command == ".venv/bin/python -m pytest"

    # when: reading what CI runs
    commands = _commands((REPO / ".ci" / "run").read_text(encoding="utf-8"))

    # then: .venv is removed, made and installed as the README says, then tested as it says
    order = [
        commands.index("rm -rf .venv"),
        commands.index('"$python" -m venv .venv'),  # python3 unless PYTHON names another
        commands.index(install),
        commands.index(f"{test_command} || status=$?"),
    ]
    assert order == sorted(order)
    assert "export CI=true" in commands
