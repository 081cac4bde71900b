"""The ``lume-prefect`` command: one sub-command group per service, each loaded on first use."""

from __future__ import annotations

from cyclopts import App

app = App(
    name="lume-prefect",
    help="Services for scientific model workflows on Prefect 3: files, models, results, Slurm.",
    version_flags=["--version"],
)
app.command("lume_prefect.cli.files:app", name="files")
app.command("lume_prefect.cli.models:app", name="models")
app.command("lume_prefect.cli.registry:app", name="registry")
app.command("lume_prefect.cli.results:app", name="results")
app.command("lume_prefect.cli.runs:deploy", name="deploy")
app.command("lume_prefect.cli.runs:run", name="run")
app.command("lume_prefect.cli.runs:pipelines", name="pipelines")


def main() -> None:
    app()
