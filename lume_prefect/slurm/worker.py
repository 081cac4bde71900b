"""The ``lume-slurm`` worker type: each flow run becomes a Slurm batch job, followed to its end.

``prefect work-pool create hpc --type lume-slurm`` then ``prefect worker start --pool hpc``. (The
type is not ``slurm``: the public prefect-slurm package registers that name, and two workers of
one type silently replace each other.) The job runs ``<cluster python> -m prefect flow-run
execute`` on the cluster with the cluster block's ``job_python`` (by default, for a cluster reached from
this machine, the worker's own interpreter; the run reports its states itself); the
worker watches the job with one scheduler call per poll cycle for all its jobs, marks the run
Crashed with Slurm's reason when the job ends badly (TIMEOUT, NODE_FAIL, OUT_OF_MEMORY, ...),
turns a cancellation in Prefect into ``scancel``, and after a restart re-attaches to the jobs
of its pool's running flow runs (the flow run id travels in the job's comment).
"""

from __future__ import annotations

import json
import re
import shlex
from typing import TYPE_CHECKING, Any, Optional, Union

import anyio
import anyio.abc
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    WorkPoolFilter,
    WorkPoolFilterName,
)
from prefect.client.schemas.objects import StateType
from prefect.exceptions import InfrastructureNotFound
from prefect.states import Crashed
from prefect.workers.base import BaseJobConfiguration, BaseVariables, BaseWorker, BaseWorkerResult
from pydantic import Field

from lume_prefect.core.blocks import docs_page
from lume_prefect.slurm.blocks import LOGO_URL, SlurmCluster
from lume_prefect.slurm.control import SubmittedJob
from lume_prefect.slurm.job import SlurmJob

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun

COMMENT_PREFIX = "prefect-flow-run="
_RESOURCES = ("partition", "account", "qos", "time_limit", "nodes", "ntasks", "cpus_per_task", "memory", "gpus")


def _description(text: str) -> Any:
    return Field(default=None, description=text)


class SlurmJobConfiguration(BaseJobConfiguration):
    """What one flow run's Slurm job looks like, after the pool's and deployment's variables are applied."""

    cluster: Union[SlurmCluster, str] = Field(default="", description="The SlurmCluster block that reaches the cluster, or a saved one's name.")
    partition: Optional[str] = _description("Partition; empty for the cluster block's default.")
    account: Optional[str] = _description("Account charged; empty for the cluster block's default.")
    qos: Optional[str] = _description("Quality of service; empty for the cluster block's default.")
    time_limit: Optional[str] = _description("Time limit (minutes, HH:MM:SS or D-HH:MM:SS).")
    nodes: Optional[int] = _description("Number of nodes.")
    ntasks: Optional[int] = _description("Number of tasks.")
    cpus_per_task: Optional[int] = _description("CPUs per task.")
    memory: Optional[str] = _description("Memory per node, e.g. 4G.")
    gpus: Optional[str] = _description("GPUs, e.g. 1 or a100:2.")
    working_dir: Optional[str] = _description("Working directory of the job; empty for the cluster block's.")
    cancel_check_seconds: float = Field(default=2.0, description="How often the worker checks whether Prefect cancelled the run.")

    def prepare_for_flow_run(self, flow_run: "FlowRun", deployment: Any = None, flow: Any = None, **kwargs: Any) -> None:
        # The job is named after the flow (a lume model's flow: the model), not the run's
        # random name; the flow run id is in its comment.
        if not self.name and flow is not None:
            self.name = flow.name
        super().prepare_for_flow_run(flow_run, deployment=deployment, flow=flow, **kwargs)

    def slurm_job(self, flow_run: "FlowRun", python: str = "python3") -> SlurmJob:
        """The job spec of this flow run; raises ValueError naming any invalid value.

        Prefect's default command runs with the cluster's ``python`` (``python -m prefect
        flow-run execute``), so the job needs no ``prefect`` on the login PATH."""
        name = re.sub(r"[^A-Za-z0-9_.+-]", "-", self.name or flow_run.name).strip("-._+")[:128] or "prefect-flow-run"
        command = shlex.split(self.command or self._base_flow_run_command())
        if command == shlex.split(self._base_flow_run_command()):
            command = [python, "-m", *command]
        return SlurmJob(
            name=name,
            comment=f"{COMMENT_PREFIX}{flow_run.id}",
            requeue=False,  # a requeued job would run the flow a second time from its start
            environment={key: value for key, value in self.env.items() if value is not None},
            command=command,
            working_dir=self.working_dir or None,
            **{key: getattr(self, key) for key in _RESOURCES},
        )


class SlurmVariables(BaseVariables):
    """The variables of a slurm work pool, editable per pool and per deployment (job_variables)."""

    cluster: Union[SlurmCluster, str] = Field(
        description="The SlurmCluster block (lume-slurm-cluster) to submit to: pick a saved block, or give a saved block's name. "
                    "It is read for every flow run, so an edited block takes effect without restarting the worker.",
        examples=["hpc"],
    )
    partition: Optional[str] = Field(default=None, description="Partition; empty for the cluster block's default.")
    account: Optional[str] = Field(default=None, description="Account charged; empty for the cluster block's default.")
    qos: Optional[str] = Field(default=None, description="Quality of service; empty for the cluster block's default.")
    time_limit: Optional[str] = Field(default=None, description="Time limit (minutes, HH:MM:SS or D-HH:MM:SS); the run crashes with TIMEOUT past it.")
    nodes: Optional[int] = Field(default=None, description="Number of nodes.")
    ntasks: Optional[int] = Field(default=None, description="Number of tasks.")
    cpus_per_task: Optional[int] = Field(default=None, description="CPUs per task.")
    memory: Optional[str] = Field(default=None, description="Memory per node, e.g. 4G.")
    gpus: Optional[str] = Field(default=None, description="GPUs, e.g. 1 or a100:2.")
    working_dir: Optional[str] = Field(default=None, description="Working directory of the job; empty for the cluster block's.")
    cancel_check_seconds: float = Field(default=2.0, description="How often the worker checks whether Prefect cancelled the run.")


class SlurmWorkerResult(BaseWorkerResult):
    """How a flow run's Slurm job ended."""


class SlurmWorker(BaseWorker[SlurmJobConfiguration, SlurmVariables, SlurmWorkerResult]):
    """Runs each flow run as a Slurm batch job on the cluster named by the ``cluster`` variable."""

    type = "lume-slurm"
    job_configuration = SlurmJobConfiguration
    job_configuration_variables = SlurmVariables
    _description = "Run flow runs as Slurm batch jobs (sbatch locally, over SSH or through slurmrestd), with cancellation and re-attachment after restarts."
    _display_name = "LUME Slurm"
    _documentation_url = docs_page("how-to/slurm/#flow-runs-as-jobs-the-lume-slurm-worker-and-its-work-pool-template")
    _logo_url = LOGO_URL

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._clusters: dict[str, SlurmCluster] = {}
        self._followed: set[str] = set()

    async def _cluster(self, cluster: SlurmCluster | str) -> SlurmCluster:
        """The cluster of a flow run, as saved now (a block picked in the pool or deployment is
        read with each flow run; a name is loaded each time), so edits need no worker restart.
        Runs on clusters with the same settings share one block instance, hence one controller
        and one scheduler call per poll cycle."""
        if isinstance(cluster, str):
            if not cluster:
                raise ValueError("the 'cluster' job variable is empty: pick a saved SlurmCluster block or give its name")
            cluster = await SlurmCluster.aload(cluster.removeprefix("lume-slurm-cluster/"))
        settings = json.dumps(cluster.model_dump(mode="json", context={"include_secrets": True}), sort_keys=True, default=str)
        return self._clusters.setdefault(settings, cluster)

    async def run(self, flow_run: "FlowRun", configuration: SlurmJobConfiguration,
                  task_status: Optional[anyio.abc.TaskStatus[str]] = None) -> SlurmWorkerResult:
        logger = self.get_flow_run_logger(flow_run)
        cluster = await self._cluster(configuration.cluster)
        job = configuration.slurm_job(flow_run, cluster.job_python)
        submitted = await anyio.to_thread.run_sync(cluster.controller().submit, job)
        logger.info(f"Submitted flow run as Slurm job {submitted.job_id} ({submitted.output_prefix}.{submitted.job_id}.out)")
        if task_status is not None:
            task_status.started(f"{submitted.job_id}@{submitted.output_prefix}")
        return await self._follow(flow_run, configuration, cluster, submitted)

    async def _follow(self, flow_run: "FlowRun", configuration: SlurmJobConfiguration, cluster: SlurmCluster,
                      submitted: SubmittedJob) -> SlurmWorkerResult:
        logger = self.get_flow_run_logger(flow_run)
        control = cluster.controller()
        identifier = f"{submitted.job_id}@{submitted.output_prefix}"
        self._followed.add(submitted.job_id)
        cancelled_by_prefect = False
        try:
            while not control.is_finished(submitted):
                with anyio.move_on_after(configuration.cancel_check_seconds):
                    await control.await_finished(submitted)
                if control.is_finished(submitted) or cancelled_by_prefect:
                    continue
                state = (await self.client.read_flow_run(flow_run.id)).state
                if state is not None and state.type in (StateType.CANCELLING, StateType.CANCELLED):
                    logger.info(f"Flow run is {state.type.value.lower()}: cancelling Slurm job {submitted.job_id}")
                    await anyio.to_thread.run_sync(control.cancel, submitted)
                    cancelled_by_prefect = True
            status = control.final_status(submitted)[0]
        finally:
            self._followed.discard(submitted.job_id)
        return await self._settle(flow_run, status, identifier, cancelled_by_prefect, logger)

    async def _settle(self, flow_run: "FlowRun", status: Any, identifier: str, cancelled_by_prefect: bool, logger: Any) -> SlurmWorkerResult:
        explanation = status.explanation()
        current = (await self.client.read_flow_run(flow_run.id)).state
        if status.succeeded:
            logger.info(explanation)
            return SlurmWorkerResult(status_code=0, identifier=identifier)
        if cancelled_by_prefect:
            if current is not None and current.type == StateType.CANCELLING:
                await self._mark_flow_run_as_cancelled(flow_run, {"message": f"Cancelled from Prefect; {explanation}"})
            logger.info(explanation)
            return SlurmWorkerResult(status_code=0, identifier=identifier)
        logger.error(explanation)
        finished_by_flow = current is not None and current.is_final() and status.state == "FAILED"
        if not finished_by_flow and (current is None or not current.is_completed()):
            # Slurm killed the job (time limit, node failure, memory...): whatever the dying
            # process reported, the run's state says why.
            await self.client.set_flow_run_state(flow_run.id, Crashed(message=explanation), force=True)
        return SlurmWorkerResult(status_code=status.exit_code or 1, identifier=identifier)

    async def kill_infrastructure(self, infrastructure_pid: str, configuration: SlurmJobConfiguration, grace_seconds: int = 30) -> None:
        """Cancel the flow run's Slurm job (``scancel``)."""
        job_id = infrastructure_pid.split("@")[0]
        if not job_id:
            raise InfrastructureNotFound(f"no Slurm job id in infrastructure pid {infrastructure_pid!r}")
        cluster = await self._cluster(configuration.cluster)
        await anyio.to_thread.run_sync(cluster.controller().cancel, job_id)

    # ---- re-attachment after a restart ------------------------------------------

    async def setup(self) -> None:
        await super().setup()
        if self._work_pool is not None and self._runs_task_group is not None:
            self._runs_task_group.start_soon(self._reattach)

    async def _reattach(self) -> None:
        runs = await self.client.read_flow_runs(
            work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[self._work_pool_name])),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(
                any_=[StateType.PENDING, StateType.RUNNING, StateType.CANCELLING]))),
        )
        for flow_run in runs:
            pid = flow_run.infrastructure_pid or ""
            job_id, _, prefix = pid.partition("@")
            if not job_id or not prefix or job_id in self._followed:
                continue
            self._runs_task_group.start_soon(self._reattach_one, flow_run, job_id, prefix)

    async def _reattach_one(self, flow_run: "FlowRun", job_id: str, prefix: str) -> None:
        logger = self.get_flow_run_logger(flow_run)
        try:
            configuration = await self.job_configuration.resolve_for_flow_run(
                flow_run, client=self.client, work_pool=self.work_pool, worker_name=self.name, worker_id=self.backend_id)
            cluster = await self._cluster(configuration.cluster)
            submitted = SubmittedJob(job_id=job_id, name="", output_prefix=prefix, keys=[job_id], comment=f"{COMMENT_PREFIX}{flow_run.id}")
            [status] = await anyio.to_thread.run_sync(cluster.controller().status, submitted)
            if status.comment and status.comment != submitted.comment:
                logger.warning(f"Slurm job {job_id} carries {status.comment!r}, not this flow run: not re-attaching")
                return
            logger.info(f"Re-attached to Slurm job {job_id} ({status.state}) after a worker restart")
            await self._follow(flow_run, configuration, cluster, submitted)
        except Exception:  # noqa: BLE001 - one run that cannot be re-attached must not stop the worker
            logger.exception(f"Could not re-attach to Slurm job {job_id}")
