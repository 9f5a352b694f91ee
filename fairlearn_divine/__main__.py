"""``python -m fairlearn_divine``: the ``fairlearn-divine`` command."""

from ._cli import main

if __name__ == "__main__":
    raise SystemExit(main())
