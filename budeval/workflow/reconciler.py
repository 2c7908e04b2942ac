"""Every unfinished evaluation has a live workflow: checked at start-up and periodically.

Why: `POST /evals/start` commits the rows before it starts the workflow, so a crash in between
leaves rows nothing will ever move (seen: 3 of 20 `kill -9`s left `pending` for good). And a
workflow can end without a final status (an older build let a step's error kill it; DBOS
cancelled it; the body's last step failed too). One pass: one query for unfinished evaluations,
one DBOS query for their workflows. No workflow → start it (workflow id = eval id, so a start
racing the API's own is the same workflow). Ended workflow → end the evaluation `failed` with the
reason (a granted cancel makes it `cancelled`); the workflow's last step does that, so
the runs are stopped and the key is forgotten the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from dbos import DBOS, SetWorkflowID

from budeval.status import EvalStatus
from budeval.workflow import steps
from budeval.workflow.evaluation import evaluate
from budeval.workflow.services import Services

log = logging.getLogger(__name__)

ENDED = {"SUCCESS", "ERROR", "CANCELLED", "MAX_RECOVERY_ATTEMPTS_EXCEEDED"}
BATCH = 500
"""Workflow ids per DBOS query (keeps SQL parameter lists small)."""


class Reconciler:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """One pass now (before the service is ready), then one every interval."""
        try:
            await self.reconcile()
        except Exception:  # the store or DBOS is down: the periodic pass tries again
            log.exception("start-up reconcile pass failed")
        self._task = asyncio.create_task(self._forever(), name="budeval-reconciler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _forever(self) -> None:
        while True:
            await asyncio.sleep(self.services.settings.reconcile_interval_seconds)
            try:
                await self.reconcile()
            except Exception:  # the next pass tries again; never let the loop die
                log.exception("reconcile pass failed")

    async def reconcile(self) -> tuple[list[str], list[str]]:
        """(evaluations whose workflow was started, evaluations ended) in this pass."""
        ids = await asyncio.to_thread(self.services.store.unfinished_evaluation_ids)
        workflows = {}
        for first in range(0, len(ids), BATCH):
            found = await DBOS.list_workflows_async(
                workflow_ids=ids[first : first + BATCH], load_input=False, load_output=False
            )
            workflows.update({status.workflow_id: status for status in found})
        started, ended = [], []
        for eval_id in ids:
            workflow = workflows.get(eval_id)
            try:
                if workflow is None:
                    with SetWorkflowID(eval_id):
                        await DBOS.start_workflow_async(evaluate, eval_id)
                    started.append(eval_id)
                elif workflow.status in ENDED and await self._end(eval_id, workflow.status):
                    ended.append(eval_id)
            except Exception:  # one evaluation's trouble must not stop the others' repair
                log.exception("could not reconcile evaluation %s", eval_id)
        if started or ended:
            log.warning(
                "reconciled: started %d workflow(s) %s, ended %d evaluation(s) %s",
                len(started), started[:20], len(ended), ended[:20],
            )  # fmt: skip
        return started, ended

    async def _end(self, eval_id: str, workflow_status: str) -> bool:
        store = self.services.store
        record = await asyncio.to_thread(store.get_evaluation, eval_id)
        if record.status.terminal:  # its workflow's last step won the race with this pass
            return False
        message = (
            f"its workflow ended ({workflow_status}) without a final status; "
            "the service ended the evaluation"
        )
        await steps.fail_early(eval_id, EvalStatus.FAILED, "WorkflowEnded", message)
        return True
