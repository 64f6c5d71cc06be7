"""``python -m knn_al.cli``: the same as the ``knn-al`` command."""
import sys

from knn_al.cli import main

sys.exit(main())
