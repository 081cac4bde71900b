"""The Slurm job spec and its batch script.

Every value that reaches an ``#SBATCH`` line is checked against the characters Slurm itself
accepts for that option, so no value can end the line, start another directive or run a
command. Values that reach the script body (environment, arguments, the user's script) are
shell-quoted. No Prefect here: this module is usable and testable on its own.
"""

from __future__ import annotations

import re
import shlex
from datetime import timedelta
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Characters Slurm accepts in each option; everything else is refused, not escaped, because
# #SBATCH lines have no quoting that every Slurm version parses the same way.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}")
_WORD_LIST = re.compile(r"[A-Za-z0-9_.-]{1,64}(,[A-Za-z0-9_.-]{1,64})*")
_MEMORY = re.compile(r"[0-9]+[KMGT]?")
_TIME = re.compile(r"([0-9]+-)?[0-9]+(:[0-9]{1,2}){0,2}|UNLIMITED|INFINITE")
_GPUS = re.compile(r"([A-Za-z0-9_.-]+:)?[0-9]+")
_ARRAY = re.compile(r"[0-9]+(-[0-9]+(:[0-9]+)?)?(,[0-9]+(-[0-9]+(:[0-9]+)?)?)*(%[0-9]+)?")
_DEPENDENCY_TYPES = ("after", "afterany", "afterok", "afternotok", "aftercorr", "afterburstbuffer", "singleton")
_DEPENDENCY = re.compile(r"[a-z]+(:[0-9]+(_[0-9]+)?(\+[0-9]+)?)*")
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PATH = re.compile(r"/[A-Za-z0-9_.,+@%=:/-]*")
# Comments are free text for people: spaces are allowed (the #SBATCH line double-quotes them,
# which sbatch's script parser understands); quotes, backslashes and control characters are not.
_COMMENT = re.compile(r"[A-Za-z0-9 _.:=,+/@#()!?'-]{0,250}")


def _check(pattern: re.Pattern[str], value: str, field: str, what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ValueError(f"{field} {value!r} is not {what}")
    return value


def quote(value: str) -> str:
    """Shell-quote ``value`` on one physical line: ``$'...'`` escapes for control characters, so
    no value can put a line of its own (like ``#SBATCH ...``) into the script."""
    if not any(ord(c) < 32 or ord(c) == 127 for c in value):
        return shlex.quote(value)
    escaped = "".join(
        "\\\\" if c == "\\" else "\\'" if c == "'" else f"\\x{ord(c):02x}" if ord(c) < 32 or ord(c) == 127 else c
        for c in value
    )
    return f"$'{escaped}'"


def check_path(value: str, field: str) -> str:
    """An absolute path made only of characters that are safe in #SBATCH lines and shells."""
    return _check(_PATH, value, field, "an absolute path of letters, digits and _.,+@%=:/- (no spaces or quotes)")


def format_time_limit(value: int | str | timedelta) -> str:
    """Slurm's time format: minutes as an int, ``D-HH:MM:SS``/``HH:MM:SS``/``MM`` as a string, or a timedelta."""
    if isinstance(value, bool):
        raise ValueError(f"time_limit {value!r} is not a number of minutes, a Slurm time string or a timedelta")
    if isinstance(value, timedelta):
        seconds = int(value.total_seconds())
        if seconds < 1:
            raise ValueError(f"time_limit {value!r} must be at least one second")
        days, rest = divmod(seconds, 86400)
        return f"{days}-{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"time_limit {value!r} must be at least 1 minute")
        return str(value)
    _check(_TIME, value, "time_limit", "a Slurm time (minutes, MM:SS, HH:MM:SS, D-HH:MM:SS or UNLIMITED)")
    if value not in ("UNLIMITED", "INFINITE"):
        _check_time_fields(value)
    return value


def _check_time_fields(value: str) -> None:
    """Slurm would carry 99:99:99 over into 4-04:41:00 and read 0 as no limit at all: each field
    in its range, and more than zero in all (UNLIMITED says no limit)."""
    days, _, clock = value.rpartition("-")
    fields = [int(part) for part in clock.split(":")]
    # Slurm's forms: MM, MM:SS, HH:MM:SS; after a day, HH, HH:MM, HH:MM:SS
    names = (["hours", "minutes", "seconds"][: len(fields)] if days else {1: ["minutes"], 2: ["minutes", "seconds"], 3: ["hours", "minutes", "seconds"]}[len(fields)])
    limits = {"hours": 23 if days else None, "minutes": 59 if len(fields) == 3 or days else None, "seconds": 59}
    for name, number in zip(names, fields):
        if limits[name] is not None and number > limits[name]:
            raise ValueError(f"time_limit {value!r}: {name} {number} is over {limits[name]} (Slurm would carry it over into a different limit)")
    if int(days or 0) == 0 and not any(fields):
        raise ValueError(f"time_limit {value!r} is zero, which Slurm reads as no limit at all; give at least 1 minute, or UNLIMITED")


class SlurmJob(BaseModel):
    """A batch job: resources, environment and what to run.

    Give either ``command`` (an argument list, each argument shell-quoted; a string is split
    like a shell would split it, so ``;``, ``|`` and ``$( )`` stay literal arguments) or
    ``script`` (shell code run by ``bash``; it is the user's own program, passed as one quoted
    argument, so it cannot reach the job header or skip the exit-code record).

    Examples:
        ```python
        from lume_prefect.slurm import SlurmJob

        job = SlurmJob(name="impact-scan", partition="debug", cpus_per_task=4, memory="8G",
                       time_limit="01:30:00", array="0-99%10",
                       environment={"OMP_NUM_THREADS": "4"},
                       script="python scan.py --point $SLURM_ARRAY_TASK_ID")
        ```
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str = Field(default="lume-job", description="Job name (letters, digits, _.+-; at most 128).")
    partition: Optional[str] = Field(default=None, description="Partition (queue), or a comma-separated list; empty for the cluster default.")
    account: Optional[str] = Field(default=None, description="Account charged for the job.")
    qos: Optional[str] = Field(default=None, description="Quality of service.")
    nodes: Optional[int] = Field(default=None, ge=1, description="Number of nodes.")
    ntasks: Optional[int] = Field(default=None, ge=1, description="Number of tasks (MPI ranks).")
    cpus_per_task: Optional[int] = Field(default=None, ge=1, description="CPUs per task.")
    memory: Optional[str] = Field(default=None, description="Memory per node, e.g. 4G, 500M or 2048 (megabytes).")
    time_limit: Optional[str] = Field(default=None, description="Time limit: minutes, MM:SS, HH:MM:SS or D-HH:MM:SS (an int is minutes; a timedelta is accepted).")
    gpus: Optional[str] = Field(default=None, description="GPUs, e.g. 2 or a100:2.")
    array: Optional[str] = Field(default=None, description="Job array indices, e.g. 0-99, 1,3,5 or 0-99%10.")
    dependency: Optional[str] = Field(default=None, description="Dependency, e.g. afterok:1234 or afterany:12:13.")
    comment: Optional[str] = Field(default=None, description="Comment stored with the job (the Slurm worker puts the flow run id here).")
    requeue: Optional[bool] = Field(default=None, description="Whether Slurm may requeue the job after a node failure; empty for the cluster default.")
    environment: dict[str, str] = Field(default_factory=dict, description="Environment variables exported before the command runs (values are quoted).")
    working_dir: Optional[str] = Field(default=None, description="Absolute working directory on the cluster; default: the cluster's working directory.")
    command: Optional[list[str]] = Field(default=None, description="The program and its arguments; each argument is quoted.")
    script: Optional[str] = Field(default=None, description="Shell code run by bash instead of a command.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _check(_NAME, value, "name", "a job name of letters, digits and _.+- (at most 128, starting with a letter or digit)")

    @field_validator("partition", "account", "qos")
    @classmethod
    def _words(cls, value: Optional[str], info: Any) -> Optional[str]:
        if value is None or value == "":
            return None
        return _check(_WORD_LIST, value, info.field_name, "a name (or comma-separated names) of letters, digits and _.-")

    @field_validator("memory", mode="before")
    @classmethod
    def _memory(cls, value: Any) -> Optional[str]:
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return _check(_MEMORY, value, "memory", "a size like 4G, 500M or 2048")

    @field_validator("time_limit", mode="before")
    @classmethod
    def _time(cls, value: Any) -> Optional[str]:
        return None if value is None else format_time_limit(value)

    @field_validator("gpus", mode="before")
    @classmethod
    def _gpus(cls, value: Any) -> Optional[str]:
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return _check(_GPUS, value, "gpus", "a GPU count, optionally with a type (a100:2)")

    @field_validator("array")
    @classmethod
    def _array(cls, value: Optional[str]) -> Optional[str]:
        return None if value is None else _check(_ARRAY, value, "array", "a Slurm array spec like 0-99, 1,3,5 or 0-99%10")

    @field_validator("dependency")
    @classmethod
    def _dependency(cls, value: Optional[str]) -> Optional[str]:
        if value is None:
            return None
        for part in re.split(r"[,?]", value):
            if not _DEPENDENCY.fullmatch(part) or part.split(":")[0] not in _DEPENDENCY_TYPES:
                raise ValueError(f"dependency {value!r} is not a Slurm dependency like afterok:1234 (types: {', '.join(_DEPENDENCY_TYPES)})")
        return value

    @field_validator("comment")
    @classmethod
    def _comment(cls, value: Optional[str]) -> Optional[str]:
        return None if value is None else _check(_COMMENT, value, "comment", "a comment of at most 250 letters, digits, spaces and _.:=,+/@#()!?'- (no double quotes or backslashes)")

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            _check(_ENV_KEY, key, "environment name", "a variable name (letters, digits, _; not starting with a digit)")
            if "\0" in item:
                raise ValueError(f"environment value of {key} contains a NUL byte")
        return value

    @field_validator("working_dir")
    @classmethod
    def _working_dir(cls, value: Optional[str]) -> Optional[str]:
        return None if value is None else check_path(value, "working_dir")

    @field_validator("command", mode="before")
    @classmethod
    def _command(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = shlex.split(value)
        if value is not None:
            if not value:
                raise ValueError("command is empty")
            for arg in value:
                if not isinstance(arg, str) or "\0" in arg:
                    raise ValueError(f"command argument {arg!r} is not a string without NUL bytes")
        return value

    @field_validator("script")
    @classmethod
    def _script(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and ("\0" in value or not value.strip()):
            raise ValueError("script is empty or contains a NUL byte")
        return value

    @model_validator(mode="after")
    def _one_program(self) -> "SlurmJob":
        if (self.command is None) == (self.script is None):
            raise ValueError("give exactly one of command or script")
        return self

    def array_indices(self) -> list[int]:
        """The array element indices of the ``array`` spec (empty for a plain job)."""
        return array_indices(self.array) if self.array else []


def array_indices(spec: str) -> list[int]:
    """Indices of a Slurm array spec: ``0-4:2,7%2`` → ``[0, 2, 4, 7]``."""
    indices: list[int] = []
    for part in spec.split("%")[0].split(","):
        bounds, _, step = part.partition(":")
        first, _, last = bounds.partition("-")
        indices.extend(range(int(first), int(last or first) + 1, int(step or 1)))
    return indices


def sbatch_options(job: SlurmJob, output_prefix: str) -> list[str]:
    """The job's sbatch options (``--name=value``), in the order they appear in the header."""
    key = "%A_%a" if job.array else "%j"
    options = [f"--job-name={job.name}", f"--output={output_prefix}.{key}.out", f"--error={output_prefix}.{key}.err"]
    for flag, value in (
        ("partition", job.partition),
        ("account", job.account),
        ("qos", job.qos),
        ("nodes", job.nodes),
        ("ntasks", job.ntasks),
        ("cpus-per-task", job.cpus_per_task),
        ("mem", job.memory),
        ("time", job.time_limit),
        ("gpus", job.gpus),
        ("array", job.array),
        ("dependency", job.dependency),
        ("comment", f'"{job.comment}"' if job.comment and not re.fullmatch(r"[A-Za-z0-9_.:=,+/-]*", job.comment) else job.comment),
        ("chdir", job.working_dir),
    ):
        if value is not None:
            options.append(f"--{flag}={value}")
    if job.requeue is not None:
        options.append("--requeue" if job.requeue else "--no-requeue")
    return options


def render_script(job: SlurmJob, output_prefix: str, setup: list[str] | tuple[str, ...] = ()) -> str:
    """The batch script of ``job``.

    stdout/stderr go to ``{output_prefix}.{job key}.out/.err`` and the command's exit code to
    ``{output_prefix}.{job key}.exit`` (written atomically), where the job key is the job id,
    or ``arrayid_index`` for array elements: the record that survives after Slurm forgets the job.
    ``setup`` lines (e.g. ``module load``) come from the cluster's administrator and run as written.
    """
    check_path(output_prefix, "output prefix")
    for line in setup:
        if "\n" in line or "\r" in line or line.lstrip().startswith("#SBATCH"):
            raise ValueError(f"setup line {line!r} must be a single shell line and not an #SBATCH directive")
    lines = ["#!/bin/bash"]
    lines += [f"#SBATCH {option}" for option in sbatch_options(job, output_prefix)]
    lines += [
        "# --- generated by lume-prefect ---",
        'LUME_JOB_KEY=${SLURM_ARRAY_JOB_ID:+${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}}',
        "LUME_JOB_KEY=${LUME_JOB_KEY:-$SLURM_JOB_ID}",
        f"LUME_OUTPUT_PREFIX={shlex.quote(output_prefix)}",
        "export LUME_JOB_KEY LUME_OUTPUT_PREFIX",
    ]
    lines += [f"export {key}={quote(value)}" for key, value in job.environment.items()]
    lines += list(setup)
    if job.command is not None:
        lines.append(" ".join(quote(arg) for arg in job.command))
    else:
        lines.append(f"/bin/bash -c {quote(job.script or '')}")
    lines += [
        "LUME_STATUS=$?",
        'echo "$LUME_STATUS" > "$LUME_OUTPUT_PREFIX.$LUME_JOB_KEY.exit.tmp" && '
        'mv -f "$LUME_OUTPUT_PREFIX.$LUME_JOB_KEY.exit.tmp" "$LUME_OUTPUT_PREFIX.$LUME_JOB_KEY.exit"',
        "exit $LUME_STATUS",
    ]
    return "\n".join(lines) + "\n"
