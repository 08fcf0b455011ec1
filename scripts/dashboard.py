"""
Start Airflow's API server on what ``make demo`` left behind, to look at the erasure dashboard.

The demo's ``AIRFLOW_HOME`` (``.demo/airflow``, with the demo's DAG run in its metadata database) and
its SQLite warehouse (``.demo/warehouse.db``, with the requests and the audit record): the UI's
navigation entry "Erasure" shows them, and the DAG run's tab "Erasure" shows the run's record. The API
server listens on 127.0.0.1 only; the user ``admin`` gets a fresh password, printed below. Stop it with
Ctrl+C.

    python scripts/dashboard.py [--port 8080]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from pathlib import Path

from demo_stage import DAG_ID, warehouse_environment

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / ".demo"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=8080, help="the API server's port on 127.0.0.1")
    port = parser.parse_args(argv).port
    home = WORK / "airflow"
    if not (home / "airflow.db").exists() or not (WORK / "warehouse.db").exists():
        print("Nothing to show yet: run `make demo` first (it leaves .demo/ behind).", file=sys.stderr)
        return 1
    password = secrets.token_urlsafe(12)
    passwords = home / "dashboard-passwords.json"
    passwords.write_text(json.dumps({"admin": password}) + "\n")
    passwords.chmod(0o600)
    env = {
        **os.environ,
        **warehouse_environment(WORK, REPO / "dags"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
    }
    print(
        f"Erasure dashboard of the demo: http://127.0.0.1:{port}/plugin/erasure\n"
        f"  the demo's run: http://127.0.0.1:{port}/dags/{DAG_ID} > the run > tab Erasure\n"
        f"  log in as admin, password {password}\n"
        "Starting Airflow's API server (about 20 s; Ctrl+C stops it) ...",
        flush=True,
    )
    os.execvpe("airflow", ["airflow", "api-server", "--port", str(port), "--host", "127.0.0.1"], env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
