"""``python -m deepaudit`` runs the command line."""
import sys

from deepaudit.cli import main

sys.exit(main())
