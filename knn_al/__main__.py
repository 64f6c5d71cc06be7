"""``python -m knn_al``: the same as the ``knn-al`` command."""
import sys

from knn_al.cli import main

sys.exit(main())
