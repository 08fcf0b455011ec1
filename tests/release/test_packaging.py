"""The packaging pieces that need no build: the example DAG's installer, the emulator's missing-extra
message, the floors of the lowest-versions job, and metadata kept in two places."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest brings tomli on Python 3.10
    import tomli as tomllib

from airflow_provider_personalize_deletion import DOCUMENTATION_URL, get_provider_info
from airflow_provider_personalize_deletion.example_dags import EXAMPLE_DAGS, example_dag_path, main

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def test_the_example_dag_command_copies_the_repository_file_and_says_where(tmp_path, capsys):
    assert main([str(tmp_path)]) == 0
    written = tmp_path / "personalize_gdpr_erasure.py"
    assert written.read_bytes() == (REPO / "dags" / "personalize_gdpr_erasure.py").read_bytes()
    assert str(written) in capsys.readouterr().out


def test_the_example_dag_command_refuses_to_overwrite_without_force(tmp_path, capsys):
    existing = tmp_path / "personalize_gdpr_erasure.py"
    existing.write_text("# my own changes\n")
    assert main([str(tmp_path)]) == 1
    assert "--force" in capsys.readouterr().err
    assert existing.read_text() == "# my own changes\n"
    assert main([str(tmp_path), "--force"]) == 0
    assert existing.read_bytes() == example_dag_path().read_bytes()


def test_the_example_dag_command_refuses_a_missing_folder(tmp_path, capsys):
    assert main([str(tmp_path / "no-such-folder")]) == 1
    assert "DAGS_FOLDER must be an existing folder" in capsys.readouterr().err
    assert not (tmp_path / "no-such-folder").exists()


def test_the_example_dag_command_installs_the_dag_named_and_only_that(tmp_path, capsys):
    assert main([str(tmp_path), "--dag", "verification"]) == 0
    written = tmp_path / "personalize_erasure_verification.py"
    assert [path.name for path in tmp_path.iterdir()] == [written.name]
    assert written.read_bytes() == (REPO / "dags" / written.name).read_bytes()
    assert str(written) in capsys.readouterr().out


def test_the_example_dag_command_installs_every_shipped_dag_with_all(tmp_path, capsys):
    assert main([str(tmp_path), "--dag", "all"]) == 0
    shipped = sorted(path.name for path in (REPO / "dags").glob("*.py"))
    assert sorted(EXAMPLE_DAGS.values()) == shipped
    assert sorted(path.name for path in tmp_path.iterdir()) == shipped
    for name in shipped:
        assert (tmp_path / name).read_bytes() == (REPO / "dags" / name).read_bytes()
    assert capsys.readouterr().out.count("Example DAG written to") == 4


def test_the_example_dag_command_writes_nothing_when_one_of_the_dags_exists(tmp_path, capsys):
    existing = tmp_path / "personalize_guarded_import.py"
    existing.write_text("# my own import\n")
    assert main([str(tmp_path), "--dag", "verification", "--dag", "guarded-import"]) == 1
    assert "nothing written" in capsys.readouterr().err
    assert [path.name for path in tmp_path.iterdir()] == [existing.name]
    assert existing.read_text() == "# my own import\n"
    assert main([str(tmp_path), "--dag", "verification", "--dag", "guarded-import", "--force"]) == 0
    assert existing.read_bytes() == example_dag_path("guarded-import").read_bytes()


def test_the_example_dag_command_refuses_an_unknown_dag_naming_the_choices(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([str(tmp_path), "--dag", "imports"])
    assert exit_.value.code == 2
    assert "'erasure', 'verification', 'guarded-import', 'forget-backlog', 'all'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("module", ["moto", "flask_cors"])
def test_without_the_emulator_extra_the_script_names_it_without_a_traceback(module):
    # An entry of None in sys.modules makes the import fail as a missing module does.
    code = (
        f"import sys; sys.modules[{module!r}] = None\n"
        "from airflow_provider_personalize_deletion.emulator_command import main\n"
        "sys.exit(main([]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "pip install 'airflow-provider-personalize-deletion[emulator]'" in result.stderr
    assert "Traceback" not in result.stderr
    assert "moto[server]" not in result.stderr


def test_the_lowest_versions_job_holds_each_dependency_to_its_floor():
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from lowest_versions import floor_constraints
    finally:
        sys.path.remove(str(REPO / "scripts"))
    constraints = floor_constraints(REPO / "pyproject.toml")
    assert len(constraints) == len(PYPROJECT["project"]["dependencies"])
    assert "apache-airflow-providers-amazon==9.37.*" in constraints
    assert "botocore==1.43.3.*" in constraints


def test_the_dev_group_installs_the_emulator_extra_as_declared():
    extra = {str(Requirement(line)) for line in PYPROJECT["project"]["optional-dependencies"]["emulator"]}
    dev = {str(Requirement(line)) for line in PYPROJECT["dependency-groups"]["dev"]}
    assert extra <= dev


def test_the_provider_info_names_the_documentation_url_of_the_distribution():
    assert get_provider_info()["documentation-url"] == DOCUMENTATION_URL
    assert PYPROJECT["project"]["urls"]["Documentation"] == DOCUMENTATION_URL


def test_the_package_sits_at_the_top_of_the_repository_and_the_build_takes_it_from_there():
    import airflow_provider_personalize_deletion as package

    assert Path(package.__file__).resolve().parent == REPO / "airflow_provider_personalize_deletion"
    assert not (REPO / "src").exists()
    assert PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == [
        "airflow_provider_personalize_deletion"
    ]


def test_the_readme_installs_the_wheel_of_this_version():
    from airflow_provider_personalize_deletion import __version__

    readme = (REPO / "README.md").read_text()
    assert PYPROJECT["project"]["version"] == __version__
    # The tag is cp3XX-cp3XX-<platform> when the scan's native module was built, py3-none-any without it.
    assert f"$(ls dist/airflow_provider_personalize_deletion-{__version__}-*.whl)[" in readme


def test_the_readme_scan_example_imports_every_name_it_uses_from_where_it_is_defined():
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Scanning import sources for suppressed users", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {}
    exec("\n".join(line for line in example.splitlines() if line.startswith("from ")), namespace)
    assert {"SuppressedUsers", "S3Source", "scan_source", "write_filtered_copy"} <= namespace.keys()
