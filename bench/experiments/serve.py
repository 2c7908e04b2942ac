"""Experiments, not product code: `budeval serve` with bench-only patches, chosen by env.

    .venv/bin/python bench/latency.py --serve-module bench.experiments.serve \
        --env BENCH_DIRECT_ADMISSION=1 --env BENCH_LIGHT_SUPERVISOR=1 ...

BENCH_DIRECT_ADMISSION=1: the evaluation workflow starts each run's `occupy_slot` child workflow
(same id) directly instead of enqueueing it on the local backend's DBOS queue, whose worker polls
every BUDEVAL_QUEUE_POLL_SECONDS. This drops the slot cap, so it is only meaningful while slots
are not the bottleneck; it measures what "launch at once when a slot is free, queue only when
none is" would save.

BENCH_LIGHT_SUPERVISOR=1: runs are supervised by `bench/experiments/light_supervisor.py`
(`python -I -S`, stdlib `os`/`json`/`signal` only, `os.posix_spawn`) instead of
`python -m budeval.backends.local.supervisor`; measures the interpreter start-up share.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dbos import DBOS, SetWorkflowID

from budeval.backends.base import RunSpec
from budeval.backends.local import backend
from budeval.backends.local.environment import launch_document, process_environment
from budeval.backends.local.rundir import RunDir, write_json
from budeval.workflow import evaluation
from budeval.workflow.models import Deployment

LIGHT_SUPERVISOR = Path(__file__).with_name("light_supervisor.py")


async def admit_directly(deployment: Deployment) -> None:
    if deployment.admission_queue is None:
        return
    for handle in deployment.handles:
        with SetWorkflowID(f"{handle.eval_id}/{handle.run_id}/slot"):
            await DBOS.start_workflow_async(evaluation.occupy_slot, handle)


def spawn_light(self: backend.LocalBackend, run: RunDir, lock_fd: int) -> int:
    spec = RunSpec.model_validate_json(run.spec.read_text())
    write_json(run.launch, launch_document(spec, run, self.settings))
    env = process_environment(spec, run, self.settings, self.secrets)
    child = subprocess.Popen(
        [sys.executable, "-I", "-S", str(LIGHT_SUPERVISOR), str(run.path), str(lock_fd)],
        cwd=run.path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=run.path.joinpath("supervisor.log").open("ab"),
        pass_fds=(lock_fd,),
        start_new_session=True,
    )
    return child.pid


if os.environ.get("BENCH_DIRECT_ADMISSION") == "1":
    evaluation.admit = admit_directly  # type: ignore[assignment]  # looked up at call time
if os.environ.get("BENCH_LIGHT_SUPERVISOR") == "1":
    backend.LocalBackend._spawn = spawn_light  # type: ignore[method-assign]

if __name__ == "__main__":
    from budeval.cli import main

    sys.argv = ["budeval", *sys.argv[1:]]
    main()
