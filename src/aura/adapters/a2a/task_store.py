"""An `a2a-sdk` `TaskStore` over the `SessionStore` port: A2A tasks are visible to every worker sharing the store."""

from __future__ import annotations

import logging

from a2a.server.context import ServerCallContext
from a2a.server.tasks import TaskStore
from a2a.types.a2a_pb2 import ListTasksRequest, ListTasksResponse, Task, TaskState
from a2a.utils.errors import UnsupportedOperationError
from google.protobuf.json_format import MessageToDict, ParseDict

from aura.ports.session_store import SessionStore

logger = logging.getLogger(__name__)

TASKS_NAMESPACE = "a2a_tasks"
CANCELS_NAMESPACE = "a2a_cancels"


class SessionTaskStore(TaskStore):
    """Tasks of one agent, kept as JSON under `a2a_tasks/<agent id>/<task id>` for `ttl_secs` after their last change.

    The key carries the agent id, so one agent's `tasks/get` never finds another agent's task. Saving a task as
    `canceled` also leaves a mark under `a2a_cancels/...`: the worker running that task's turn (perhaps another one,
    when `tasks/cancel` reached a different worker) watches for it and stops the turn (see `cancel_requested`).
    """

    def __init__(self, store: SessionStore, agent_id: str, ttl_secs: float) -> None:
        self._store = store
        self._agent_id = agent_id
        self._ttl = ttl_secs

    def _key(self, task_id: str) -> str:
        return f"{self._agent_id}/{task_id}"

    async def save(self, task: Task, context: ServerCallContext) -> None:
        value = {"task": MessageToDict(task, preserving_proto_field_name=True)}
        if task.status.state == TaskState.TASK_STATE_CANCELED:
            await self._store.put(CANCELS_NAMESPACE, self._key(task.id), {"cancelled": True}, self._ttl)
        await self._store.put(TASKS_NAMESPACE, self._key(task.id), value, self._ttl)

    async def cancel_requested(self, task_id: str) -> bool:
        """Whether some worker saved this task as `canceled` (its `tasks/cancel` may have reached another worker)."""
        return await self._store.get(CANCELS_NAMESPACE, self._key(task_id)) is not None

    async def get(self, task_id: str, context: ServerCallContext) -> Task | None:
        if not task_id or len(task_id) > 256:
            return None
        stored = await self._store.get(TASKS_NAMESPACE, self._key(task_id))
        if stored is None:
            return None
        task = Task()
        ParseDict(stored["task"], task, ignore_unknown_fields=True)
        return task

    async def list(self, params: ListTasksRequest, context: ServerCallContext) -> ListTasksResponse:
        # the session store has no listing (Redis keys expire on their own); tasks are found by id
        raise UnsupportedOperationError(message="ListTasks is not supported: ask for a task by its id (tasks/get)")

    async def delete(self, task_id: str, context: ServerCallContext) -> None:
        await self._store.delete(TASKS_NAMESPACE, self._key(task_id))
        await self._store.delete(CANCELS_NAMESPACE, self._key(task_id))
