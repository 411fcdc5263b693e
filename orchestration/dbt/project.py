"""The dbt project handle. Its manifest is built before Dagster loads the definitions
(`throughline prepare`, run by the Makefile), never parsed at import time."""

from dagster_dbt import DbtProject

from orchestration.settings import DBT_PROJECT_DIR

throughline_dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def prepare_manifest() -> None:
    """Compile the journeys into models, then `dbt parse` into the project's target folder
    with the dbt beside this Python."""
    from orchestration.journeys.compiler import compile_project
    from orchestration.resources import dbt_resource

    compile_project()
    dbt_resource().cli(["parse", "--quiet"], target_path=throughline_dbt_project.target_path).wait()
