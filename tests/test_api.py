"""The public surface of frasi: pinned exports, a cheap import and one exception tree."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

import frasi
from frasi import errors

SRC = Path(__file__).resolve().parents[1] / "src"


def test_exported_members():
    """The public API is pinned: a change here is a change for every user (note it in CHANGELOG.md)."""
    assert sorted(frasi.__all__) == [
        "DEFAULT_MODEL",
        "EmbeddingCache",
        "EmbeddingClassifier",
        "Encoder",
        "FrasiError",
        "InputError",
        "MissingExtraError",
        "ModelLoadError",
        "ModelNotFoundError",
        "OutputError",
        "__version__",
        "build_index",
        "compose",
        "list_models",
        "load_index",
        "load_sentiment",
        "mine_paraphrases",
        "read_texts",
        "semantic_search",
        "similarity_matrix",
        "similarity_pairwise",
        "write_embeddings",
    ]
    assert len(set(frasi.__all__)) == len(frasi.__all__)
    for name in frasi.__all__:
        assert hasattr(frasi, name), name


def test_version_matches_the_package_metadata():
    from importlib.metadata import version

    assert frasi.__version__ == version("frasi")


def test_public_names_are_exported():
    """Every public callable or class defined in frasi's namespace is listed in __all__."""
    public = {
        name for name, value in vars(frasi).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public <= set(frasi.__all__)


def test_import_is_cheap():
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    code = (
        "import frasi, sys; "
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers', 'sklearn') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True,
                            timeout=120)
    assert result.stdout.strip() == "[]"
    assert result.stderr == ""  # no log output or warnings at import


def test_import_does_not_configure_logging():
    import logging

    assert logging.getLogger("frasi").level == logging.NOTSET
    assert logging.getLogger("frasi").handlers == []


ERROR_CLASSES = [
    value for value in vars(errors).values()
    if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == errors.__name__
]


def test_error_classes_found():
    assert {cls.__name__ for cls in ERROR_CLASSES} == {
        "FrasiError", "InputError", "ModelNotFoundError", "ModelLoadError", "OutputError", "MissingExtraError",
    }


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_error_tree(cls):
    assert issubclass(cls, frasi.FrasiError)
    assert getattr(frasi, cls.__name__) is cls
    assert cls.__name__ in (errors.__doc__ or "")  # the tree drawn in the module docstring


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [(errors.InputError, ValueError), (errors.ModelNotFoundError, LookupError),
     (errors.OutputError, OSError), (errors.MissingExtraError, ImportError)],
)
def test_errors_are_also_builtin_errors(cls, builtin):
    assert issubclass(cls, builtin)


def test_missing_extra_names_the_extra():
    with pytest.raises(errors.MissingExtraError, match=r"pip install 'frasi\[faiss\]'") as info:
        errors.require("frasi_no_such_module_xyz", extra="faiss", purpose="approximate search")
    assert (info.value.package, info.value.extra) == ("frasi_no_such_module_xyz", "faiss")
    assert "approximate search" in str(info.value)
