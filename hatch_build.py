"""
Hatch build hook: compiles the scan's optional native pre-filter (``scan/_native.c``) into the wheel.

It needs a C compiler (``CC`` when set, as for any Python extension, else the one Python was built
with), Python's headers and OpenSSL's ``libcrypto`` (headers and library). When one is missing or the
compiler fails, or ``PERSONALIZE_DELETION_PURE_PYTHON`` is set, the wheel is built without the module
and the scan runs on its Python path (``scan/native.py`` decides at import). With the module the wheel is
platform-specific (``cp3XX-cp3XX-linux_x86_64`` and so on); without it, ``py3-none-any``.

An editable install (``uv sync``, ``pip install -e .``) compiles the module next to its source, where
the editable install imports it from (the file is ignored by git and left out of the sdist).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PACKAGE_DIR = "airflow_provider_personalize_deletion/scan"
SOURCE = f"{PACKAGE_DIR}/_native.c"
SKIP_VARIABLE = "PERSONALIZE_DELETION_PURE_PYTHON"


class NativeScanBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """Builds ``_native`` when it can, and says so when it cannot."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """
        :param version: ``standard`` or ``editable``.
        :param build_data: hatch's build data: the module is force-included, the tag made specific.
        """
        if self.target_name != "wheel":
            return
        if os.environ.get(SKIP_VARIABLE):
            self.app.display_info(f"{SKIP_VARIABLE} is set: the scan's native pre-filter is not built")
            return
        name = "_native" + sysconfig.get_config_var("EXT_SUFFIX")
        if version == "editable":
            output = Path(self.root, PACKAGE_DIR, name)
        else:
            self._temporary = tempfile.mkdtemp(prefix="native-scan-")
            output = Path(self._temporary, name)
        problem = _compile(Path(self.root, SOURCE), output)
        if problem:
            self.app.display_warning(
                f"The scan's native pre-filter was not built ({problem}): the scan runs on its Python path"
            )
            return
        if version != "editable":
            build_data["force_include"][str(output)] = f"{PACKAGE_DIR}/{name}"
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        """Remove the standard build's temporary module once it is in the wheel."""
        temporary = getattr(self, "_temporary", None)
        if temporary:
            shutil.rmtree(temporary, ignore_errors=True)


def _compile(source: Path, output: Path) -> str | None:
    """Compile ``source`` into the extension module ``output``; the problem when it cannot, else None."""
    compiler = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    if not shutil.which(compiler[0]):
        return f"no C compiler {compiler[0]!r}"
    include = sysconfig.get_paths()["include"]
    command = [
        *compiler,
        "-O2",
        "-fPIC",
        "-shared",
        f"-I{include}",
        str(source),
        "-lcrypto",
        "-o",
        str(output),
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    except OSError as error:
        return f"the compiler did not run: {error}"
    if result.returncode:
        last = (result.stderr.strip().splitlines() or [f"exit status {result.returncode}"])[-1]
        return f"the compiler failed: {last}"
    return None
