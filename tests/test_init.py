"""The public API and the install: small surface, cheap import, core on current numpy/pandas."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import prodready


def test_every_public_name_resolves() -> None:
    for name in prodready.__all__:
        assert getattr(prodready, name) is not None, name
    assert set(prodready.__all__) == {*prodready._EXPORTS, "__version__"}
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        prodready.nope  # noqa: B018


def test_import_is_cheap() -> None:
    # nbconvert imports the exporter (and so this package) at every start of any conversion.
    code = "import sys, prodready.report.exporter; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_core_environment_runs_current_numpy_and_pandas() -> None:
    if os.environ.get("PRODREADY_EXPECT_NO_ALIBI") != "1":
        pytest.skip("only in the core environment (PRODREADY_EXPECT_NO_ALIBI=1)")
    import numpy
    import pandas

    assert int(numpy.__version__.split(".")[0]) >= 2
    assert int(pandas.__version__.split(".")[0]) >= 3
