"""`a2a-sdk` is optional: nothing imports it unless an agent is served over A2A."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import aura
from aura.adapters.http import ServerOptions, create_app
from aura.entrypoints import cli, serve_command
from aura.testing import ScriptedChatModel
from aura.domain.agent import Agent, AgentSettings

agent = Agent(AgentSettings(name="ops", system_prompt="x"), ScriptedChatModel([]), [])
create_app([agent], ServerOptions())
print(sorted(name for name in sys.modules if name == "a2a" or name.startswith("a2a.")))
create_app([agent], ServerOptions(a2a_enabled=True))
print("a2a" in sys.modules)
"""


def test_a2a_sdk_is_imported_only_when_a2a_is_on() -> None:
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split("\n")[:2] == ["[]", "True"], done.stdout + done.stderr
