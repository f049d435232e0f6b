"""How a task's connector is started (flow-protocol §1.1, §1.4): what to run, with which
environment, and the process that runs it.

* `endpoint.local`: the command itself, in the directory of the catalog file that defines the
  task, with this environment plus `LOG_FORMAT=json`, the endpoint's `env` and `LOG_LEVEL`.
* `endpoint.connector.image`: the image's own program in a fresh container per process, through
  the container engine this machine has (images.py), under a guard that removes the container
  however the process ends (container_guard.py).

Every process starts in a session of its own (a terminal's Ctrl-C reaches flowctl, which decides
what its connectors get) and dies with flowctl (parent_death.py).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from . import images
from .catalog import Task
from .parent_death import preexec


@dataclass
class Launch:
    """How to start the connector of a task (a capture or a materialization)."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    connector_type: str  # "LOCAL" or "IMAGE"
    description: str = ""
    guarded: bool = False  # argv starts a container guard, which is stopped by signals to it alone


def _env(level: str, extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env["LOG_FORMAT"] = "json"
    env.update(extra)
    env["LOG_LEVEL"] = level
    return env


async def launch_for(task: Task, network: str | None = None) -> Launch:
    """Launch parameters for `task`'s endpoint. For an image: picks the engine, pulls (not a
    `:local` tag), inspects and checks the image, as the runtime does before it runs one."""
    cwd = str(Path(task.file).parent)
    ep = task.endpoint
    if ep.kind == "local":
        return Launch(
            list(ep.command), _env(task.log_level, ep.env), cwd, "LOCAL", description=" ".join(ep.command)
        )
    what = f"{task.kind} {task.name!r}"
    engine = await images.choose_engine(ep.image, what)
    await images.pull(engine, ep.image)
    config = await images.inspect(engine, ep.image)
    images.check_image(ep.image, config, task.kind, task.name)
    spec = images.guard_spec(
        engine,
        ep.image,
        config,
        network,
        {"LOG_FORMAT": "json", "LOG_LEVEL": task.log_level},
        images.mount_dirs(cwd),
    )
    return Launch(
        images.guard_argv(spec),
        dict(os.environ),
        cwd,
        "IMAGE",
        description=f"{ep.image} ({engine})",
        guarded=True,
    )


async def spawn(launch: Launch, pipe_limit: int) -> asyncio.subprocess.Process:
    """Start the process: stdin, stdout and stderr piped, its own session, dying with flowctl."""
    return await asyncio.create_subprocess_exec(
        *launch.argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=launch.env,
        cwd=launch.cwd,
        limit=pipe_limit,
        start_new_session=True,
        preexec_fn=preexec(),
    )
