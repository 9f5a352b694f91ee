"""Shared test set-up: the test helpers in this folder (_refits, _divine_reference) are
importable from every subfolder, which mirrors the package layout."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
