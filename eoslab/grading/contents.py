"""JupyterLab's file access for the course: a notebook opens clean, not "unsaved" at once.

Why a notebook showed the unsaved dot as soon as it opened: the committed notebooks store a
minimal ``language_info`` (``{"name": "python"}``); when the kernel connects, JupyterLab writes the
kernel's full ``language_info`` (Python version, lexer, mimetype …) into the notebook's metadata,
and any change to the model marks it dirty. :class:`CourseContentsManager` hands JupyterLab each
notebook with the ``language_info`` this environment's Python kernel will report, so that update
changes nothing (JupyterLab skips equal metadata) and the tab stays clean. The file on disk is not
touched; a save writes what JupyterLab would have written anyway.

Set by ``scripts/setup-nbgrader-extensions.sh`` (``ServerApp.contents_manager_class``). Assumption:
kernels run the same Python as the server (true for the venv, the Docker image and Binder); with
another Python the tab is dirty on open as before, nothing worse. Not covered: notebooks in other
languages (left as they are).
"""

from __future__ import annotations

from typing import Any

from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager


def kernel_language_info() -> dict[str, Any]:
    """What an IPython kernel of this environment reports as its ``language_info``."""
    from ipykernel.ipkernel import IPythonKernel  # the real one, so it cannot drift from the kernel

    return dict(IPythonKernel.language_info)


class CourseContentsManager(AsyncLargeFileManager):
    """jupyter_server's default contents manager, with notebooks' ``language_info`` filled in on read."""

    async def get(self, path: str, content: bool = True, type: str | None = None, format: str | None = None,
                  require_hash: bool = False) -> dict[str, Any]:
        model = await super().get(path, content=content, type=type, format=format, require_hash=require_hash)
        notebook = model.get("content") if model.get("type") == "notebook" else None
        if isinstance(notebook, dict):
            metadata = notebook.setdefault("metadata", {})
            if metadata.get("language_info", {}).get("name", "python") == "python":
                metadata["language_info"] = kernel_language_info()
        return model
