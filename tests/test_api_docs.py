"""docs/api.md documents every public parameter, and equals what docs/make_api_reference.py writes today."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _generator():
    spec = importlib.util.spec_from_file_location("make_api_reference", ROOT / "docs" / "make_api_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_public_parameter_is_documented():
    gen = _generator()
    missing = gen.problems()
    assert not missing, f"{len(missing)} undocumented:\n" + "\n".join(missing)


def test_api_page_is_current():
    gen = _generator()
    page = gen.PAGE.read_text()
    assert gen.update(page, gen.reference()) == page, "run: python docs/make_api_reference.py"


def test_the_checker_sees_a_missing_parameter():
    gen = _generator()

    def f(a, b=1):
        """Do a thing.

        Parameters
        ----------
        a : int
            The thing.
        """

    assert gen._undocumented("f", f, f) == ["f: parameter 'b' is not in the docstring's Parameters section"]
