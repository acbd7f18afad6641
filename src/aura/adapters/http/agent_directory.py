"""Which agent answers a request: the `model` field, `DEFAULT_AGENT`, or the only agent."""

from __future__ import annotations

from collections.abc import Sequence

from aura.adapters.http.errors import ApiError, invalid_request
from aura.domain.agent import Agent


class UnknownDefaultAgent(ValueError):
    """`DEFAULT_AGENT` names no loaded agent (a startup error)."""


class AgentDirectory:
    """The served agents in load order, and the rules that pick one for a request:

    - `model` equal to an agent id (alias if set, else name) selects it; the `name` of an agent
      with an alias is accepted too, unless it is another agent's id.
    - with exactly one agent, any `model` value selects it.
    - `model` absent or null: `DEFAULT_AGENT`, else the only agent, else 400.
    """

    def __init__(self, agents: Sequence[Agent], default_agent: str | None = None) -> None:
        if not agents:
            raise ValueError("at least one agent is required")
        self.agents = tuple(agents)
        self._by_id: dict[str, Agent] = {}
        for agent in self.agents:
            if agent.id in self._by_id:
                raise ValueError(f"two agents share the id {agent.id!r}")
            self._by_id[agent.id] = agent
        self._by_name: dict[str, Agent] = {}
        for agent in self.agents:
            self._by_name.setdefault(agent.settings.name, agent)
        self.default: Agent | None = None
        if default_agent is not None:
            found = self.find(default_agent)
            if found is None:
                raise UnknownDefaultAgent(
                    f"DEFAULT_AGENT '{default_agent}' does not match any loaded agent name or alias"
                )
            self.default = found

    def find(self, model: str) -> Agent | None:
        return self._by_id.get(model) or self._by_name.get(model)

    def select(self, model: str | None) -> Agent:
        if model is None:
            if self.default is not None:
                return self.default
            if len(self.agents) == 1:
                return self.agents[0]
            raise invalid_request("you must provide a model parameter", "model", "missing_required_parameter")
        found = self.find(model)
        if found is not None:
            return found
        if len(self.agents) == 1:
            return self.agents[0]
        raise model_not_found(model)


def model_not_found(model: str) -> ApiError:
    """OpenAI's 404 for an unknown model (code `model_not_found`)."""
    return ApiError(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        "invalid_request_error",
        "model",
        "model_not_found",
    )
