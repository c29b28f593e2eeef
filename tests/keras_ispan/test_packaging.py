"""Packaging metadata: the Python versions setup.cfg admits match what the code needs."""

import configparser
import pathlib

from packaging.specifiers import SpecifierSet

SETUP_CFG = pathlib.Path(__file__).resolve().parents[2] / "setup.cfg"


def test_python_requires_admits_311_and_not_310():
    # the code uses `datetime.UTC` and `tomllib`, both new in Python 3.11
    parser = configparser.ConfigParser()
    parser.read(SETUP_CFG)
    requires = SpecifierSet(parser["options"]["python_requires"])
    assert "3.11" in requires
    assert "3.12" in requires
    assert "3.10" not in requires
    assert "3.10.14" not in requires
